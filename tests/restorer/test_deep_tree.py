"""A tree 10,000 directories deep (a 20 KB path, five times PATH_MAX) restores completely, and
restore-test proves it: the planner's walk is iterative, the sink reaches entries through
directory descriptors, and the drill's scratch directory is removed without recursion."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from s3vault.crypto.hashing import ContentHasher
from s3vault.format.packfile import BlobType
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.format.tree import Node, NodeType, Tree
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import save_snapshot
from s3vault.restorer.scratch import remove_tree
from tests.conftest import RepoHandle, RunCli

DEPTH = 10_000
MARKS = DEPTH // 1000 - 1  # files at depths 1000, 2000, ... 9000
LEAF = b"at the bottom\n"
MTIME = 1_700_000_000_000_000_000
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def file_node(repo: Repository, writer: object, name: bytes, data: bytes) -> Node:
    bid, _ = writer.save(BlobType.DATA, data)  # type: ignore[attr-defined]
    hasher = ContentHasher(repo.sealer.current.id_key)
    hasher.update(data)
    return Node(
        name=name,
        type=NodeType.FILE,
        mode=0o640,
        size=len(data),
        mtime_ns=MTIME,
        content=(bid,),
        content_hash=hasher.digest(),
    )


def save_deep_snapshot(handle: RepoHandle, depth: int) -> None:
    """/d/d/.../d/leaf.txt, ``depth`` directories, and a file ``mark`` in each directory
    whose depth is a multiple of 1000."""
    repo = handle.open()
    w = repo.blob_writer()
    tid: ObjectId
    tid, _ = w.save(BlobType.TREE, Tree(nodes=(file_node(repo, w, b"leaf.txt", LEAF),)).encode())
    for level in range(depth, 0, -1):
        nodes = [Node(name=b"d", type=NodeType.DIR, mode=0o750, mtime_ns=MTIME, subtree=tid)]
        if (level - 1) % 1000 == 0 and level > 1:  # this tree is the directory at depth level-1
            nodes.append(file_node(repo, w, b"mark", b"depth %d\n" % (level - 1)))
        tid, _ = w.save(BlobType.TREE, Tree(nodes=tuple(nodes)).encode())
    w.flush()
    save_snapshot(
        repo,
        SnapshotFile(
            time=datetime(2026, 1, 1, tzinfo=UTC), tree=tid, paths=("/deep",), hostname="h"
        ),
    )


def read_deep(root: Path, depth: int) -> tuple[bytes, list[bytes], int]:
    """(the leaf's bytes, the marks top down, the mode of the deepest directory), walking down
    one directory descriptor at a time."""
    fd = os.open(root, _DIR)
    marks: list[bytes] = []
    try:
        for level in range(1, depth + 1):
            below = os.open("d", _DIR, dir_fd=fd)
            os.close(fd)
            fd = below
            if level % 1000 == 0 and level < depth:
                mark = os.open("mark", os.O_RDONLY, dir_fd=fd)
                marks.append(os.read(mark, 100))
                os.close(mark)
        mode = os.stat(fd).st_mode & 0o7777
        leaf = os.open("leaf.txt", os.O_RDONLY, dir_fd=fd)
        data = os.read(leaf, 100)
        os.close(leaf)
        return data, marks, mode
    finally:
        os.close(fd)


@pytest.fixture
def deep_repo(local_repo: RepoHandle) -> RepoHandle:
    save_deep_snapshot(local_repo, DEPTH)
    return local_repo


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """A directory for 10,000 levels: in memory (tmpfs) where there is one, so the test costs
    20,000 directory operations in RAM rather than on a shared disk; removed without recursion
    (pytest's own clean-up, shutil.rmtree, recurses)."""
    shm = Path("/dev/shm")
    base = Path(tempfile.mkdtemp(dir=shm)) if os.access(shm, os.W_OK) else tmp_path / "scratch"
    base.mkdir(exist_ok=True)
    yield base
    remove_tree(base)


def test_restore_of_a_tree_10000_levels_deep_is_complete(
    scratch: Path, deep_repo: RepoHandle, run_cli: RunCli
) -> None:
    target = scratch / "t"
    try:
        # the worker processes (a restore this small runs in one process by default: the
        # second run below takes that path)
        done = run_cli(
            "--json", "-r", deep_repo.url, "--cache-dir", str(deep_repo.cache),
            "restore", "latest", "-t", str(target), "--jobs", "2",
        )  # fmt: skip
        assert done.code == 0, done.stderr[-2000:]
        summary = json.loads(done.stdout.splitlines()[-1])
        assert summary["files_restored"] == MARKS + 1
        assert summary["errors"] == summary["warnings"] == 0
        leaf, marks, mode = read_deep(target, DEPTH)
        assert leaf == LEAF
        assert marks == [b"depth %d\n" % depth for depth in range(1000, DEPTH, 1000)]
        assert mode == 0o750  # metadata reached the deepest directory too
        again = run_cli(
            "--json", "-r", deep_repo.url, "--cache-dir", str(deep_repo.cache),
            "restore", "latest", "-t", str(target),
        )  # fmt: skip
        assert again.code == 0, again.stderr[-2000:]
        assert json.loads(again.stdout.splitlines()[-1])["files_skipped"] == MARKS + 1
        # restic 0.17's --overwrite (each file stat'ed where it is, far below PATH_MAX) and
        # --dry-run (the plan of 10,000 levels, nothing written)
        kept = run_cli(
            "--json", "-r", deep_repo.url, "--cache-dir", str(deep_repo.cache),
            "restore", "latest", "-t", str(target), "--overwrite", "if-changed",
        )  # fmt: skip
        assert kept.code == 0, kept.stderr[-2000:]
        assert json.loads(kept.stdout.splitlines()[-1])["files_skipped"] == MARKS + 1
        planned = run_cli(
            "--json", "-r", deep_repo.url, "--cache-dir", str(deep_repo.cache),
            "restore", "latest", "-t", str(scratch / "never-made"), "--dry-run",
        )  # fmt: skip
        assert planned.code == 0, planned.stderr[-2000:]
        summary = json.loads(planned.stdout.splitlines()[-1])
        assert summary["dry_run"] is True and summary["files_restored"] == MARKS + 1
        assert summary["dirs"] >= DEPTH and not (scratch / "never-made").exists()
    finally:
        remove_tree(target)  # pytest's own clean-up (shutil.rmtree) recurses
    assert not target.exists()


def test_restore_test_proves_a_tree_10000_levels_deep(
    scratch: Path, deep_repo: RepoHandle, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = {**cli_env, "TMPDIR": str(scratch)}  # where the drill makes its scratch directory
    args = ("-r", deep_repo.url, "--cache-dir", str(deep_repo.cache), "--json", "restore-test")
    done = run_cli(*args, "--jobs", "2", env=env)  # workers; the sampled drill: one process
    assert done.code == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["passed"] is True
    assert summary["files_checked"] == MARKS + 1
    assert list(scratch.iterdir()) == []  # the drill removed what it restored

    sampled = run_cli(*args, "--sample", "3", "--seed", "1", env=env)
    assert sampled.code == 0, sampled.stderr[-2000:]
    assert json.loads(sampled.stdout.splitlines()[-1])["files_checked"] == 3
