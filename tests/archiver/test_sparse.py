"""Sparse files (``/var/log/lastlog``, disk images): their holes are passed over, not read
(chunker/fastcdc.py ``_pass_hole``, archiver/chunking.py ``FdReader.hole_after``), and the
snapshot is the one reading every byte gives: a dense copy of the file has the same blobs and
the same content hash, with one worker process or several. A restore gives the holes back."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from s3vault import BackupOptions, RestoreOptions, backup, restore
from s3vault.archiver import chunking
from s3vault.chunker import fastcdc
from s3vault.format.tree import Node
from s3vault.repository.snapshots import load_snapshot
from tests.conftest import RepoHandle

SIZE = 8 * fastcdc.WINDOW + 777_777
ISLANDS = ((0, 300_000), (2 * fastcdc.WINDOW + 5, 70_000), (SIZE - 10, 10))


def write_sparse(path: Path) -> bytes:
    """Holes around a few islands of data; returns the content."""
    rng = random.Random(5)
    content = bytearray(SIZE)
    with open(path, "wb") as f:
        f.truncate(SIZE)
        for offset, length in ISLANDS:
            data = rng.randbytes(length)
            content[offset : offset + length] = data
            f.seek(offset)
            f.write(data)
    return bytes(content)


def file_node(handle: RepoHandle, snapshot: object) -> Node:
    repo = handle.open()
    tree = repo.load_tree(load_snapshot(repo, snapshot).tree)  # type: ignore[arg-type]
    while tree.nodes[0].subtree is not None:  # down to the file
        tree = repo.load_tree(tree.nodes[0].subtree)
    return tree.nodes[0]


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_sparse_file_is_stored_as_read_whole_without_reading_its_holes(
    tmp_path: Path, local_repo: RepoHandle, monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    content = write_sparse(src / "sparse")
    if os.stat(src / "sparse").st_blocks * 512 >= SIZE // 4:
        pytest.skip("this file system keeps no holes")
    options = BackupOptions(paths=(str(src),), jobs=jobs, host="h", force=True)
    with monkeypatch.context() as blind:  # a reader that knows no holes reads every byte
        blind.setattr(chunking.FdReader, "hole_after", lambda self, pos: (0, 0))
        whole = file_node(local_repo, backup(local_repo.open(), options).snapshot_id)
    read = [0]
    readinto = chunking.FdReader.readinto

    def counted(self: chunking.FdReader, buf: memoryview) -> int:
        n = readinto(self, buf)
        read[0] += n
        return n

    monkeypatch.setattr(chunking.FdReader, "readinto", counted)
    sparse = file_node(local_repo, backup(local_repo.open(), options).snapshot_id)
    assert (sparse.content, sparse.content_hash, sparse.size) == (
        whole.content,
        whole.content_hash,
        SIZE,
    )
    if jobs == 1:  # counted in this process (workers are other processes)
        assert read[0] <= 5 * fastcdc.WINDOW  # of 8.1 windows

    target = tmp_path / "out"
    restore(local_repo.open(), RestoreOptions(target=target, jobs=jobs))
    restored = target / str(src).lstrip("/") / "sparse"
    assert restored.read_bytes() == content
    assert os.stat(restored).st_blocks * 512 < SIZE // 4  # the holes stay holes


def test_the_reader_finds_holes_and_keeps_its_read_position(tmp_path: Path) -> None:
    """``hole_after`` names the next hole, or none (at or past the end, a file without
    holes, or a reader not told the file is sparse), and reading goes on where it was."""
    path = tmp_path / "f"
    with open(path, "wb") as f:
        f.write(b"x" * 100)
        f.truncate(4 << 20)
        f.seek(3 << 20)
        f.write(b"y")
    fd = os.open(path, os.O_RDONLY)
    try:
        reader = chunking.FdReader(fd, sparse=True)
        assert reader.read(10) == b"x" * 10
        start, end = reader.hole_after(10)
        if os.fstat(fd).st_blocks * 512 < 1 << 20:  # a file system that keeps holes
            assert 100 <= start <= 1 << 16 and end == 3 << 20
        assert reader.hole_after(4 << 20) == (0, 0)  # at the end
        assert reader.hole_after(5 << 20) == (0, 0)  # past it
        assert reader.read(5) == b"x" * 5  # the position stayed
        assert chunking.FdReader(fd).hole_after(0) == (0, 0)  # not sparse: never asks
    finally:
        os.close(fd)
