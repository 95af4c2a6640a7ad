"""archiver/excludes.py: exclude files read as restic reads them, variables as Go expands them."""

from __future__ import annotations

import codecs
import os
import threading
import time
from pathlib import Path

import pytest

from s3vault.archiver.excludes import ExcludeMatcher, ExcludeRules
from s3vault.errors import UsageError
from s3vault.patterns import expand_variables, read_pattern_file

ENV = {"HOME": "/home/ops", "X": "x", "_1": "one"}


@pytest.mark.parametrize(
    ("line", "expanded"),
    [
        ("$HOME/.cache", "/home/ops/.cache"),
        ("${HOME}/tmp", "/home/ops/tmp"),
        ("$UNSET/a", "/a"),  # an unset variable is empty
        ("cost$$", "cost$"),  # $$ is a $
        ("a$", "a$"),  # a $ before nothing stays
        ("a$/b", "a$/b"),  # ... and before anything that makes no name
        ("${}x", "x"),  # Go drops an empty ${}
        ("${HOME", "HOME"),  # ... and an unclosed ${
        ("$_1$X", "onex"),
    ],
)
def test_expand_variables_follows_go_os_expand(line: str, expanded: str) -> None:
    assert expand_variables(line, ENV) == expanded


def test_read_exclude_file_skips_comments_and_blank_lines_and_strips(tmp_path: Path) -> None:
    path = tmp_path / "excludes"
    path.write_bytes(b"\xef\xbb\xbf*.log\n\n  # a comment\n  $HOME/cache  \n#x\n!keep.log\n")
    assert read_pattern_file(path) == ["*.log", "$HOME/cache", "!keep.log"]
    assert read_pattern_file(path, ENV) == ["*.log", "/home/ops/cache", "!keep.log"]


def test_read_exclude_file_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read exclude file"):
        read_pattern_file(tmp_path / "nope")


def test_a_bad_pattern_in_an_exclude_file_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    """It was said as "--exclude '[abc' is not a valid pattern", an option never given, with
    no file or line to find it by in a long migrated list (an attack pass, 2026-12-07)."""
    path = tmp_path / "excludes"
    path.write_text("*.tmp\n# ok\n[abc\n")
    with pytest.raises(UsageError) as raised:
        read_pattern_file(path)
    assert str(raised.value).startswith(f"{path} line 3: '[abc' is not a valid pattern: ")


def test_exclude_rules_gather_options_and_files_in_order(tmp_path: Path) -> None:
    path = tmp_path / "excludes"
    path.write_text("b\n$X\n")
    rules = ExcludeRules.build(("a",), (path,), environ=ENV, exclude_caches=True)
    assert rules.patterns == ("a", "b", "x")
    assert rules.exclude_caches and not rules.one_file_system


def _dir_with(tmp_path: Path, files: dict[str, bytes]) -> bytes:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return bytes(tmp_path)


def test_tag_files_keep_only_themselves_and_check_their_header(tmp_path: Path) -> None:
    rules = ExcludeRules.build(if_present=(".nobackup", "MARK:hdr"), exclude_caches=True)
    matcher = rules.matcher()
    plain = tmp_path / "plain"
    plain.mkdir()
    assert matcher.tagged(bytes(plain)) == (None, [])
    tagged = tmp_path / "tagged"
    tagged.mkdir()
    assert matcher.tagged(_dir_with(tagged, {".nobackup": b""})) == (
        frozenset({b".nobackup"}),
        [],
    )
    marked = tmp_path / "marked"
    marked.mkdir()
    assert matcher.tagged(_dir_with(marked, {"MARK": b"hdr and more"}))[0] == {b"MARK"}
    bad = tmp_path / "bad"
    bad.mkdir()
    keep, problems = matcher.tagged(_dir_with(bad, {"MARK": b"hd", "CACHEDIR.TAG": b"x"}))
    assert keep is None and len(problems) == 2
    both = tmp_path / "both"  # two tag files: each excludes the other, as restic's two filters
    both.mkdir()
    assert matcher.tagged(_dir_with(both, {".nobackup": b"", "MARK": b"hdr"}))[0] == frozenset()


def test_a_fifo_tag_file_is_not_opened_for_its_header(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "MARK")
    keep, problems = ExcludeRules.build(if_present=("MARK:hdr",)).matcher().tagged(bytes(tmp_path))
    assert keep is None and "not a regular file" in problems[0]
    assert ExcludeRules.build(if_present=("MARK",)).matcher().tagged(bytes(tmp_path))[0] == {
        b"MARK"
    }


def test_a_tag_file_that_is_a_link_is_followed_for_its_header_as_in_restic(tmp_path: Path) -> None:
    """A CACHEDIR.TAG linked to a shared one excludes its directory in restic (its open
    follows the link); it was kept, with a warning (an attack pass, 2026-12-07). A link to a
    FIFO is still never waited on."""
    (tmp_path / "shared").write_bytes(b"hdr and more")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "MARK").symlink_to(tmp_path / "shared")
    rules = ExcludeRules.build(if_present=("MARK:hdr",))
    assert rules.matcher().tagged(bytes(cache)) == (frozenset({b"MARK"}), [])
    os.mkfifo(tmp_path / "fifo")
    piped = tmp_path / "piped"
    piped.mkdir()
    (piped / "MARK").symlink_to(tmp_path / "fifo")
    keep, problems = rules.matcher().tagged(bytes(piped))
    assert keep is None and "not a regular file" in problems[0]


def test_iexcludes_ignore_case_and_the_size_limit_spares_directories(tmp_path: Path) -> None:
    rules = ExcludeRules.build(("*.log",), ipatterns=("*.TMP", "!keep.tmp"), larger_than="1K")
    matcher = rules.matcher()
    small = os.stat_result((0o100644, 0, 0, 1, 0, 0, 10, 0, 0, 0))
    big = os.stat_result((0o100644, 0, 0, 1, 0, 0, 1025, 0, 0, 0))
    big_dir = os.stat_result((0o040755, 0, 0, 1, 0, 0, 1 << 20, 0, 0, 0))
    assert matcher.excluded(b"/a/x.Tmp", small)
    assert not matcher.excluded(b"/a/KEEP.TMP", small)  # re-included, case ignored too
    assert not matcher.excluded(b"/a/x.LOG", small)  # --exclude minds case
    assert matcher.excluded(b"/a/x", big)
    assert not matcher.excluded(b"/a/d", big_dir)


def _st(mode: int = 0o100644, size: int = 1) -> os.stat_result:
    return os.stat_result((mode, 0, 0, 1, 0, 0, size, 0, 0, 0))


def test_named_path_rules_hold_for_names_of_no_utf8_bytes() -> None:
    """A named directory whose name is no UTF-8 (\\xe9), matched by a pattern through that
    name: its content is kept, its .log files are not, and a sibling the pattern names is."""
    named = b"/srv/caf\xe9"
    matcher = ExcludeMatcher(ExcludeRules.build(("caf*", "*.log"), ()), named=(b"/srv", named))
    assert not matcher.skipped(named, b"caf\xe9", _st(0o40755), None)  # named
    assert not matcher.skipped(named + b"/data\xff", b"data\xff", _st(), None)
    assert matcher.skipped(named + b"/x.log", b"x.log", _st(), None)
    assert matcher.skipped(b"/srv/caf\xe8", b"caf\xe8", _st(0o40755), None)  # not named


def test_named_path_rules_walk_a_path_10000_levels_deep_without_recursion() -> None:
    """The nearest named directory above an entry is found by a loop over its components:
    a path 10,000 levels deep below one is answered, in well under a second."""
    deep = b"/d/sub" + b"/x" * 10_000
    matcher = ExcludeMatcher(ExcludeRules.build(("sub", "*.tmp"), ()), named=(b"/d/sub",))
    assert not matcher.skipped(deep, b"x", _st(0o40755), None)
    assert matcher.skipped(deep + b"/a.tmp", b"a.tmp", _st(), None)


def test_a_pattern_file_in_utf16_is_read_as_restic_reads_it(tmp_path: Path) -> None:
    """As Windows' Notepad saves it (a byte order mark, then UTF-16): it matched nothing,
    silently, where restic (Go's textfile.Read) reads its patterns (an attack pass,
    2026-12-07)."""
    little = tmp_path / "le"
    little.write_bytes("*.txt\r\n# comment\n".encode("utf-16"))  # with its BOM
    big = tmp_path / "be"
    big.write_bytes(codecs.BOM_UTF16_BE + "*.log\n".encode("utf-16-be"))
    assert read_pattern_file(little) == ["*.txt"]
    assert read_pattern_file(big) == ["*.log"]


def test_a_fifo_no_one_writes_to_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="a FIFO no process writes to"):
        read_pattern_file(fifo)
    read_end, write_end = os.pipe()  # a pipe with a writer (<(...), /dev/stdin): read to
    try:  # its end, however late the writer writes

        def write_late() -> None:
            time.sleep(0.3)
            os.write(write_end, b"*.slow\n")
            os.close(write_end)

        late = threading.Thread(target=write_late)
        late.start()
        assert read_pattern_file(Path(f"/dev/fd/{read_end}")) == ["*.slow"]
        late.join()
    finally:
        os.close(read_end)
