"""backup's restic flags through the real entry point, each with the threaded engine (--jobs 1)
and the worker processes (--jobs 2): --files-from, --files-from-verbatim, --files-from-raw,
--iexclude, --iexclude-file, --exclude-if-present, --exclude-caches, --exclude-larger-than,
--ignore-ctime, --ignore-inode, --with-atime; their bad input (exit 2, one line, nothing
written); the same options in a config profile."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import CliRun, RunCli, write_file

JOBS = pytest.mark.parametrize("jobs", ["1", "2"])
SIGNATURE = b"Signature: 8a477f597d28d172789f06886806bc55"


def backup(run_cli: RunCli, repo: str, jobs: str, *args: str, input: bytes | None = None) -> CliRun:
    return run_cli("-r", repo, "backup", "--jobs", jobs, *args, input=input)


def backup_json(run_cli: RunCli, repo: str, jobs: str, *args: str) -> CliRun:
    return run_cli("-r", repo, "--json", "backup", "--jobs", jobs, *args)


def summary(done: CliRun) -> dict[str, object]:
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    found: dict[str, object] = next(o for o in lines if o.get("message_type") == "summary")
    return found


def files_in(run_cli: RunCli, repo: str, snapshot: str = "latest") -> set[str]:
    """The paths of the snapshot's entries that are not directories."""
    done = run_cli("-r", repo, "ls", snapshot, "--json")
    assert done.code == 0, done.stderr
    nodes = [json.loads(line) for line in done.stdout.splitlines()]
    return {n["path"] for n in nodes if n.get("message_type") == "node" and n["type"] != "dir"}


def snapshot_count(run_cli: RunCli, repo: str) -> int:
    done = run_cli("-r", repo, "snapshots", "--json")
    assert done.code == 0, done.stderr
    return len(json.loads(done.stdout))


def latest_tree(run_cli: RunCli, repo: str) -> str:
    done = run_cli("-r", repo, "snapshots", "--json")
    return str(json.loads(done.stdout)[-1]["tree"])


@JOBS
def test_files_from_skips_comments_and_expands_globs_as_restic(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, jobs: str
) -> None:
    src = tmp_path / "src"
    for name in ("a/x.txt", "a/.hidden.txt", "a/y.log", "b/z", "c/d/e", "c/f/e", "sp ace", "solo"):
        write_file(src / name, name.encode())
    listing = tmp_path / "list"
    listing.write_text(
        f"# a comment\n\n   \n  {src}/a/*.txt  \n{src}/b\n{src}/c/[^f]/e\r\n{src}/sp ace\n"
    )
    done = backup(run_cli, cli_repo, jobs, "--files-from", str(listing), str(src / "solo"))
    assert done.code == 0, done.stderr
    # * matches a leading dot (Go's filepath.Glob), [^f] is negated, lines are stripped
    expected = {"a/x.txt", "a/.hidden.txt", "b/z", "c/d/e", "sp ace", "solo"}
    assert files_in(run_cli, cli_repo) == {f"{src}/{name}" for name in expected}


@JOBS
def test_files_from_missing_paths_and_empty_patterns_warn_and_exit_3(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, jobs: str
) -> None:
    src = tmp_path / "src"
    write_file(src / "here", b"x")
    listing = write_file(tmp_path / "list", f"{src}/here\n{src}/gone\n{src}/*.nothing\n".encode())
    done = backup(run_cli, cli_repo, jobs, "--files-from", str(listing))
    assert done.code == 3, done.stderr
    assert f"{src}/gone: does not exist, skipping" in done.stderr
    assert f"{src}/*.nothing: pattern matches no files, skipping" in done.stderr
    assert files_in(run_cli, cli_repo) == {f"{src}/here"}


@JOBS
def test_files_from_verbatim_takes_lines_as_they_are(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, jobs: str
) -> None:
    src = tmp_path / "src"
    names = (" lead", "#hash", "star*", "trail ")
    for name in (*names, "stargazer", "other"):
        write_file(src / name, name.encode())
    listing = tmp_path / "list"
    listing.write_bytes(b"".join(os.fsencode(f"{src}/{n}") + b"\r\n\n" for n in names))
    done = backup(run_cli, cli_repo, jobs, "--files-from-verbatim", str(listing))
    assert done.code == 0, done.stderr
    assert files_in(run_cli, cli_repo) == {f"{src}/{n}" for n in names}


@JOBS
def test_files_from_raw_keeps_odd_bytes_through_backup_and_restore(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, jobs: str
) -> None:
    src = os.fsencode(tmp_path / "src")
    odd = [b"odd\xff\x01name", b"new\nline", b" #not a comment", b"dir\xfe/inner\x7f"]
    for i, name in enumerate(odd):
        path = os.path.join(src, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(b"content %d" % i)
    write_file(tmp_path / "src" / "not listed", b"no")
    listed = b"".join(os.path.join(src, name) + b"\0" for name in odd[:3])
    raw_file = tmp_path / "raw"
    raw_file.write_bytes(os.path.join(src, odd[3]) + b"\0")
    done = backup(
        run_cli, cli_repo, jobs, "--files-from-raw", "-", "--files-from-raw", str(raw_file),
        input=listed,
    )  # fmt: skip
    assert done.code == 0, done.stderr
    target = tmp_path / "restored"
    assert run_cli("-r", cli_repo, "restore", "latest", "--target", str(target)).code == 0
    back = os.fsencode(target) + src
    for i, name in enumerate(odd):
        with open(os.path.join(back, name), "rb") as f:
            assert f.read() == b"content %d" % i
    assert sorted(os.listdir(back)) == sorted({n.split(b"/")[0] for n in odd})


def test_files_from_lists_bad_input_is_refused_with_one_line(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = tmp_path / "src"
    write_file(src / "f", b"x")
    comments = write_file(tmp_path / "comments", b"# nothing\n\n")
    unended = write_file(tmp_path / "unended", os.fsencode(src / "f"))
    doubled = write_file(tmp_path / "doubled", os.fsencode(src / "f") + b"\0\0")
    bad_glob = write_file(tmp_path / "bad", f"{src}/[a\n".encode())
    cases = [
        (("--files-from", str(tmp_path / "missing")), "cannot read it"),
        (("--files-from", str(comments)), "nothing to back up"),
        (("--files-from-verbatim", str(comments), "--files-from-raw", "/dev/null"), "nothing"),
        (("--files-from-raw", str(unended)), "not followed by a NUL byte"),
        (("--files-from-raw", str(doubled)), "an empty name"),
        (("--files-from", str(bad_glob)), "not a valid pattern"),
        (("--stdin", "--files-from", str(comments)), "--stdin takes no paths"),
        (("--exclude-larger-than", "1.5G", str(src)), "is not a size"),
        (("--exclude-larger-than", "10X", str(src)), "is not a size"),
        (("--exclude-larger-than", "-1", str(src)), "is not a size"),
        (("--exclude-if-present", ":header", str(src)), "give a file name"),
        (("--iexclude", "[a", str(src)), "not a valid pattern"),
        (("--iexclude-file", str(tmp_path / "missing"), str(src)), "cannot read exclude file"),
    ]
    for args, message in cases:
        done = run_cli("-r", cli_repo, "backup", *args, input=b"")
        assert done.code == 2, (args, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, (args, done.stderr)
    assert snapshot_count(run_cli, cli_repo) == 0


@JOBS
def test_iexclude_and_iexclude_file_ignore_case(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, jobs: str
) -> None:
    src = tmp_path / "src"
    for name in ("A.LOG", "b.log", "c.Log", "keep.txt", "SCRATCH/inner", "sub/Scratch/x", "sub/y"):
        write_file(src / name, b"x")
    patterns = write_file(tmp_path / "ipatterns", b"# case does not matter\nscratch\n")
    done = backup(run_cli, cli_repo, jobs, "--exclude", "*.log", str(src))
    assert done.code == 0, done.stderr
    assert f"{src}/A.LOG" in files_in(run_cli, cli_repo)  # --exclude minds case
    done = backup(
        run_cli, cli_repo, jobs, "--iexclude", "*.LOG", "--iexclude-file", str(patterns), str(src)
    )
    assert done.code == 0, done.stderr
    assert files_in(run_cli, cli_repo) == {f"{src}/keep.txt", f"{src}/sub/y"}


@JOBS
def test_exclude_if_present_keeps_the_directory_and_its_tag_file(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, jobs: str
) -> None:
    src = tmp_path / "src"
    write_file(src / "tagged" / ".nobackup", b"")
    write_file(src / "tagged" / "sub" / "f", b"x")
    write_file(src / "cache" / "CACHEDIR.TAG", SIGNATURE + b"\n# a cache\n")
    write_file(src / "cache" / "blob", b"x")
    write_file(src / "fake" / "CACHEDIR.TAG", b"Signature: wrong")
    write_file(src / "fake" / "kept", b"x")
    write_file(src / "marked" / "MARK", b"keep-out, please")
    write_file(src / "marked" / "f", b"x")
    write_file(src / "unmarked" / "MARK", b"other")
    write_file(src / "unmarked" / "f", b"x")
    write_file(src / "plain", b"x")
    flags = ("--exclude-if-present", ".nobackup", "--exclude-if-present", "MARK:keep-out")
    done = backup(run_cli, cli_repo, jobs, *flags, "--exclude-caches", str(src))
    assert done.code == 0, done.stderr  # a tag file that does not qualify is only a warning
    assert f"{src}/fake: tag file CACHEDIR.TAG does not start with the expected header" in (
        done.stderr
    )
    assert f"{src}/unmarked: tag file MARK does not start" in done.stderr
    expected = {
        "tagged/.nobackup",
        "cache/CACHEDIR.TAG",
        "fake/CACHEDIR.TAG",
        "fake/kept",
        "marked/MARK",
        "unmarked/MARK",
        "unmarked/f",
        "plain",
    }
    assert files_in(run_cli, cli_repo) == {f"{src}/{n}" for n in expected}
    # --exclude-caches is this tag file, as in restic
    root = ("--root", str(tmp_path), "/src")
    assert backup(run_cli, cli_repo, jobs, "--exclude-caches", *root).code == 0
    caches = latest_tree(run_cli, cli_repo)
    spelled = f"CACHEDIR.TAG:{SIGNATURE.decode()}"
    assert backup(run_cli, cli_repo, jobs, "--exclude-if-present", spelled, *root).code == 0
    assert latest_tree(run_cli, cli_repo) == caches


@JOBS
def test_exclude_larger_than_skips_files_above_the_size(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, jobs: str
) -> None:
    src = tmp_path / "src"
    for name, size in (("small", 1000), ("exact", 1024), ("over", 1025), ("d/big", 2 << 20)):
        write_file(src / name, b"x" * size)
    done = backup(run_cli, cli_repo, jobs, "--exclude-larger-than", "1k", str(src))
    assert done.code == 0, done.stderr
    assert files_in(run_cli, cli_repo) == {f"{src}/small", f"{src}/exact"}
    done = backup(run_cli, cli_repo, jobs, "--exclude-larger-than", "1M", str(src))
    assert files_in(run_cli, cli_repo) == {f"{src}/small", f"{src}/exact", f"{src}/over"}


def _replace_inode(path: Path) -> None:
    """The same bytes and mtime in a new inode (as a copy-and-rename tool leaves them)."""
    copy = path.with_name(path.name + ".new")
    shutil.copy2(path, copy)
    copy.replace(path)


@JOBS
def test_ignore_ctime_and_ignore_inode_change_what_counts_as_changed(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, jobs: str
) -> None:
    src = tmp_path / "src"
    f = write_file(src / "f", os.urandom(5000))
    write_file(src / "g", b"unchanged")
    assert backup(run_cli, cli_repo, jobs, str(src)).code == 0

    def changed(*flags: str) -> int:
        done = backup_json(run_cli, cli_repo, jobs, *flags, str(src))
        assert done.code == 0, done.stderr
        result = summary(done)
        assert result["files_new"] == 0
        assert int(result["files_changed"]) + int(result["files_unmodified"]) == 2  # type: ignore[call-overload]
        return int(result["files_changed"])  # type: ignore[call-overload]

    f.chmod(0o600)  # the ctime moves, nothing else
    assert changed() == 1
    f.chmod(0o640)
    assert changed("--ignore-ctime") == 0
    _replace_inode(f)  # a new inode (and ctime)
    assert changed("--ignore-ctime") == 1
    _replace_inode(f)
    assert changed("--ignore-inode") == 0  # which leaves the ctime out too, as restic


@JOBS
def test_with_atime_records_access_times_otherwise_mtime_is_restored(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, jobs: str
) -> None:
    src = tmp_path / "src"
    f = write_file(src / "f", b"data")
    atime, mtime = 1_000_000_000 * 10**9, 1_500_000_000 * 10**9
    os.utime(f, ns=(atime, mtime))
    assert backup(run_cli, cli_repo, jobs, str(src)).code == 0
    assert backup(run_cli, cli_repo, jobs, "--with-atime", "--force", str(src)).code == 0
    for snapshot, expected in (("latest~1", mtime), ("latest", atime)):
        target = tmp_path / f"restored-{expected}"
        done = run_cli("-r", cli_repo, "restore", snapshot, "--target", str(target))
        assert done.code == 0, done.stderr
        st = os.stat(f"{target}{src}/f")
        assert (st.st_atime_ns, st.st_mtime_ns) == (expected, mtime)


def test_every_new_flag_gives_the_same_tree_with_one_job_or_two(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = tmp_path / "src"
    for d in range(4):
        for f in range(5):
            write_file(src / f"d{d}" / f"F{f}.Log", b"log %d" % f)
            write_file(src / f"d{d}" / f"f{f}.dat", os.urandom(100 + 3000 * f))
    write_file(src / "d1" / "huge.dat", b"h" * (300 << 10))
    for i in range(600):  # more than a worker's slice (dirworker.SLICE), tagged
        write_file(src / "tagged" / f"e{i:04d}", b"%d" % i)
    write_file(src / "tagged" / ".skip-me", b"")
    for i in range(600):  # more than a slice, not tagged
        write_file(src / "wide" / f"e{i:04d}", b"%d" % i)
    write_file(src / "cache" / "CACHEDIR.TAG", SIGNATURE)
    write_file(src / "cache" / "x", b"x")
    write_file(src / "outside" / "listed", b"listed")
    write_file(src / "outside" / "not-listed", b"no")
    listing = write_file(tmp_path / "list", b"/src/d*\n/src/tagged\n# /src/outside\n")
    verbatim = write_file(tmp_path / "verbatim", b"/src/wide\n/src/cache\n")
    raw = write_file(tmp_path / "raw", b"/src/outside/listed\0")
    flags = (
        *("--root", str(tmp_path), "--files-from", str(listing)),
        *("--files-from-verbatim", str(verbatim), "--files-from-raw", str(raw)),
        *("--iexclude", "*.log", "--exclude-if-present", ".skip-me", "--exclude-caches"),
        *("--exclude-larger-than", "200K", "--ignore-inode"),
    )
    trees, counts = [], []
    for jobs in ("1", "2", "2", "1"):
        done = backup_json(run_cli, cli_repo, jobs, "--force", *flags)
        assert done.code == 0, done.stderr
        trees.append(latest_tree(run_cli, cli_repo))
        result = summary(done)
        counts.append([result[k] for k in ("files_new", "files_changed", "files_unmodified")])
    assert len(set(trees)) == 1
    assert len({str(c) for c in counts[1:]}) == 1
    files = files_in(run_cli, cli_repo)
    assert "/src/d1/huge.dat" not in files and "/src/d0/f0.dat" in files
    assert not any(p.endswith(".Log") for p in files)
    assert {p for p in files if p.startswith("/src/tagged/")} == {"/src/tagged/.skip-me"}
    assert len([p for p in files if p.startswith("/src/wide/")]) == 600
    assert {p for p in files if p.startswith(("/src/cache/", "/src/outside/"))} == {
        "/src/cache/CACHEDIR.TAG",
        "/src/outside/listed",
    }


def test_a_profile_carries_the_new_backup_options(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = tmp_path / "src"
    for name in (
        "data/keep",
        "data/NOISE.TMP",
        "data/big",
        "tagged/.nobackup",
        "tagged/x",
        "unlisted",
    ):
        write_file(src / name, b"x" * (5000 if name == "data/big" else 10))
    listing = write_file(tmp_path / "list", f"{src}/d*\n".encode())
    verbatim = write_file(tmp_path / "verbatim", f"{src}/tagged\n".encode())
    config = write_file(
        tmp_path / "config.toml",
        f"""
[profiles.p]
repository = "{cli_repo}"
files_from = ["{listing}"]
files_from_verbatim = ["{verbatim}"]
iexcludes = ["*.tmp"]
exclude_if_present = [".nobackup"]
exclude_larger_than = "4K"
ignore_ctime = true
ignore_inode = true
with_atime = true

[profiles.bad]
inherit = "p"
exclude_larger_than = "4 kilobytes"
""".encode(),
    )
    done = run_cli("--config", str(config), "-P", "p", "backup")
    assert done.code == 0, done.stderr
    assert files_in(run_cli, cli_repo) == {f"{src}/data/keep", f"{src}/tagged/.nobackup"}
    bad = run_cli("--config", str(config), "-P", "bad", "backup")
    assert bad.code == 2 and "is not a size" in bad.stderr, bad.stderr
    # paths given on the command line replace the profile's lists
    done = run_cli("--config", str(config), "-P", "p", "backup", str(src / "unlisted"))
    assert done.code == 0, done.stderr
    assert files_in(run_cli, cli_repo) == {f"{src}/unlisted"}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_no_exclude_drops_a_path_named_below_another_named_one(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, jobs: str
) -> None:
    """docs/usage.md: no exclude drops a path you name. `backup d d/sub --exclude sub` saved
    d without d/sub, exit 0 and not a word (an attack pass); the same with the other
    excludes, a named file below a named directory, and a named path below an excluded
    directory (`d d/x/sub --exclude x`: x is kept as the way to it, its other entries not).
    A named directory the patterns match itself keeps its content (the patterns matched all
    of it through the directory's own name: saved empty, a review)."""
    d = tmp_path / "d"
    write_file(d / "a", b"a")
    write_file(d / "sub" / "b", b"b")
    write_file(d / "x" / "sub" / "f", b"f")
    write_file(d / "x" / "other", b"o")
    write_file(d / "sub" / "a.log", b"l")
    write_file(d / "sub" / "big", b"0123456789")
    write_file(d / "sub" / "sub" / "s", b"s")  # matched by its own name: still excluded
    write_file(d / ".cfg" / ".secret", b"x")
    write_file(d / ".cfg" / "plain", b"p")
    top = tmp_path.parts[1]  # the first directory of the test's paths (/tmp)
    write_file(d / "sub" / top / "t", b"t")
    cases = (
        (["--exclude", "sub"], [d, d / "sub"], ["/d/sub/b"], []),
        (["--iexclude", "SUB"], [d / "sub", d], ["/d/sub/b"], []),
        (["--exclude-larger-than", "0k", "--exclude", "b"], [d, d / "sub" / "b"], ["/d/sub/b"], []),
        (["--exclude", "x"], [d, d / "x" / "sub"], ["/d/x/sub/f"], ["/d/x/other"]),
        (["--exclude", "sub"], [d / "sub"], ["/d/sub/b"], []),
        # the other patterns and the size limit still apply below it (a review: they did not)
        (
            ["--exclude", "sub", "--exclude", "*.log", "--exclude-larger-than", "5"],
            [d, d / "sub"],
            ["/d/sub/b"],
            ["/d/sub/a.log", "/d/sub/big", "/d/sub/sub"],
        ),
        # a pattern matching the named directory still matches what is below by its own name
        (["--exclude", ".*"], [d / ".cfg"], ["/d/.cfg/plain"], ["/d/.cfg/.secret"]),
        (["--exclude", "*", "--exclude", "!*.log"], [d / "sub"], ["/d/sub/a.log"], ["/d/sub/b"]),
        # an anchored one names a place from the root, nothing below it: /tmp is not
        # d/sub/tmp (a review)
        (["--exclude", "/" + top], [d / "sub"], ["/d/sub/b", f"/d/sub/{top}/t"], []),
    )
    for flags, named, present, absent in cases:
        done = run_cli("-r", cli_repo, "backup", "-j", jobs, *flags, *map(str, named))
        assert done.code == 0, done.stderr
        listed = run_cli("-r", cli_repo, "ls", "latest").stdout.splitlines()
        for path in present:
            assert str(tmp_path) + path in listed, (flags, listed)
        for path in absent:
            assert str(tmp_path) + path not in listed, (flags, listed)
    write_file(d / "sub" / ".nobackup", b"")
    tagged = run_cli(
        "-r", cli_repo, "backup", "--exclude-if-present", ".nobackup", str(d), str(d / "sub")
    )
    assert tagged.code == 0, tagged.stderr
    assert str(d / "sub") in run_cli("-r", cli_repo, "ls", "latest").stdout.splitlines()


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_link_out_of_the_root_is_not_followed(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, jobs: str
) -> None:
    """`backup --root IMAGE /home/...` with the image's `home -> /home` saved the running
    host's files under the image's paths, exit 0 and not a word (an attack pass): a link that
    leads out of the root is a failure line (exit 3); one that stays inside is followed."""
    image = tmp_path / "image"
    outside = write_file(tmp_path / "live" / "secret", b"LIVE").parent
    write_file(image / "usr" / "lib" / "x", b"image")
    (image / "abs").symlink_to(outside)  # absolute, out of the image
    (image / "up").symlink_to("../live")  # relative, out of the image
    (image / "lib").symlink_to("usr/lib")  # inside the image: followed, as restic does
    done = run_cli(
        "-r",
        cli_repo,
        "backup",
        "-j",
        jobs,
        "--root",
        str(image),
        "/abs/secret",
        "/up/secret",
        "/lib/x",
    )
    assert done.code == 3, done.stderr
    for link in ("abs", "up"):
        assert f"{image / link}: cannot read metadata: a symbolic link that leads out" in (
            done.stderr
        )
    listed = run_cli("-r", cli_repo, "ls", "latest").stdout.split()
    assert listed == ["/lib", "/lib/x"], listed
    (image / "self").symlink_to(".")  # the root itself: inside (it was refused, a review)
    done = run_cli("-r", cli_repo, "backup", "-j", jobs, "--root", str(image), "/self/usr/lib/x")
    assert done.code == 0, done.stderr
    assert "/self/usr/lib/x" in run_cli("-r", cli_repo, "ls", "latest").stdout.split()
