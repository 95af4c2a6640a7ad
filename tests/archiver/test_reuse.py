"""archiver/reuse.py, the unchanged run: a directory whose entries all equal its parent
snapshot's nodes keeps the parent's tree id without encoding it, and the snapshot is the one the
full encoding makes (same tree ids); a change anywhere below is still found, with the change
rules of today (--ignore-ctime, --ignore-inode); a parent tree that is missing or damaged is a
fallback, said, never a wrong snapshot."""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from s3vault import BackupOptions, BackupResult, backup
from s3vault.archiver.changes import ChangeRules
from s3vault.archiver.pipeline import ArchiveOptions, Archiver
from s3vault.archiver.reuse import (
    ParentListing,
    file_object,
    keep_unchanged,
    same_dir_node,
    unchanged_object,
    xattr_objects,
)
from s3vault.archiver.scan import metadata_node, read_xattrs
from s3vault.archiver.trees import Encoded, PendingDir
from s3vault.errors import IntegrityError
from s3vault.format import codec
from s3vault.format.packfile import BlobType
from s3vault.format.tree import Node, NodeType, Tree, node_from_json, node_to_json
from s3vault.ids import ObjectId
from s3vault.repository.index import BlobIndex
from s3vault.repository.repository import Repository
from tests.maintenance.harness import World, subtree_at

ID_A = ObjectId(bytes(range(32)))
ID_B = ObjectId(bytes(range(1, 33)))


def _xattrs_supported(path: Path) -> bool:
    try:
        os.setxattr(path, "user.s3vault-test", b"1")
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EPERM, errno.EACCES):
            return False
        raise
    os.removexattr(path, "user.s3vault-test")
    return True


def _run(world: World, **options: object) -> BackupResult:
    world.advance(60)  # the latest snapshot is the parent: one a minute
    # recorded as /src: the directories above it (shared with other tests) stay out
    result = backup(
        world.open(),
        BackupOptions(paths=("/src",), root=str(world.tmp), **options),  # type: ignore[arg-type]
        clock=world.clock,
    )
    assert result.snapshot_id is not None
    return result


def _opened(world: World) -> Repository:
    repo = world.open()
    return repo.with_index(repo.read_index())


def _tree_of(repo: Repository, result: BackupResult) -> ObjectId:
    from s3vault.repository.snapshots import find_snapshot

    assert result.snapshot_id is not None
    _sid, snap = find_snapshot(repo, result.snapshot_id.hex())
    return snap.tree


def _mixed_source(world: World) -> Path:
    src = world.tmp / "src"
    deep = src / "a" / "b" / "c" / "d" / "e"
    deep.mkdir(parents=True)
    for i in range(5):
        (deep / f"f{i}").write_bytes(b"deep %d\n" % i * 50)
        (src / "a" / f"g{i}").write_bytes(b"top %d\n" % i * 500)
    (src / "empty").write_bytes(b"")
    (src / os.fsdecode(b"caf\xe9-latin1")).write_bytes(b"odd name")
    (src / "link").symlink_to("a/g1")
    os.link(src / "a" / "g2", src / "a" / "hard")
    os.mkfifo(src / "fifo")
    (src / "emptydir").mkdir()
    return src


# The objects built from lstat results are the encoder's ------------------------------------


@pytest.mark.parametrize("with_atime", [False, True])
def test_file_object_is_the_encoders_object_of_the_same_node(
    tmp_path: Path, with_atime: bool
) -> None:
    names = [b"plain.txt", b"caf\xe9", b"\xff\xfe", b"empty"]
    for raw in names:
        path = os.path.join(os.fsencode(tmp_path), raw)
        with open(path, "wb") as f:
            f.write(b"" if raw == b"empty" else b"x" * 100)
    attrs = _xattrs_supported(tmp_path / "plain.txt")
    if attrs:
        os.setxattr(tmp_path / "plain.txt", "user.colour", b"\x00blue")
    for raw in names:
        path = os.path.join(os.fsencode(tmp_path), raw)
        st = os.lstat(path)
        node = metadata_node(
            path, raw, st, content=(ID_A, ID_B), content_hash=ID_B, with_atime=with_atime
        )
        made = file_object(
            raw,
            st,
            content=[ID_A.hex(), ID_B.hex()],
            content_hash=ID_B.hex(),
            xattrs=xattr_objects(read_xattrs(path)),
            with_atime=with_atime,
        )
        assert made == node_to_json(node)
        assert codec.dumps(made) == codec.dumps(node_to_json(node))
    if attrs:
        assert "xattrs" in node_to_json(
            metadata_node(os.fsencode(tmp_path / "plain.txt"), b"p", st)
        )


def test_same_dir_node_compares_everything_but_thesubtree_at(tmp_path: Path) -> None:
    st = os.lstat(tmp_path)
    meta = metadata_node(os.fsencode(tmp_path), b"d", st)
    recorded = node_to_json(replace(meta, subtree=ID_A))
    assert same_dir_node(meta, recorded)
    assert same_dir_node(meta, node_to_json(meta))  # a parent node without a subtree
    assert not same_dir_node(meta, {**recorded, "mode": 0o711})
    assert not same_dir_node(meta, {**recorded, "rdev": 5})  # a field more
    assert not same_dir_node(meta, None)


# Change detection in JSON terms is changes.py's ----------------------------------------------


def _parent_object(st: os.stat_result, **changes: object) -> dict[str, object]:
    obj = file_object(
        b"f", st, content=[ID_A.hex()], content_hash=ID_B.hex(), xattrs=None, with_atime=False
    )
    obj.update(changes)
    return obj


@pytest.mark.parametrize(
    ("changes", "rules", "kept"),
    [
        ({}, ChangeRules(), True),
        ({"ctime_ns": 1}, ChangeRules(), False),
        ({"ctime_ns": 1}, ChangeRules(ignore_ctime=True), True),
        ({"inode": 1}, ChangeRules(ignore_ctime=True), False),
        ({"inode": 1, "ctime_ns": 1}, ChangeRules(ignore_inode=True), True),
        ({"mtime_ns": 1}, ChangeRules(ignore_inode=True), False),
        ({"size": 1}, ChangeRules(ignore_inode=True), False),
        ({"type": "symlink"}, ChangeRules(), False),
        ({"content_hash": ID_B.hex().upper()}, ChangeRules(), False),  # not as written
        ({"content": [ID_A.hex()[:-2]]}, ChangeRules(), False),
        ({"content": "nope"}, ChangeRules(), False),
        ({"content": [ID_B.hex()]}, ChangeRules(), False),  # a blob the index lacks
    ],
)
def test_unchanged_object_follows_the_change_rules(
    tmp_path: Path, changes: dict[str, object], rules: ChangeRules, kept: bool
) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    st = os.lstat(path)
    index = BlobIndex()
    index.add_pack(ID_B, 100, [(BlobType.DATA, ID_A, 0, 10, 10)])
    parent = _parent_object(st, **changes)
    found = unchanged_object(
        parent, b"f", st, index=index, rules=rules, xattrs=lambda: read_xattrs(bytes(path))
    )
    assert (found is not None) is kept
    if found is not None and not changes:
        assert found == parent


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"mode": 0o600},
        {"uid": 12345},
        {"user": "somebody"},
        {"links": 2},
        {"device": 1},
        {"rdev": 3},  # a field a file never has
        {"atime_ns": 5},
        {"gid": 0},  # written though zero: not as the encoder writes it
        {"xattrs": []},
        {"xattrs": [["dXNlci5h", "Yg=="]]},
    ],
)
def test_a_parent_node_is_kept_exactly_when_the_built_object_equals_it(
    tmp_path: Path, changes: dict[str, object]
) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    st = os.lstat(path)
    index = BlobIndex()
    index.add_pack(ID_B, 100, [(BlobType.DATA, ID_A, 0, 10, 10)])
    parent = _parent_object(st, **changes)
    found = unchanged_object(parent, b"f", st, index=index, rules=ChangeRules(), xattrs=lambda: ())
    built = file_object(
        b"f",
        st,
        content=[ID_A.hex()],
        content_hash=ID_B.hex(),
        xattrs=parent.get("xattrs"),
    )
    assert found == built
    assert (found is parent) == (built == parent)
    kept, rest = keep_unchanged(
        [(b"f", st), (b"gone", OSError(2, "x"))],
        ParentListing([parent]),
        index=index,
        rules=ChangeRules(),
    )
    assert [k[2] for k in kept] == ([parent] if built == parent else [])
    assert len(kept) + len(rest) == 2


def test_parent_listing_refuses_what_is_not_a_tree() -> None:
    good = Tree(nodes=(Node(name=b"\xff", type=NodeType.FILE),)).encode()
    assert ParentListing.parse(good).get(b"\xff") is not None
    for bad in (b"[]", b'{"v":1,"nodes":[1]}', b'{"v":1,"nodes":[{"type":"file"}]}'):
        with pytest.raises(IntegrityError):
            ParentListing.parse(bad)
    listing = ParentListing.parse(b'{"v":1,"nodes":[{"name":"x","type":"file","size":"9"}]}')
    assert listing.count == 1  # a node that does not decode is found later, by its file


# Whole runs ---------------------------------------------------------------------------------


def test_an_unchanged_run_keeps_every_tree_and_stores_nothing(tmp_path: Path) -> None:
    world = World(tmp_path)
    _mixed_source(world)
    first = _run(world)
    again = _run(world)
    forced = _run(world, force=True)  # every node built and every tree encoded, as before
    repo = world.open()
    assert _tree_of(repo, again) == _tree_of(repo, first) == _tree_of(repo, forced)
    assert (again.data_blobs, again.tree_blobs, again.data_added) == (0, 0, 0)
    assert (again.files_new, again.files_changed, again.files_failed) == (0, 0, 0)
    assert again.files_unmodified == first.files_new
    assert again.dirs_new == again.dirs_changed == 0 and again.notices == ()


@pytest.mark.parametrize(
    ("options", "expect_read"),
    [({}, True), ({"ignore_ctime": True}, False), ({"ignore_inode": True}, False)],
)
def test_a_ctime_only_change_deep_down_follows_the_rules(
    tmp_path: Path, options: dict[str, object], expect_read: bool
) -> None:
    world = World(tmp_path)
    src = _mixed_source(world)
    first = _run(world)
    target = src / "a" / "b" / "c" / "d" / "e" / "f3"
    before = os.lstat(target)
    target.write_bytes(b"DEEP 3\n" * 50)  # same size
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime put back
    assert os.lstat(target).st_ctime_ns != before.st_ctime_ns
    second = _run(world, **options)
    assert second.files_changed == (1 if expect_read else 0)
    assert second.data_blobs == (1 if expect_read else 0)
    repo = world.open()
    # the new ctime is recorded either way: the trees up to the root are new, the rest kept
    assert _tree_of(repo, second) != _tree_of(repo, first)
    assert second.dirs_changed == 7  # e d c b a src /
    assert second.dirs_unmodified == first.dirs_new - second.dirs_changed
    if expect_read:  # (else the snapshot keeps the old content, as --ignore-ctime says)
        forced = _run(world, force=True, **options)
        assert _tree_of(repo, forced) == _tree_of(repo, second)


@pytest.mark.parametrize(("options", "expect_read"), [({}, True), ({"ignore_inode": True}, False)])
def test_a_file_replaced_by_a_copy_follows_the_inode_rule(
    tmp_path: Path, options: dict[str, object], expect_read: bool
) -> None:
    world = World(tmp_path)
    src = _mixed_source(world)
    _run(world)
    target = src / "a" / "b" / "c" / "f-new"
    target.write_bytes(b"n" * 100)
    _run(world)
    shutil.copy2(target, src / "copy")
    os.replace(src / "copy", target)  # same size and mtime, another inode
    second = _run(world, **options)
    assert second.files_changed == (1 if expect_read else 0)
    assert second.data_blobs == 0  # read again or not, its content is stored already


def test_size_and_mtime_changes_deep_down_are_read(tmp_path: Path) -> None:
    world = World(tmp_path)
    src = _mixed_source(world)
    _run(world)
    deep = src / "a" / "b" / "c" / "d" / "e"
    (deep / "f0").write_bytes(b"longer now " * 100)
    st = os.lstat(deep / "f1")
    os.utime(deep / "f1", ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    (deep / "f2").unlink()
    (deep / "new").write_bytes(b"brand new")
    second = _run(world, ignore_inode=True)
    assert (second.files_new, second.files_changed) == (1, 2)
    assert second.files_unmodified == 13 - 2 - 1  # of 13 (the hard link too): 2 changed, 1 gone


def test_an_extended_attribute_change_is_found(tmp_path: Path) -> None:
    world = World(tmp_path)
    src = _mixed_source(world)
    if not _xattrs_supported(src / "empty"):
        pytest.skip("no user extended attributes here")
    first = _run(world)
    os.setxattr(src / "a" / "g0", "user.tag", b"v1")  # moves the ctime
    second = _run(world)
    assert second.files_changed == 1
    repo = _opened(world)
    a = repo.load_tree(subtree_at(repo, _tree_of(repo, second), b"src", b"a"))
    assert a.find(b"g0").xattrs == ((b"user.tag", b"v1"),)  # type: ignore[union-attr]
    os.setxattr(src / "a" / "g0", "user.tag", b"v2")
    third = _run(world, ignore_ctime=True)  # not read, but its attributes are
    assert third.files_changed == 0
    repo = _opened(world)
    a = repo.load_tree(subtree_at(repo, _tree_of(repo, third), b"src", b"a"))
    assert a.find(b"g0").xattrs == ((b"user.tag", b"v2"),)  # type: ignore[union-attr]
    assert _tree_of(repo, first) != _tree_of(repo, third)


def test_a_mode_change_of_a_directory_is_recorded(tmp_path: Path) -> None:
    world = World(tmp_path)
    src = _mixed_source(world)
    first = _run(world)
    os.chmod(src / "a" / "b", 0o700)
    second = _run(world)
    assert second.files_changed == 0 and second.dirs_changed > 0
    repo = world.open()
    assert _tree_of(repo, first) != _tree_of(repo, second)
    assert _tree_of(repo, _run(world, force=True)) == _tree_of(repo, second)


# A parent tree that is missing or damaged ---------------------------------------------------


def test_a_missing_parent_subtree_falls_back_and_says_so(tmp_path: Path) -> None:
    world = World(tmp_path)
    src = _mixed_source(world)
    first = _run(world)
    repo = _opened(world)
    parent = _tree_of(repo, first)
    lost = subtree_at(repo, parent, b"src", b"a", b"b")
    repo.index.drop_blob(BlobType.TREE, lost)  # as if its pack were gone
    writer = repo.blob_writer()
    archive = ArchiveOptions(paths=(b"/src",), root=os.fsencode(tmp_path))
    archiver = Archiver(repo, writer, archive, parent_tree=parent)
    root = archiver.run()
    writer.flush()
    assert root == parent  # the same snapshot: the lost tree is stored again
    assert writer.stats.tree_blobs == 1
    assert [path for path, _ in archiver.stats.notices] == [str(src / "a" / "b")]
    assert archiver.stats.files_new == 5  # below it: read again, as new
    assert archiver.stats.files_changed == 0


def test_a_damaged_parent_tree_pack_falls_back_and_says_so(tmp_path: Path) -> None:
    world = World(tmp_path)
    src = _mixed_source(world)
    _run(world)
    (damaged,) = [n for n in world.backend._objects if n.startswith("tree/")]
    (src / "late").mkdir()
    (src / "late" / "x").write_bytes(b"late")
    second = _run(world)  # the top trees now live in a second pack; "a" and below in the first
    world.backend.replace_for_test(damaged, bytes(b ^ 0xFF for b in world.backend.get(damaged)))
    third = _run(world)
    repo = world.open()
    assert _tree_of(repo, third) == _tree_of(repo, second)  # the trees are stored again
    assert third.tree_blobs > 0
    assert {path for path, _ in third.notices} == {str(src / "a"), str(src / "emptydir")}
    assert all("tree is unreadable" in message for _, message in third.notices)
    assert third.files_new == 11  # every file below "a", read again
    assert third.files_unmodified == 3  # the good trees still spare reading the rest


def test_a_directory_equal_to_its_parent_keeps_the_parent_id_without_encoding(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    repo = _opened(world).dry_run()
    writer = repo.blob_writer()
    obj = {"name": "f", "type": "file", "content": []}
    # the parent's id is taken as it is: a tree encoded here would have another
    kept = PendingDir(Node(name=b"d", type=NodeType.DIR), ID_A, parent_count=1)
    kept.add(Encoded(b"f", obj, True))
    assert kept.finalise(writer) == (Node(name=b"d", type=NodeType.DIR, subtree=ID_A), True)
    for count, same in ((2, True), (1, False)):  # a node fewer than the parent's; one differs
        encoded = PendingDir(Node(name=b"d", type=NodeType.DIR), ID_A, parent_count=count)
        encoded.add(Encoded(b"f", obj, same))
        node, unchanged = encoded.finalise(writer)
        assert not unchanged
        assert node.subtree == repo.sealer.blob_id(Tree(nodes=(node_from_json(obj),)).encode())
