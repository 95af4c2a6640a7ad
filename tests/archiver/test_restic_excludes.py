"""Exclude patterns select what restic 0.14 selects: the same tree, the same patterns, and the
files restic's ``backup --dry-run -vv`` would save against those s3vault's exclude matcher
lets through (walking as the archiver does: an excluded directory is not entered).

The cases are those where .gitignore rules (what s3vault used before) and restic's differ,
and restic's own corners: a pattern with a / matches at any depth unless it starts with /,
a trailing / means nothing, `!` re-includes (but not below an excluded directory), `**`,
character classes, escapes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.archiver.excludes import ExcludeRules
from s3vault.errors import UsageError
from s3vault.patterns import Pattern, PatternList
from tests.archiver.patterns_reference import BadPatternError, reference_matches
from tests.conftest import write_file
from tests.maintenance.resticrepo import ResticRepo, restic_version

VERSION = restic_version()
needs_restic = pytest.mark.skipif(
    not VERSION.startswith("0.14."),
    reason=f"needs restic 0.14 as the reference (found: {VERSION or 'no restic'}); "
    "CI installs it in .ci/run",
)

FILES = [
    "a/cache/f",
    "b/a/cache/g",
    "cache/h",
    "x/cache",
    "keep.log",
    "drop.log",
    "x/Foo.TXT",
    "!x",
    "docs/readme.md",
    "x/docs/guide.md",
    "deep/1/2/3/cache/z",
    "build",
    "tmp/build/o.o",
    "sp ace/f",
    "ab[c]",
    "q",
    ".hidden/f",
]

CASES = [
    ["a/cache"],  # gitignore: only <root>/a/cache; restic: at any depth
    ["cache/"],  # gitignore: directories only; restic: the / means nothing
    ["docs/*.md"],
    ["*.log", "!keep.log"],
    ["x", "!x/cache"],  # nothing comes back from inside an excluded directory
    ["**/cache/*"],
    ["deep/**/z"],
    ["x/**"],
    ["[^a]"],
    ["*.TXT", "*.txt"],
    ["\\!x"],
    ["ab\\[c\\]"],
    ["?"],
    ["*/cache"],
    ["build"],
    ["tmp/*/o.o"],
    ["!x"],
    ["sp ace"],
    [".*"],
    ["{src}/cache"],  # anchored
    ["{src}/*/cache"],
    ["/cache"],  # anchored at /: nothing here
]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("excludes") / "src"
    for name in FILES:
        write_file(src / name, name.encode())
    return src


@pytest.fixture(scope="module")
def restic(tmp_path_factory: pytest.TempPathFactory) -> ResticRepo:
    return ResticRepo(tmp_path_factory.mktemp("restic-excludes") / "repo")


def restic_saves(restic: ResticRepo, src: Path, patterns: list[str]) -> set[str]:
    flags = [f"--exclude={p}" for p in patterns]
    out = restic.run("backup", "--dry-run", "-vv", *flags, str(src), quiet=False).stdout
    saved = set()
    for line in out.splitlines():  # "new       /path/name, saved in 0.000s (...)"
        verdict, _, rest = line.partition(" ")
        if verdict in ("new", "unchanged", "modified"):
            path = rest.strip().rsplit(", saved in ", 1)[0].rstrip("/")
            if path.startswith(f"{src}/"):
                saved.add(path[len(str(src)) + 1 :])
    return saved


def s3vault_saves(src: Path, patterns: list[str]) -> set[str]:
    """Walk as the archiver does: an excluded entry (and all below it) is skipped."""
    matcher = ExcludeRules.build(tuple(patterns)).matcher()
    saved = set()
    for folder, dirs, files in os.walk(src):
        for name in sorted(dirs):
            path = os.path.join(folder, name)
            if matcher.excluded(os.fsencode(path), True):
                dirs.remove(name)
            else:
                saved.add(os.path.relpath(path, src))
        for name in files:
            path = os.path.join(folder, name)
            if not matcher.excluded(os.fsencode(path), False):
                saved.add(os.path.relpath(path, src))
    return saved


@needs_restic
@pytest.mark.parametrize("patterns", CASES, ids=" ".join)
def test_excludes_select_what_restic_selects(
    tree: Path, restic: ResticRepo, patterns: list[str]
) -> None:
    patterns = [p.format(src=tree) for p in patterns]
    ours = s3vault_saves(tree, patterns)
    assert ours == restic_saves(restic, tree, patterns)
    assert ours != s3vault_saves(tree, []) or patterns in (["/cache"], ["!x"])  # a real case


@pytest.mark.parametrize("bad", ["[a", "a\\", "[]a]", "[-a]", "x/[a-"])
def test_a_malformed_pattern_is_refused_as_restic_refuses_it(bad: str) -> None:
    with pytest.raises(UsageError, match="not a valid pattern"):
        ExcludeRules.build((bad,))


def test_where_gitignore_and_restic_differ() -> None:
    """The differences, without restic: what a .gitignore at / would do is in the comments."""
    any_depth = PatternList(["a/cache"])
    assert any_depth.matches("/x/a/cache")  # gitignore: no (anchored: it has a /)
    assert any_depth.matches("/x/a/cache/file")
    assert not PatternList(["/a/cache"]).matches("/x/a/cache")  # both: anchored
    assert PatternList(["cache/"]).matches("/srv/cache")  # a file: gitignore no
    assert PatternList(["docs/*.md"]).matches("/home/u/docs/a.md")  # gitignore: no
    assert not PatternList(["docs/*.md"]).matches("/home/u/docs/sub/a.md")  # * stops at /
    assert PatternList(["**/x"]).matches("/x") and PatternList(["**/x"]).matches("/a/b/x")
    assert not PatternList(["*.log", "!keep.log"]).matches("/var/keep.log")  # both
    assert PatternList(["*.log", "!keep.log", "keep.log"]).matches("/var/keep.log")
    assert PatternList(["\\#notes"]).matches("/a/#notes")


def test_exclude_files_are_read_as_restic_reads_them(tmp_path: Path) -> None:
    listing = write_file(
        tmp_path / "excludes",
        b"# a comment\n\n  $HOME/.cache  \n${DIR}/tmp\n*.$$$\n$UNSET/x\n",
    )
    rules = ExcludeRules.build((), (listing,), environ={"HOME": "/home/u", "DIR": "/srv"})
    assert rules.patterns == ("/home/u/.cache", "/srv/tmp", "*.$$", "/x")
    literal = ExcludeRules.build((), (listing,))  # the library without an environment
    assert literal.patterns[0] == "$HOME/.cache"


NAMES = ["a", "b", "ab", "a.log", "x*y", "[a]", "!x", ".hidden", "ba"]
GLOBS = [*NAMES, "*", "?", "*.log", "a*", "?b", "[ab]", "[^a]*", "[a-c]", "\\*", "\\[a]", "**"]
GLOBS += [".", "..", "", "[", "[]", "a\\"]  # cleaned away, or malformed


@st.composite
def pattern_texts(draw: st.DrawFn) -> str:
    text = "/".join(draw(st.lists(st.sampled_from(GLOBS), min_size=1, max_size=4)))
    return draw(st.sampled_from(["", "/", "!", "!/"])) + text + draw(st.sampled_from(["", "/"]))


@given(
    patterns=st.lists(pattern_texts(), min_size=1, max_size=3),
    path=st.lists(st.sampled_from(NAMES), min_size=1, max_size=5).map(lambda p: "/" + "/".join(p)),
)
def test_compiled_patterns_answer_as_restics_algorithm(patterns: list[str], path: str) -> None:
    """One regex per pattern (s3vault.patterns) against a port of restic's component matching
    (patterns_reference): the same verdict for every path, the same patterns refused."""
    try:
        expected: bool | None = reference_matches(patterns, path)
    except BadPatternError:
        expected = None
    try:
        got: bool | None = PatternList(patterns).matches(path)
    except UsageError:
        got = None
    assert got == expected, (patterns, path)


@pytest.mark.timeout(60)
def test_patterns_that_backtracked_answer_at_once() -> None:
    """Several * in one component against a long name with many places for each, and ** on a
    10,000-level path: the regexes these compiled to backtracked (seconds per name; minutes
    for the deep path). Each answer here is what restic's rules give."""
    logs = Pattern.parse("*-*-*-*-*.log")
    for n in range(12):  # the old matcher: about 8 s each (n^4 places for the four dashes)
        assert not logs.matches(f"/x/{'-' * 250}{n}")
    assert Pattern.parse("*-*-*-*-*").matches("/x/" + "-".join(["ab"] * 67))
    assert not Pattern.parse("*a*a*a*a*b").matches("/x/" + "a" * 180)
    walked, path = Pattern.parse("**/d/**/*.map"), ""
    for _ in range(10_000):  # as a backup's walk asks it: each directory on the way down
        path += "/d"
        assert not walked.matches(path)
    deep = "/" + "/".join(["d"] * 10_000)
    assert not Pattern.parse("**/d/**/*.map").matches(deep + "/deepest")
    assert Pattern.parse("**/d/**/deepest").matches(deep + "/deepest")
    assert Pattern.parse("/d/**/deepest").matches(deep + "/deepest/below")


@needs_restic
def test_iexclude_lowercases_as_restic_does(tmp_path: Path, restic: ResticRepo) -> None:
    """Go's strings.ToLower takes each character's own lowercase: "İ" is "i" and a final "Σ"
    is "σ" there, where Python's str.lower gave "i" with a combining dot and "ς" (a restic
    user's attack pass, 2026-12-07: --iexclude istanbul kept İstanbul, which restic drops)."""
    src = tmp_path / "src"
    for name in ("İstanbul/f", "ΟΔΟΣ/f", "Straße/f", "KEEP/f"):
        write_file(src / name, b"x")
    for patterns in (["istanbul"], ["οδοσ"], ["ΟΔΟΣ"], ["straße"], ["i̇stanbul"]):
        matcher = ExcludeRules.build(ipatterns=tuple(patterns)).matcher()
        ours = {
            name for name in os.listdir(src) if not matcher.excluded(os.fsencode(src / name), True)
        }
        flags = [f"--iexclude={p}" for p in patterns]
        out = restic.run("backup", "--dry-run", "-vv", *flags, str(src), quiet=False).stdout
        theirs = {
            name
            for name in os.listdir(src)
            if any(
                line.split(" ", 1)[-1].strip().startswith(f"{src}/{name}/")
                for line in out.splitlines()
            )
        }
        assert ours == theirs, (patterns, out)
        assert len(ours) < 4 or patterns == ["i̇stanbul"], patterns  # a real case
