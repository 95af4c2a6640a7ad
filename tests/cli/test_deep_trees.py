"""A directory tree 10,000 levels deep (a ~20 KB path, five times PATH_MAX) is backed up,
listed, searched, compared, verified, copied and counted like a flat one: every tree walk is
iterative, and the backup reaches paths longer than the kernel accepts (issue 14, defect 2)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.trees import remove_deep

DEPTH = 10_000


def make_deep(root: Path, depth: int) -> bytes:
    """``root/d/d/.../d/bottom.txt`` built with relative operations (the absolute path of the
    deepest directory is far beyond PATH_MAX); a small file every 1,000 levels. Returns the
    content of the bottom file."""
    root.mkdir(parents=True)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for level in range(depth):
            if level % 1000 == 0:
                _write_at(fd, "level.txt", b"level %d\n" % level)
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        bottom = b"the bottom of the tree\n" * 1000
        _write_at(fd, "bottom.txt", bottom)
        return bottom
    finally:
        os.close(fd)


def _write_at(dir_fd: int, name: str, data: bytes) -> None:
    f = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=dir_fd)
    try:
        os.write(f, data)
    finally:
        os.close(f)


def lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(x) for x in stdout.splitlines() if x.strip()]


@pytest.fixture(scope="module")
def deep_source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    src = tmp_path_factory.mktemp("deep") / "src"
    make_deep(src, DEPTH)
    yield src
    remove_deep(src)  # pytest's own clean-up of old temporary directories would recurse


def test_a_tree_10000_levels_deep_is_backed_up_and_walked(
    deep_source: Path, tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    first = run_cli("-r", cli_repo, "backup", str(deep_source), "--json", timeout=300)
    assert first.code == 0, first.stderr[-2000:]
    summary = lines(first.stdout)[-1]
    assert summary["dirs_new"] >= DEPTH
    assert summary["total_files_processed"] == DEPTH // 1000 + 1
    second = run_cli("-r", cli_repo, "backup", str(deep_source), "--json", timeout=300)
    assert second.code == 0, second.stderr[-2000:]
    assert lines(second.stdout)[-1]["files_unmodified"] == DEPTH // 1000 + 1

    listed = run_cli("-r", cli_repo, "ls", "latest", timeout=300)
    assert listed.code == 0, listed.stderr[-2000:]
    paths = listed.stdout.splitlines()
    bottom = str(deep_source) + "/d" * DEPTH + "/bottom.txt"
    assert paths[-1] == bottom or bottom in paths
    assert len(paths) > DEPTH

    found = run_cli("-r", cli_repo, "find", "bottom.txt", "--json", timeout=300)
    assert found.code == 0, found.stderr[-2000:]
    matches = [
        m for x in lines(found.stdout) if x["message_type"] == "matches" for m in x["matches"]
    ]  # type: ignore[attr-defined]
    assert {m["path"] for m in matches} == {bottom}
    # by id too (restic's find --pack): the users of a pack, 10,000 levels down, no recursion
    packs = sorted(p.name for p in Path(cli_repo, "data").rglob("*") if p.is_file())
    by_pack = set()
    for pack in packs:
        done = run_cli("-r", cli_repo, "find", "--pack", pack[:16], "--json", timeout=300)
        assert done.code == 0, done.stderr[-2000:]
        by_pack |= {
            m["path"]
            for x in lines(done.stdout)
            if x["message_type"] == "matches"
            for m in x["matches"]
        }  # type: ignore[attr-defined]
    assert bottom in by_pack

    assert run_cli("-r", cli_repo, "diff", "latest~1", "latest", timeout=300).code == 0
    # SNAPSHOT:PATH 9,995 levels down (a 20 KB argument): found by a loop, no recursion
    deep = str(deep_source) + "/d" * (DEPTH - 5)
    pair = run_cli("-r", cli_repo, "diff", f"latest~1:{deep}", f"latest:{deep}", timeout=300)
    assert pair.code == 0, pair.stderr[-2000:]
    part = tmp_path / "part"
    # ls DIR... 9,995 levels down (restic's form: the DIR and what it holds; two DIRs, one
    # inside the other, as one walk; a path through the bottom file is not in the snapshot)
    two = run_cli("-r", cli_repo, "ls", "latest", deep, f"{deep}/d/d/d/d/d", timeout=300)
    assert two.code == 0, two.stderr[-2000:]
    assert two.stdout.splitlines() == [deep, f"{deep}/d", f"{deep}/d/d/d/d/d", bottom]
    through = run_cli("-r", cli_repo, "ls", "latest", f"{bottom}/x", timeout=300)
    assert through.code == 2 and "not a directory" in through.stderr
    done = run_cli("-r", cli_repo, "restore", f"latest:{deep}", "-t", str(part), timeout=300)
    assert done.code == 0, done.stderr[-2000:]
    assert (part / "d/d/d/d/d/bottom.txt").read_bytes() == b"the bottom of the tree\n" * 1000
    verified = run_cli("-r", cli_repo, "verify", "--read-data", timeout=300)
    assert verified.code == 0, verified.stderr[-2000:]
    # in workers, the attribution walk of the 10,000 levels runs beside the read-back
    in_workers = run_cli("-r", cli_repo, "verify", "--read-data", "-j", "2", timeout=300)
    assert in_workers.code == 0, in_workers.stderr[-2000:]
    assert "no errors were found" in in_workers.stdout
    assert run_cli("-r", cli_repo, "stats", timeout=300).code == 0
    target = tmp_path / "restored"
    restored = run_cli("-r", cli_repo, "restore", "latest", "--target", str(target), timeout=300)
    try:
        assert restored.code == 0, restored.stderr[-2000:]
        fd = os.open(target / deep_source.relative_to("/"), os.O_RDONLY | os.O_DIRECTORY)
        for _ in range(DEPTH):
            inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        with os.fdopen(os.open("bottom.txt", os.O_RDONLY, dir_fd=fd), "rb") as f:
            assert f.read() == b"the bottom of the tree\n" * 1000
        os.close(fd)
    finally:
        remove_deep(target)

    # a drill of it: its scratch directory (locked, its modes let in for the proof) is
    # removed, 10,000 levels and all, with no recursion
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**cli_env, "TMPDIR": str(scratch)}
    drilled = run_cli("-r", cli_repo, "restore-test", "--no-record", env=env, timeout=300)
    assert drilled.code == 0, drilled.stdout[-2000:] + drilled.stderr[-2000:]
    assert list(scratch.iterdir()) == []

    other = str(tmp_path / "copy")
    made = run_cli("-r", other, "init", "--kdf-cost", "minimum", "--no-recovery-key", timeout=300)
    assert made.code == 0, made.stderr
    copied = run_cli("-r", cli_repo, "copy", "--to", other, timeout=300)
    assert copied.code == 0, copied.stderr[-2000:]
    assert run_cli("-r", other, "verify", "--read-data", timeout=300).code == 0
    again = run_cli("-r", other, "find", "bottom.txt", timeout=300)
    assert again.code == 0 and bottom in again.stdout

    # a full disk's way out (two prunes with no grace) walks the 10,000 levels of what it keeps
    assert run_cli("-r", cli_repo, "forget", "--keep-last", "1", "--group-by", "host").code == 0
    unsafe = ("prune", "--grace", "0s", "--unsafe-no-backups-running", "--max-unused", "0%")
    for _ in range(2):
        pruned = run_cli("-r", cli_repo, *unsafe, timeout=300)
        assert pruned.code == 0, pruned.stderr[-2000:]
    assert run_cli("-r", cli_repo, "verify", timeout=300).code == 0
    kept = run_cli("-r", cli_repo, "find", "bottom.txt", timeout=300)
    assert kept.code == 0 and bottom in kept.stdout


def test_a_deep_tree_that_changes_only_at_the_bottom(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """Unchanged directories above the change come from the parent, the changed file below
    2,000 levels (beyond PATH_MAX) is read again, and diff finds exactly it."""
    src = tmp_path / "src"
    make_deep(src, 2_000)
    try:
        _change_at_the_bottom(src, cli_repo, run_cli)
    finally:
        remove_deep(src)


def _change_at_the_bottom(src: Path, cli_repo: str, run_cli: RunCli) -> None:
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(2_000):
        inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = inner
    _write_at(fd, "bottom.txt", b"changed\n")
    os.close(fd)
    done = run_cli("-r", cli_repo, "backup", str(src), "--json")
    assert done.code == 0, done.stderr[-2000:]
    summary = lines(done.stdout)[-1]
    assert summary["files_changed"] == 1 and summary["files_unmodified"] == 2
    changes = run_cli("-r", cli_repo, "diff", "latest~1", "latest", "--json")
    changed = [x["path"] for x in lines(changes.stdout) if x["message_type"] == "change"]
    assert changed == [str(src) + "/d" * 2_000 + "/bottom.txt"]
