"""repair snapshots through the library: deep trees, shared subtrees, what is reported."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import pytest

from s3vault import RepairSnapshotsOptions, repair_snapshots
from s3vault.crypto.hashing import ContentHasher
from s3vault.format.packfile import BlobType
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.format.tree import Node, NodeType, Tree
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import list_snapshots, save_snapshot
from tests.conftest import RepoHandle

DEPTH = 10_000


def file_node(repo: Repository, name: bytes, data: bytes, *, lost: bool = False) -> Node:
    hasher = ContentHasher(repo.sealer.current.id_key)
    hasher.update(data)
    bid = ObjectId(b"\x01" * 32) if lost else repo.sealer.blob_id(data)
    return Node(
        name=name,
        type=NodeType.FILE,
        size=len(data),
        content=(bid,),
        content_hash=hasher.digest(),
    )


def test_repair_snapshots_walks_ten_thousand_levels(local_repo: RepoHandle) -> None:
    """A file lost at the bottom of a tree 10,000 directories deep: the repaired snapshot
    keeps every directory and the intact file beside it; nothing recurses."""
    repo = local_repo.open()
    writer = repo.blob_writer()
    writer.save(BlobType.DATA, b"still here")
    leaf = Tree(
        nodes=(
            file_node(repo, b"good", b"still here"),
            file_node(repo, b"gone", b"never stored", lost=True),
        )
    )
    tid, _ = writer.save(BlobType.TREE, leaf.encode())
    for _ in range(DEPTH):
        tid, _ = writer.save(
            BlobType.TREE, Tree(nodes=(Node(name=b"d", type=NodeType.DIR, subtree=tid),)).encode()
        )
    writer.flush()
    save_snapshot(
        repo,
        SnapshotFile(time=datetime(2026, 1, 2, tzinfo=UTC), tree=tid, paths=("/d",), hostname="h"),
    )
    assert sys.getrecursionlimit() < DEPTH
    result = repair_snapshots(local_repo.open(), RepairSnapshotsOptions(forget=True))
    (report,) = result.damaged
    assert report.status == "repaired" and report.removed
    (dropped,) = report.dropped
    assert dropped.kind == "file"
    assert dropped.path == "/d" * DEPTH + "/gone"
    assert "is in no index" in dropped.reason
    repo = local_repo.open()
    ((_sid, snap),) = list_snapshots(repo)
    assert snap.tags == ("repaired",)
    assert snap.time == datetime(2026, 1, 2, tzinfo=UTC)
    tid = snap.tree
    for _ in range(DEPTH):
        (node,) = repo.load_tree(tid).nodes
        assert node.name == b"d" and node.subtree is not None
        tid = node.subtree
    assert [n.name for n in repo.load_tree(tid).nodes] == [b"good"]
    again = repair_snapshots(local_repo.open(), RepairSnapshotsOptions())
    assert again.damaged == () and not again.damage_left


def test_repair_snapshots_rewrites_a_shared_subtree_once(local_repo: RepoHandle) -> None:
    """Two snapshots share a directory with a lost file: both repaired copies use one new
    tree for it, and each report names the file."""
    repo = local_repo.open()
    writer = repo.blob_writer()
    shared = Tree(nodes=(file_node(repo, b"gone", b"x", lost=True),))
    sub, _ = writer.save(BlobType.TREE, shared.encode())
    roots = []
    for name in (b"one", b"two"):
        root = Tree(nodes=(Node(name=name, type=NodeType.DIR, subtree=sub),))
        roots.append(writer.save(BlobType.TREE, root.encode())[0])
    writer.flush()
    for i, root in enumerate(roots):
        save_snapshot(
            repo,
            SnapshotFile(
                time=datetime(2026, 1, 1 + i, tzinfo=UTC), tree=root, paths=("/",), hostname="h"
            ),
        )
    result = repair_snapshots(local_repo.open(), RepairSnapshotsOptions(dry_run=True))
    assert result.damage_left
    assert [[d.path for d in r.dropped] for r in result.damaged] == [["/one/gone"], ["/two/gone"]]
    done = repair_snapshots(local_repo.open(), RepairSnapshotsOptions())
    assert not done.damage_left  # repaired; the originals stay (no --forget)
    assert done.trees_written == 3  # the shared directory once, and the two roots
    repo = local_repo.open()
    assert len(list_snapshots(repo)) == 4


@pytest.mark.parametrize("ref", ["latest", "prefix"])
def test_repair_snapshots_only_those_named(local_repo: RepoHandle, ref: str) -> None:
    repo = local_repo.open()
    writer = repo.blob_writer()
    root, _ = writer.save(
        BlobType.TREE, Tree(nodes=(file_node(repo, b"f", b"", lost=True),)).encode()
    )
    writer.flush()
    ids = [
        save_snapshot(
            repo,
            SnapshotFile(
                time=datetime(2026, 1, d, tzinfo=UTC), tree=root, paths=("/",), hostname="h"
            ),
        )
        for d in (1, 2)
    ]
    name = "latest" if ref == "latest" else ids[1].hex()[:10]
    result = repair_snapshots(
        local_repo.open(), RepairSnapshotsOptions(snapshots=(name,), dry_run=True)
    )
    assert [r.id for r in result.damaged] == [ids[1]]
    assert result.checked == 1
