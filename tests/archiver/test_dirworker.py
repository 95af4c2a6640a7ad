"""A backup worker's task (archiver/dirworker.py ``DirWorker.do_task``): its directory, then,
depth first, the directories below it that the parent snapshot holds, up to the task's batch;
every record after the one of the directory it is in; what is not done goes back as tasks.
The whole engine with small and large batches gives the serial engine's snapshot
(tests/archiver/test_parallel.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from s3vault import BackupOptions, backup
from s3vault.archiver import dirworker
from s3vault.archiver.dirworker import (
    CollectingProgress,
    DirDone,
    DirTask,
    DirWorker,
    Partial,
    Record,
    Split,
)
from s3vault.archiver.pipeline import ArchiveOptions
from s3vault.archiver.trees import SameNames
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import BlobType
from s3vault.format.tree import Node, NodeType
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import find_snapshot
from tests.maintenance.harness import World, subtree_at


def _source(world: World) -> Path:
    src = world.tmp / "src"
    for p in range(3):
        for m in range(4):
            leaf = src / f"p{p}" / f"m{m}"
            leaf.mkdir(parents=True)
            (leaf / "f").write_bytes(b"%d %d\n" % (p, m) * 100)
        (src / f"p{p}" / "top").write_bytes(b"top %d" % p)
    return src


def _parent_tree(world: World) -> ObjectId:
    result = backup(
        world.open(),
        BackupOptions(paths=("/src",), root=str(world.tmp), jobs=1),
        clock=world.clock,
    )
    assert result.snapshot_id is not None
    _sid, snap = find_snapshot(world.open(), result.snapshot_id.hex())
    return snap.tree


def _do(world: World, parent: ObjectId, batch: int) -> tuple[list[Record], Repository]:
    repo = world.open()
    repo = repo.with_index(repo.read_index())
    root = os.fsencode(world.tmp)
    options = ArchiveOptions(paths=(b"/src",), root=root)
    worker = DirWorker(repo, repo.blob_writer(), options, progress=CollectingProgress())
    worker.open()
    try:
        path = root + b"/src"
        st = os.lstat(path)
        psub = subtree_at(repo, parent, b"src")
        task = DirTask(7, path, Node(name=b"src", type=NodeType.DIR), st, psub, st.st_dev)
        task.batch = batch
        return worker.do_task(task), repo
    finally:
        worker.close()


def _shape(records: list[Record]) -> list[tuple[int, int, str]]:
    return [(up, slot, type(result).__name__) for up, slot, result in records]


def test_a_task_goes_depth_first_below_its_directory_up_to_its_batch(tmp_path: Path) -> None:
    world = World(tmp_path)
    _source(world)
    parent = _parent_tree(world)
    records, repo = _do(world, parent, 7)
    # src, then p0 and its four leaves, then p1 and its first leaf: 7 directories
    assert _shape(records) == [
        (-1, 0, "Partial"),
        (0, 0, "Partial"),
        (1, 0, "DirDone"),
        (1, 1, "DirDone"),
        (1, 2, "DirDone"),
        (1, 3, "DirDone"),
        (0, 1, "Partial"),
    ]
    src = records[0][2]
    assert isinstance(src, Partial)
    assert [meta.name for meta, *_ in src.subdirs] == [b"p0", b"p1", b"p2"]
    assert src.parent_count == 3
    for slot, (_up, _slot, done) in enumerate(records[2:6]):  # unchanged: the parent's trees
        assert isinstance(done, DirDone)
        assert done.node.name == b"m%d" % slot
        assert done.node.subtree == subtree_at(repo, parent, b"src", b"p0", b"m%d" % slot)
    p0 = records[1][2]
    assert isinstance(p0, Partial)
    assert [meta.name for meta, *_ in p0.subdirs] == [b"m0", b"m1", b"m2", b"m3"]
    assert all(same for *_, same in p0.subdirs)  # each directory's node equals the parent's


@pytest.mark.parametrize("batch", [1, 2, 100])
def test_a_task_never_takes_more_than_its_batch(tmp_path: Path, batch: int) -> None:
    world = World(tmp_path)
    _source(world)
    records, _repo = _do(world, _parent_tree(world), batch)
    assert len(records) == min(batch, 1 + 3 + 3 * 4)
    for index, (up, slot, _result) in enumerate(records):
        assert up < index  # after the directory it is in
        if up >= 0:
            holder = records[up][2]
            assert isinstance(holder, Partial) and slot < len(holder.subdirs)


def test_a_directory_new_since_the_parent_goes_back_as_a_task(tmp_path: Path) -> None:
    world = World(tmp_path)
    src = _source(world)
    parent = _parent_tree(world)
    (src / "p0" / "a-new").mkdir()  # first in p0, but nothing to compare it with
    (src / "p0" / "a-new" / "f").write_bytes(b"new")
    records, _repo = _do(world, parent, 100)
    p0 = records[1][2]
    assert isinstance(p0, Partial)
    assert p0.subdirs[0][0].name == b"a-new" and p0.subdirs[0][2] is None
    assert (1, 0) not in {(up, slot) for up, slot, _ in records}
    assert len(records) == 1 + 3 + 3 * 4  # all the others


def test_a_big_directory_comes_back_as_slices_of_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big directory goes back to the parent process as slices of names (their lstat
    results cost more to send than to make again), and each slice taken gives the parent
    snapshot's count of the whole directory: the parent keeps an unchanged big directory's
    tree (no encoding of every node of it again)."""
    monkeypatch.setattr(dirworker, "SLICE", 3)
    world = World(tmp_path)
    src = _source(world)  # src holds p0, p1, p2: no more than a slice
    for i in range(5):
        (src / f"x{i}").write_bytes(b"%d" % i)
    parent = _parent_tree(world)
    records, repo = _do(world, parent, 100)
    (only,) = records
    split = only[2]
    assert isinstance(split, Split)
    assert split.slices == [[b"p0", b"p1", b"p2"], [b"x0", b"x1", b"x2"], [b"x3", b"x4"]]
    (src / "x3").unlink()  # gone between the listing and the slice: said, as the serial walk
    options = ArchiveOptions(paths=(b"/src",), root=os.fsencode(world.tmp))
    worker = DirWorker(repo, repo.blob_writer(), options, progress=CollectingProgress())
    worker.open()
    try:
        st = os.lstat(src)
        psub = subtree_at(repo, parent, b"src")
        meta = Node(name=b"src", type=NodeType.DIR)
        for part in split.slices:
            task = DirTask(7, os.fsencode(src), meta, st, psub, st.st_dev, names=part)
            result = worker.process(task)
            assert isinstance(result, Partial)
            assert result.parent_count == 8
            names = [meta.name for meta, *_ in result.subdirs]
            for entry in result.entries:
                names.extend(entry.names if isinstance(entry, SameNames) else [entry.name])
            assert sorted(names) == [n for n in part if n != b"x3"]
        assert [(path, message) for path, message in worker.take_stats().warnings] == [
            (str(src / "x3"), "vanished before it could be read")
        ]
    finally:
        worker.close()


def test_a_slice_of_a_directory_replaced_since_its_listing_names_every_entry_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by an attack pass (2026-12-07): a big directory made unreadable or replaced
    between its listing and a slice's turn lost the slice's 512 files with one "cannot list
    directory" warning, counted as one failure. Each entry left out is named and counted."""
    monkeypatch.setattr(dirworker, "SLICE", 3)
    world = World(tmp_path)
    src = _source(world)
    for i in range(5):
        (src / f"x{i}").write_bytes(b"%d" % i)
    parent = _parent_tree(world)
    records, repo = _do(world, parent, 100)
    split = records[0][2]
    assert isinstance(split, Split)
    st = os.lstat(src)
    src.rename(world.tmp / "src-old")  # another directory in its place: not the one listed
    (src / "x0").mkdir(parents=True)
    options = ArchiveOptions(paths=(b"/src",), root=os.fsencode(world.tmp))
    worker = DirWorker(repo, repo.blob_writer(), options, progress=CollectingProgress())
    worker.open()
    try:
        psub = subtree_at(repo, parent, b"src")
        meta = Node(name=b"src", type=NodeType.DIR)
        part = split.slices[1]
        task = DirTask(7, os.fsencode(src), meta, st, psub, st.st_dev, names=part)
        result = worker.process(task)
        stats = worker.take_stats()
    finally:
        worker.close()
    assert isinstance(result, Partial) and result.subdirs == []
    assert [e for e in result.entries if not isinstance(e, SameNames) or e.names] == []
    assert stats.warnings == [
        (str(src / os.fsdecode(name)), "cannot read: replaced while the backup was running")
        for name in part
    ]
    assert stats.files_failed == len(part) == 3


def test_slices_of_big_directories_taken_in_turn_say_an_unreadable_parent_tree_once_each(
    tmp_path: Path,
) -> None:
    """Found by an attack pass (2026-12-07): a worker keeps the parent's tree of the last
    directory it took a slice of; taking slices of A, then B, then A again read A's tree a
    second time, after the first read had dropped it from the index as unreadable, and said
    so again with "not in the index" (a cause that sends the operator to the index, when
    the pack is damaged). Each directory is said once, with the damage."""
    world = World(tmp_path)
    src = world.tmp / "src"
    for name in ("A", "B"):
        (src / name).mkdir(parents=True)
        for i in range(6):
            (src / name / f"e{i}").write_bytes(b"%s %d" % (name.encode(), i))
    parent = _parent_tree(world)
    repo = world.open()
    repo = repo.with_index(repo.read_index())
    trees = {name: subtree_at(repo, parent, b"src", name) for name in (b"A", b"B")}
    for tid in trees.values():  # damage each tree blob in its pack
        loc = repo.index.lookup(BlobType.TREE, tid)
        assert loc is not None
        name = object_name(ObjectKind.TREE, loc.pack_id)
        data = bytearray(world.backend.get(name))
        data[loc.offset + loc.length // 2] ^= 0xFF
        world.backend.delete(name)
        world.backend.put(name, bytes(data))
    options = ArchiveOptions(paths=(b"/src",), root=os.fsencode(world.tmp))
    worker = DirWorker(repo, repo.blob_writer(), options, progress=CollectingProgress())
    worker.open()
    try:
        for name, names in ((b"A", [b"e0", b"e1"]), (b"B", [b"e0"]), (b"A", [b"e2", b"e3"])):
            path = os.fsencode(src) + b"/" + name
            st = os.lstat(path)
            meta = Node(name=name, type=NodeType.DIR)
            task = DirTask(7, path, meta, st, trees[name], st.st_dev, names=names)
            worker.process(task)
        notices = worker.take_stats().notices
    finally:
        worker.close()
    assert sorted(path for path, _ in notices) == [str(src / "A"), str(src / "B")], notices
    assert all("authentication failed" in why for _, why in notices), notices
