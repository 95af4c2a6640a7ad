"""The real entry point round-trips an awkward tree, byte for byte and attribute for attribute."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import stat
from pathlib import Path

import pytest

from tests.conftest import RunCli, write_file
from tests.trees import snapshot_tree


def make_awkward_tree(root: Path) -> Path:
    """Empty files and dirs, links (dangling too), hardlinks, odd names, sparse, FIFO, big files."""
    rng = random.Random(42)
    root.mkdir(parents=True)
    write_file(root / "empty", b"")
    (root / "empty-dir").mkdir()
    write_file(root / "text.txt", b"hello\n" * 1000)
    write_file(root / "sub" / "deeper" / "leaf.bin", rng.randbytes(70_000))
    os.symlink("text.txt", root / "link-to-text")
    os.symlink("/nonexistent/target", root / "dangling")
    os.symlink("sub", root / "link-to-dir")
    write_file(root / "hard-a", b"shared inode content")
    os.link(root / "hard-a", root / "sub" / "hard-b")
    bad = os.fsencode(root) + b"/caf\xe9-\xff\xfe-latin1"
    with open(bad, "wb") as f:
        f.write(b"non-utf8 name")
    os.symlink(b"target-\xff", os.fsencode(root) + b"/link-\x80")
    write_file(root / ("n" * 255), b"longest name")
    write_file(root / "-leading-dash", b"x")
    write_file(root / "new\nline", b"y")
    sparse = root / "sparse.img"
    with open(sparse, "wb") as f:
        f.truncate(64 << 20)
        f.seek(10 << 20)
        f.write(b"data in the middle of a hole")
    os.mkfifo(root / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "sock"))  # recorded, never read; not restorable
    sock.close()
    # Larger than one 4 MiB pack, with internal repeats.
    block = rng.randbytes(3 << 20)
    write_file(root / "big.bin", block + rng.randbytes(2 << 20) + block)
    os.chmod(root / "text.txt", 0o640)
    os.chmod(root / "sub", 0o750)
    os.utime(root / "empty", ns=(1_000_000_000, 1_234_567_891_011_121_314))
    return root


def restored(target: Path, src: Path) -> Path:
    return target / str(src).lstrip("/")


def test_awkward_tree_round_trips(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    src = make_awkward_tree(tmp_path / "src")
    before = snapshot_tree(src)
    done = run_cli("-r", cli_repo, "backup", str(src), timeout=30)  # a FIFO must not hang us
    assert done.code == 0, done.stderr
    target = tmp_path / "target"
    done = run_cli("-r", cli_repo, "restore", "latest", "--target", str(target))
    assert done.code == 0, done.stderr
    out = restored(target, src)
    assert snapshot_tree(out) == {k: v for k, v in before.items() if k != b"sock"}
    st = os.lstat(out / "fifo")
    assert stat.S_ISFIFO(st.st_mode)
    assert os.stat(out / "sub" / "hard-b").st_ino == os.stat(out / "hard-a").st_ino
    assert os.stat(out / "sparse.img").st_blocks * 512 < 4 << 20  # the hole stayed a hole


def test_restore_is_idempotent(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    src = tmp_path / "src"
    write_file(src / "a", os.urandom(100_000))
    write_file(src / "b", b"b" * 1000)
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    target = tmp_path / "t"
    assert run_cli("-r", cli_repo, "restore", "latest", "-t", str(target)).code == 0
    again = run_cli("--json", "-r", cli_repo, "restore", "latest", "-t", str(target))
    assert again.code == 0, again.stderr
    summary = json.loads(again.stdout.strip().splitlines()[-1])
    assert summary["files_skipped"] == 2
    assert summary["bytes_written"] == 0
    assert snapshot_tree(restored(target, src)) == snapshot_tree(src)


def test_include_and_exclude_on_restore(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    src = tmp_path / "src"
    write_file(src / "keep" / "a.txt", b"a")
    write_file(src / "keep" / "b.log", b"b")
    write_file(src / "drop" / "c.txt", b"c")
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    target = tmp_path / "t"
    done = run_cli(
        "-r",
        cli_repo,
        "restore",
        "latest",
        "-t",
        str(target),
        "--include",
        "keep/",
        "--exclude",
        "*.log",
    )
    assert done.code == 0, done.stderr
    out = restored(target, src)
    assert (out / "keep" / "a.txt").read_bytes() == b"a"
    assert not (out / "keep" / "b.log").exists()
    assert not (out / "drop").exists()


def test_backup_json_summary(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    src = tmp_path / "src"
    write_file(src / "a", b"a" * 10_000)
    done = run_cli("-r", cli_repo, "backup", str(src), "--json", "--tag", "nightly")
    assert done.code == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    summary = lines[-1]
    assert summary["message_type"] == "summary"
    for key in (
        "snapshot_id",
        "files_new",
        "files_changed",
        "files_unmodified",
        "total_files_processed",
        "total_bytes_processed",
        "data_added",
        "total_duration",
    ):
        assert key in summary
    assert summary["files_new"] == 1
    assert summary["total_bytes_processed"] == 10_000
    snaps = run_cli("snapshots", "--json", "-r", cli_repo)
    listed = json.loads(snaps.stdout)
    assert [s["id"] for s in listed] == [summary["snapshot_id"]]
    assert listed[0]["tags"] == ["nightly"]


def test_global_options_after_the_command(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    src = tmp_path / "src"
    write_file(src / "a", b"a")
    assert run_cli("backup", str(src), "-r", cli_repo, "-q").code == 0
    first = run_cli("--json", "-r", cli_repo, "snapshots")
    second = run_cli("snapshots", "-r", cli_repo, "--json")
    assert first.code == second.code == 0
    assert first.stdout == second.stdout


def test_ls_lists_the_tree(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    src = tmp_path / "src"
    write_file(src / "d" / "f.txt", b"f")
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    write_file(src / "e" / "g.txt", b"g")
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    # as restic: a DIR and what it holds; --recursive: everything below it; several DIRs
    done = run_cli("-r", cli_repo, "ls", "latest", str(src))
    assert done.code == 0, done.stderr
    assert done.stdout.splitlines() == [f"{src}", f"{src}/d", f"{src}/e"]
    deep = run_cli("-r", cli_repo, "ls", "latest", str(src), "--recursive").stdout.splitlines()
    assert deep == [f"{src}", f"{src}/d", f"{src}/d/f.txt", f"{src}/e", f"{src}/e/g.txt"]
    two = run_cli("-r", cli_repo, "ls", "latest", str(src / "d"), str(src / "e"))
    assert two.stdout.splitlines() == [f"{src}/d", f"{src}/d/f.txt", f"{src}/e", f"{src}/e/g.txt"]
    # each entry once, in the tree's order, whatever the order and overlap of the DIRs
    mixed = run_cli("-r", cli_repo, "ls", "latest", str(src / "d"), str(src), str(src / "d"))
    assert mixed.stdout.splitlines() == [f"{src}", f"{src}/d", f"{src}/d/f.txt", f"{src}/e"]
    cleaned = run_cli("-r", cli_repo, "ls", "latest", f"{src}/e/../d")  # as restic's path.Clean
    assert cleaned.stdout.splitlines() == [f"{src}/d", f"{src}/d/f.txt"], cleaned.stderr
    everything = run_cli("-r", cli_repo, "ls", "latest").stdout.splitlines()
    assert everything[-1] == f"{src}/e/g.txt" and f"{src}/d/f.txt" in everything
    js = run_cli("-r", cli_repo, "--json", "ls", "latest", str(src / "d"))
    snap, *nodes = [json.loads(x) for x in js.stdout.splitlines()]
    assert snap["struct_type"] == "snapshot" and {n["struct_type"] for n in nodes} == {"node"}
    assert [(n["name"], n["type"], n["size"]) for n in nodes] == [
        ("d", "dir", 0),
        ("f.txt", "file", 1),
    ]


def test_stdin_backup(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    payload = os.urandom(300_000)
    done = run_cli("-r", cli_repo, "backup", "--stdin", "--stdin-filename", "db.sql", input=payload)
    assert done.code == 0, done.stderr
    target = tmp_path / "t"
    assert run_cli("-r", cli_repo, "restore", "latest", "-t", str(target)).code == 0
    assert (target / "db.sql").read_bytes() == payload


def test_dry_run_writes_nothing(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    src = tmp_path / "src"
    write_file(src / "a", os.urandom(50_000))
    before = sorted(p.relative_to(cli_repo) for p in Path(cli_repo).rglob("*"))
    done = run_cli("-r", cli_repo, "backup", str(src), "--dry-run", "-vv")
    assert done.code == 0, done.stderr
    assert "dry run" in done.stdout
    assert "Would add to the repository: " in done.stdout  # as restic's (it said "Added")
    assert "Added to" not in done.stdout
    assert sorted(p.relative_to(cli_repo) for p in Path(cli_repo).rglob("*")) == before
    # -vv's log tells what was not written (it said "stored pack" for packs never stored)
    assert "stored pack" not in done.stderr
    assert re.search(r"dry run: data/\w\w/\w{64} not written", done.stderr), done.stderr


def test_excludes(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    src = tmp_path / "src"
    write_file(src / "keep.txt", b"k")
    write_file(src / "skip.log", b"s")
    write_file(src / "cache" / "CACHEDIR.TAG", b"Signature: 8a477f597d28d172789f06886806bc55\n")
    write_file(src / "cache" / "blob", b"cached")
    write_file(src / "scratch" / "x", b"x")
    exclude_file = write_file(tmp_path / "excludes", b"# comment\nscratch/\n")
    done = run_cli(
        "-r",
        cli_repo,
        "backup",
        str(src),
        "--exclude",
        "*.log",
        "--exclude-file",
        str(exclude_file),
        "--exclude-caches",
    )
    assert done.code == 0, done.stderr
    listing = run_cli("-r", cli_repo, "ls", "latest", str(src), "--recursive").stdout.splitlines()
    names = sorted(p.removeprefix(str(src)) for p in listing)
    assert names == ["", "/cache", "/cache/CACHEDIR.TAG", "/keep.txt"]


@pytest.mark.parametrize("payload", [b"", b"x" * 100])
def test_backup_of_a_single_file(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, payload: bytes
) -> None:
    f = write_file(tmp_path / "one" / "file", payload)
    assert run_cli("-r", cli_repo, "backup", str(f)).code == 0
    target = tmp_path / "t"
    assert run_cli("-r", cli_repo, "restore", "latest", "-t", str(target)).code == 0
    assert restored(target, f).read_bytes() == payload


def test_restoring_again_puts_back_the_mode_and_owner_of_files_already_in_place(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """The restore that undoes a `chmod -R` / `chown -R`: a file whose content and time are
    right was left as it was ("already present", exit 0, even with --verify) with the wrong
    mode and owner; restic puts them back, and so does s3vault now."""
    src = tmp_path / "src"
    secret = write_file(src / "secret.key", b"key material")
    secret.chmod(0o600)
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    target = tmp_path / "out"
    assert run_cli("-r", cli_repo, "restore", "latest", "--target", str(target)).code == 0
    restored = target / str(secret).lstrip("/")
    restored.chmod(0o666)
    owner = (restored.stat().st_uid, restored.stat().st_gid)
    if os.geteuid() == 0:
        os.chown(restored, 1234, 1234)
    again = run_cli("-r", cli_repo, "restore", "latest", "--target", str(target), "--verify")
    assert again.code == 0, again.stderr
    assert restored.stat().st_mode & 0o777 == 0o600
    assert (restored.stat().st_uid, restored.stat().st_gid) == owner
    assert restored.read_bytes() == b"key material"


def test_times_after_2262_are_restored_and_the_drill_passes(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """Found by a DR drill attack pass (2026-12-06): a file dated 2400 was saved, but restore
    could not set its time (os.utime counts nanoseconds in 64 bits: 2262), kept the time of
    the restore with a warning, exit 3, and restore-test called the repository damaged (exit
    13). restic 0.14 restores it as 1901. Now restored to the nanosecond; a time beyond what
    any file system keeps (a forged node) is still a warning (tests/restorer)."""
    src = tmp_path / "src"
    write_file(src / "far.txt", b"far\n")
    (src / "later").mkdir()
    far = 13_569_465_600 * 10**9  # 2400-01-01
    later = 10_418_616_000 * 10**9 + 123_456_789  # 2300-02-25, with nanoseconds
    os.utime(src / "far.txt", ns=(far, far))
    os.utime(src / "later", ns=(later, later))
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    target = tmp_path / "t"
    done = run_cli("-r", cli_repo, "restore", "latest", "--target", str(target))
    assert (done.code, done.stderr) == (0, "")
    restored = target / str(src).lstrip("/")
    assert (restored / "far.txt").stat().st_mtime_ns == far
    assert (restored / "later").stat().st_mtime_ns == later
    drill = run_cli("-r", cli_repo, "restore-test", "--no-record")
    assert drill.code == 0, drill.stdout + drill.stderr


def test_a_restore_of_damaged_data_points_at_the_verify_that_finds_it(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """Found by a DR drill attack pass (2026-12-06): restore said "`s3vault verify` names the
    damage", and that verify (structure only) exited 0: only --read-data reads the data."""
    src = tmp_path / "src"
    write_file(src / "data.bin", os.urandom(200_000))
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    for pack in (Path(cli_repo) / "data").rglob("*"):
        if pack.is_file():
            data = bytearray(pack.read_bytes())
            data[len(data) // 2] ^= 0xFF
            pack.write_bytes(bytes(data))
    assert run_cli("-r", cli_repo, "--no-cache", "verify").code == 0  # structure: whole
    done = run_cli("-r", cli_repo, "--no-cache", "restore", "latest", "-t", str(tmp_path / "t"))
    assert done.code == 13, done.stderr
    assert "`s3vault verify --read-data` names the damage" in done.stderr
    assert run_cli("-r", cli_repo, "--no-cache", "verify", "--read-data").code == 13


def test_restore_takes_restics_case_insensitive_include_and_exclude(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """restic's `restore --iinclude/--iexclude` (a restic user's attack pass, 2026-12-06:
    exit 2, no such option): the patterns and the paths compared in lower case. The files
    each selects are the ones restic 0.14 restores from the same tree."""
    src = tmp_path / "src"
    write_file(src / "Docs" / "README.TXT", b"1")
    write_file(src / "docs" / "notes.txt", b"2")
    write_file(src / "other" / "x", b"3")
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    cases = {
        ("--iinclude", "*.txt"): {"Docs/README.TXT", "docs/notes.txt"},
        ("--iexclude", "docs"): {"other/x"},
        ("--iinclude", "DOCS"): {"Docs/README.TXT", "docs/notes.txt"},
        ("--include", "docs", "--iexclude", "*.TXT"): set(),  # the directory, no file
    }
    for n, (args, expected) in enumerate(cases.items()):
        target = tmp_path / f"t{n}"
        done = run_cli("-r", cli_repo, "restore", "latest", "--target", str(target), *args)
        assert done.code == 0, (args, done.stderr)
        restored = target / str(src).lstrip("/")
        found = {str(p.relative_to(restored)) for p in restored.rglob("*") if p.is_file()}
        assert found == expected, args


def test_restore_reads_restics_pattern_files(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    """restic's `restore --include-file/--exclude-file/--iinclude-file/--iexclude-file` (a
    restic user's habit: exit 2, no such option): one pattern a line, comments and blank
    lines left out, $VAR expanded, added to the patterns given on the command line."""
    src = tmp_path / "src"
    write_file(src / "etc" / "app.conf", b"1")
    write_file(src / "etc" / "App.CONF.bak", b"2")
    write_file(src / "var" / "log" / "x.LOG", b"3")
    write_file(src / "var" / "keep.txt", b"4")
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    (tmp_path / "inc").write_text(f"# what to restore\n\n$SRC/etc\n{src}/var\n")
    (tmp_path / "exc").write_text("*.bak\n")
    (tmp_path / "iexc").write_text("*.log\n")
    env = {**cli_env, "SRC": str(src)}
    files = ("--include-file", str(tmp_path / "inc"), "--exclude-file", str(tmp_path / "exc"))
    files += ("--iexclude-file", str(tmp_path / "iexc"))
    target = tmp_path / "out"
    restore = ("-r", cli_repo, "restore", "latest", "-t", str(target))
    done = run_cli(*restore, *files, env=env)
    assert done.code == 0, done.stderr
    restored = target / str(src).lstrip("/")
    found = {str(p.relative_to(restored)) for p in restored.rglob("*") if p.is_file()}
    assert found == {"etc/app.conf", "var/keep.txt"}
    missing = tmp_path / "nowhere"
    done = run_cli(*restore, "--include-file", str(missing))
    assert done.code == 2, done.stderr
    assert f"cannot read --include-file {missing}" in done.stderr
    (tmp_path / "bad").write_text("ok\n[abc\n")
    done = run_cli(*restore, "--iinclude-file", str(tmp_path / "bad"))
    assert done.code == 2 and f"{tmp_path / 'bad'} line 2" in done.stderr, done.stderr


def test_restore_dry_run_says_what_it_would_restore_and_writes_nothing(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """restic 0.17's `restore --dry-run` (a restic user's habit: exit 2, no such option)."""
    src = tmp_path / "src"
    write_file(src / "a" / "one.txt", b"1" * 1000)
    write_file(src / "b.txt", b"22")
    (src / "link").symlink_to("b.txt")
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    target = tmp_path / "out"
    done = run_cli("-r", cli_repo, "restore", "latest", "-t", str(target), "--dry-run")
    assert done.code == 0, done.stderr
    assert f"to {target}: 2 files, " in done.stdout and "1 other entry, 1002 B" in done.stdout
    assert "(dry run: nothing was written)" in done.stdout
    assert not target.exists()
    as_json = run_cli("-r", cli_repo, "--json", "restore", "latest", "-t", str(target), "-n")
    summary = json.loads(as_json.stdout.splitlines()[-1])
    assert summary["dry_run"] is True and summary["files_restored"] == 2
    assert summary["bytes_written"] == 0 and summary["total_bytes"] == 1002
    assert not target.exists()
    both = run_cli("-r", cli_repo, "restore", "latest", "-t", str(target), "-n", "--verify")
    assert both.code == 2 and "--dry-run writes nothing for --verify" in both.stderr
    audit = run_cli("-r", cli_repo, "--json", "audit").stdout
    assert '"operation": "restore"' not in audit  # a dry run changes nothing: no record


def test_restore_overwrite_leaves_what_restics_overwrite_leaves(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """restic 0.17's `restore --overwrite always|if-changed|if-newer|never` (a restic user's
    habit: exit 2, no such option), with the serial engine and the process-parallel one."""
    src = tmp_path / "src"
    for name in ("changed", "newer", "same-size", "gone"):
        write_file(src / name, name.encode())
    os.symlink("changed", src / "link")
    past = 1_600_000_000_000_000_000
    for name in ("changed", "newer", "same-size", "gone"):
        os.utime(src / name, ns=(past, past))
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    base = tmp_path / "base"
    assert run_cli("-r", cli_repo, "restore", f"latest:{src}", "-t", str(base)).code == 0
    (base / "changed").write_bytes(b"edited!")  # a size of its own, a newer mtime
    os.utime(base / "changed", ns=(past - 10**9, past - 10**9))  # but older than the snapshot's
    (base / "newer").write_bytes(b"local")  # newer than the snapshot's
    (base / "same-size").write_bytes(b"SAME-SIZE")  # its size and mtime kept: if-changed keeps it
    os.utime(base / "same-size", ns=(past, past))
    (base / "gone").unlink()
    (base / "link").unlink()
    (base / "link").write_bytes(b"a file where a link was")
    expected = {
        "always": {"changed": b"changed", "newer": b"newer", "same-size": b"same-size"},
        "if-changed": {"changed": b"changed", "newer": b"newer", "same-size": b"SAME-SIZE"},
        # if-newer: only a snapshot's file newer than the target's (same-size's mtime is equal)
        "if-newer": {"changed": b"changed", "newer": b"local", "same-size": b"SAME-SIZE"},
        "never": {"changed": b"edited!", "newer": b"local", "same-size": b"SAME-SIZE"},
    }
    for jobs in ("1", "2"):
        for mode, files in expected.items():
            target = tmp_path / f"t-{mode}-{jobs}"
            shutil.copytree(base, target, symlinks=True)
            args = ("--overwrite", mode, "-j", jobs)
            done = run_cli("-r", cli_repo, "restore", f"latest:{src}", "-t", str(target), *args)
            assert done.code == 0, (mode, done.stderr)
            got = {name: (target / name).read_bytes() for name in files}
            assert got == files, (mode, jobs)
            assert (target / "gone").read_bytes() == b"gone"  # missing: restored in every mode
            assert (target / "link").is_symlink() == (mode != "never"), mode
    bad = run_cli(
        "-r", cli_repo, "restore", "latest", "-t", str(tmp_path / "x"), "--overwrite", "no"
    )
    assert bad.code == 2


def test_restore_overwrite_never_links_no_name_to_a_file_it_left(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """Names a and b of one file; the target holds its own a and no b. With --overwrite never
    a stays, and b, a link to a, would have a's content, which the snapshot never had: b is
    not restored, and said."""
    src = tmp_path / "src"
    write_file(src / "a", b"snapshot's")
    os.link(src / "a", src / "b")
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    target = tmp_path / "t"
    write_file(target / "a", b"the target's own")
    done = run_cli(
        "-r", cli_repo, "restore", f"latest:{src}", "-t", str(target), "--overwrite", "never"
    )
    assert done.code == 3, done.stderr
    assert (target / "a").read_bytes() == b"the target's own"
    assert not (target / "b").exists()
    assert "the file it is a hard link of was left as it was (--overwrite never)" in done.stderr


def test_restore_dry_run_names_files_whose_pack_is_missing(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """A dry run lists the packs (one listing, as a restore does): a file whose data is in a
    pack the store no longer has is named, exit 13, and still nothing is written."""
    src = tmp_path / "src"
    write_file(src / "big.bin", os.urandom(300_000))
    write_file(src / "small.txt", b"small")
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    biggest = max(Path(cli_repo, "data").glob("*/*"), key=lambda p: p.stat().st_size)
    biggest.unlink()
    target = tmp_path / "never"
    done = run_cli("-r", cli_repo, "restore", "latest", "-t", str(target), "--dry-run")
    assert done.code == 13, done.stderr
    assert f"error: {src}/big.bin: data blob " in done.stderr
    assert "the pack that held it is missing from the store" in done.stderr
    assert not target.exists()


def test_a_pattern_file_matches_names_that_are_no_utf8(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """A pattern file's bytes are patterns as they are (a name in Latin-1 is matched by the
    same bytes in the file), as restic reads them."""
    src = tmp_path / "src"
    write_file(src / os.fsdecode(b"caf\xe9.txt"), b"latin-1")
    write_file(src / "plain.txt", b"plain")
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    (tmp_path / "inc").write_bytes(b"*caf\xe9*\n")
    target = tmp_path / "out"
    done = run_cli(
        "-r",
        cli_repo,
        "restore",
        "latest",
        "-t",
        str(target),
        "--include-file",
        str(tmp_path / "inc"),
    )
    assert done.code == 0, done.stderr
    restored = target / str(src).lstrip("/")
    assert sorted(os.listdir(os.fsencode(restored))) == [b"caf\xe9.txt"]
