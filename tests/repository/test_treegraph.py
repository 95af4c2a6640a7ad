"""The bounds on an expanding walk (repository/treegraph.py), on real trees in a local
repository, walked by `walk_tree` (ls, find, dump) and the restore planner. The constants are
lowered in this process to keep the trees small (FLOOR 2,000, RATIO 20, NESTING 4); the CLI
test of a forged graph (tests/cli/test_putonly_attacks3.py) runs on the real ones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from s3vault import (
    FindOptions,
    RepairSnapshotsOptions,
    RewriteOptions,
    find,
    repair_snapshots,
    rewrite,
    verify,
)
from s3vault.checker import snapshotrepair
from s3vault.format.packfile import BlobType
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.format.tree import Node, NodeType, Tree
from s3vault.ids import ObjectId
from s3vault.ops.ls import walk_tree
from s3vault.repository import treegraph
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import save_snapshot
from s3vault.repository.treegraph import TreeGraphError, measure
from s3vault.restorer.plan import plan_restore
from tests.conftest import RepoHandle


def _dirs(names: list[bytes], subtree: ObjectId, inode: int = 1) -> Tree:
    """Directories that all hold ``subtree`` (one inode for all: a bind mount's view)."""
    return Tree(
        nodes=tuple(
            Node(name=n, type=NodeType.DIR, mode=0o755, inode=inode, subtree=subtree) for n in names
        )
    )


def _copies(subtree: ObjectId, count: int) -> Tree:
    """``count`` directories of their own (each its inode) that all hold ``subtree``: the
    copies of a directory of hard links in a hard-link farm."""
    return Tree(nodes=tuple(_dirs([b"g%02d" % i], subtree, i).nodes[0] for i in range(count)))


def _named(*dirs: tuple[bytes, ObjectId]) -> Tree:
    """Directories of their own (each its inode), by name and subtree."""
    return Tree(
        nodes=tuple(
            Node(name=name, type=NodeType.DIR, mode=0o755, inode=100 + i, subtree=sub)
            for i, (name, sub) in enumerate(dirs)
        )
    )


def _files(count: int, first_inode: int = 1000) -> Tree:
    """A directory of hard links: the same inodes wherever it is."""
    return Tree(
        nodes=tuple(
            Node(name=b"f%d" % i, type=NodeType.FILE, inode=first_inode + i, links=9)
            for i in range(count)
        )
    )


def _chain(repo: Repository, depth: int, name: bytes, bottom: Tree) -> ObjectId:
    """A real directory ``depth`` levels deep, each level one directory ``name`` of its own
    inode, ``bottom`` at the end; its root tree."""
    writer = repo.blob_writer()
    tid, _ = writer.save(BlobType.TREE, bottom.encode())
    for i in range(depth):
        tid, _ = writer.save(BlobType.TREE, _dirs([name], tid, inode=10 + i).encode())
    writer.flush()
    return tid


def _save(repo: Repository, tree: Tree) -> ObjectId:
    writer = repo.blob_writer()
    tid, _ = writer.save(BlobType.TREE, tree.encode())
    writer.flush()
    return tid


def _walk(repo: Repository, root: ObjectId) -> tuple[int, int]:
    """What the expanding walks meet: entries ls lists, files restore plans (each hard link
    after the first as a link)."""
    plan = plan_restore(repo, root)
    return sum(1 for _ in walk_tree(repo, root)), len(plan.files) + len(plan.hardlinks)


def _refused(repo: Repository, root: ObjectId, why: str, planned: str) -> None:
    """ls's walk stops with ``why``, the restore plan with ``planned``."""
    with pytest.raises(TreeGraphError, match=why):
        sum(1 for _ in walk_tree(repo, root))
    with pytest.raises(TreeGraphError, match=planned):
        plan_restore(repo, root)


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(treegraph, "FLOOR", 2_000)
    monkeypatch.setattr(treegraph, "RATIO", 20)
    monkeypatch.setattr(treegraph, "NESTING", 4)


def test_copies_of_a_directory_of_hard_links_are_walked_whole(
    local_repo: RepoHandle, limits: None
) -> None:
    """A hard-link farm: 15 directories that hold the same 300 hard-linked files are one
    stored tree named 15 times. 4,515 entries met is past the floor and within 20 times the
    315 stored; each copy is reached once per name."""
    repo = local_repo.open()
    leaf = _save(repo, _files(300))
    root = _save(repo, _copies(leaf, 15))
    assert measure(repo, (root,)) == (15 + 15 * 300, 315)
    assert _walk(repo, root) == (15 + 15 * 300, 15 * 300)


def test_a_directory_seen_through_two_bind_mounts_is_walked_whole(
    local_repo: RepoHandle, limits: None
) -> None:
    """The same directory (one inode) at two paths, with directories inside it: every tree
    below is reached twice and named once, within NESTING."""
    repo = local_repo.open()
    leaf = _save(repo, _files(10))
    inner = _save(
        repo, Tree(nodes=tuple(_dirs([b"d%d" % i], leaf, 100 + i).nodes[0] for i in range(3)))
    )
    root = _save(repo, _dirs([b"srv", b"mnt"], inner))
    assert _walk(repo, root) == (2 + 2 * (3 + 30), 2 * 30)


def test_directories_repeated_inside_repeated_directories_are_refused_early(
    local_repo: RepoHandle, limits: None
) -> None:
    """Each tree names the one below twice, 30 levels deep (2^30 paths): refused by the
    nesting rule when a tree is reached 4 times as often as it is named, long before the
    floor."""
    repo = local_repo.open()
    tid = _save(repo, _files(1))
    for _ in range(30):
        tid = _save(repo, _dirs([b"a", b"b"], tid))
    _refused(repo, tid, r"is reached 9 times and named 2 times", r"is reached 9 times")


def test_flat_copies_beyond_the_ratio_are_refused_past_the_floor(
    local_repo: RepoHandle, limits: None
) -> None:
    """40 names of one tree of 300 entries: 12,040 entries from 340 stored, more than 20
    times: refused as the walk passes the floor, where it measures the whole graph (the
    nesting rule holds: each copy is reached once per name)."""
    repo = local_repo.open()
    leaf = _save(repo, _files(300))
    root = _save(repo, _copies(leaf, 40))
    _refused(repo, root, r"meets 12,040 entries, 340 stored", r"meets 12,040 entries, 340 stored")


def _snapshot(repo: Repository, root: ObjectId) -> str:
    sid = save_snapshot(
        repo,
        SnapshotFile(time=datetime(2026, 1, 2, tzinfo=UTC), tree=root, paths=("/g",), hostname="h"),
    )
    return sid.short


def test_verify_names_what_the_walks_refuse_by_size_and_passes_the_rest(
    local_repo: RepoHandle, limits: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """verify judges each snapshot by the second rule from sizes it adds up children first
    (no walk expands): the hard-link farm within the ratio passes; flat copies beyond it and
    a graph doubling per level are each one snapshot-forged finding with the fix."""
    repo = local_repo.open()
    leaf = _save(repo, _files(300))
    _snapshot(repo, _save(repo, _copies(leaf, 15)))
    assert verify(local_repo.open()).ok
    flat = _snapshot(repo, _save(repo, _copies(leaf, 40)))
    tid = _save(repo, _files(1))
    for _ in range(30):
        tid = _save(repo, _dirs([b"a", b"b"], tid))
    doubling = _snapshot(repo, tid)
    found = verify(local_repo.open()).findings
    assert sorted((f.kind, f.snapshots) for f in found) == sorted(
        [("snapshot-forged", (flat,)), ("snapshot-forged", (doubling,))]
    )
    assert all(f"`s3vault forget {f.snapshots[0]}`" in f.message for f in found)
    monkeypatch.setenv("S3VAULT_UNBOUNDED_WALKS", "1")  # the operator's: they are real
    assert verify(local_repo.open()).ok


def _doubling(repo: Repository, depth: int, bottom: ObjectId) -> ObjectId:
    tid = bottom
    for _ in range(depth):
        tid = _save(repo, _dirs([b"a", b"b"], tid))
    return tid


def test_a_forged_graph_over_a_lost_tree_is_named_not_listed_path_by_path(
    local_repo: RepoHandle, limits: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The graph doubling per level names, at its bottom, a tree that is not stored: verify
    listed every path that loses it (2^30 here; 2^40 took 4 GB and ended in a traceback) and
    `repair snapshots` every path it leaves out. verify names the snapshot as forged and
    lists none; repair lists at most LISTED_PATHS."""
    repo = local_repo.open()
    lost = ObjectId(b"\x07" * 32)
    forged = _snapshot(repo, _doubling(repo, 30, _save(repo, _dirs([b"gone"], lost))))
    found = verify(local_repo.open()).findings
    assert [(f.kind, f.snapshots, f.paths) for f in found] == [("snapshot-forged", (forged,), ())]
    monkeypatch.setattr(snapshotrepair, "LISTED_PATHS", 50)
    plan = repair_snapshots(local_repo.open(), RepairSnapshotsOptions(dry_run=True))
    (fix,) = plan.damaged
    assert len(fix.dropped) == 50


def test_rewrite_passes_a_forged_graph_over_and_rewrites_the_rest(
    local_repo: RepoHandle, limits: None
) -> None:
    """rewrite walks each directory as a path: the forged snapshot is reported as not
    rewritten, with the reason, and the other snapshot is rewritten."""
    repo = local_repo.open()
    forged = _snapshot(repo, _doubling(repo, 30, _save(repo, _files(1))))
    plain = _snapshot(repo, _save(repo, _dirs([b"keep", b"drop"], _save(repo, _files(2)))))
    done = rewrite(local_repo.open(), RewriteOptions(excludes=("/drop",), forget=False))
    status = {r.id.short: (r.status, r.problem) for r in done.snapshots}
    assert status[forged][0] == "damaged" and "tree graph" in status[forged][1]
    assert status[plain][0] == "rewritten"


def test_find_by_name_in_a_tree_thousands_of_levels_deep_keeps_no_joined_paths(
    local_repo: RepoHandle,
) -> None:
    """Every directory of a chain 3,000 levels deep matches: the memo held each tree's
    matches with their joined paths (depth cubed: 4 GB at 2,500 levels, from a real file
    system, and a traceback); now it holds the matching entries and joins paths once, when
    listing. (The file at the bottom is below a match: it matches too, as in restic's find.)"""
    repo = local_repo.open()
    _snapshot(repo, _chain(repo, 3000, b"a", _files(1)))
    (result,) = find(local_repo.open(), FindOptions(patterns=("a",)))
    assert len(result.matches) == 3001
    assert max(len(m.path) for m in result.matches if m.node.name == b"a") == 2 * 3000


def test_the_operator_can_walk_a_real_tree_that_breaks_a_bound(
    local_repo: RepoHandle, limits: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory bind-mounted in more places than NESTING allows (here 6 against 4, a real
    1,001 against 1,000 in the attack pass) is refused, and the refusal names the way past
    it; with that set, the walk is whole."""
    repo = local_repo.open()
    leaf = _save(repo, _files(2))
    inner = _save(repo, _dirs([b"d"], leaf, 7))
    root = _save(repo, _dirs([b"m%d" % i for i in range(6)], inner))
    _refused(repo, root, r"UNBOUNDED_WALKS=1 walks it whole", r"is reached 5 times")
    monkeypatch.setenv("S3VAULT_UNBOUNDED_WALKS", "1")
    assert _walk(repo, root) == (6 + 6 * (1 + 2), 6 * 2)


def test_a_tree_of_a_newer_format_is_passed_over_by_the_measure(
    local_repo: RepoHandle, limits: None
) -> None:
    """A walk past the floor measures the whole graph: a tree written by a newer s3vault
    counts none there (restore refuses that directory and restores the rest, as before the
    bounds; a review found it turned into a fatal error for the whole restore)."""
    repo = local_repo.open()
    writer = repo.blob_writer()
    future, _ = writer.save(BlobType.TREE, b'{"v":99,"nodes":[]}')
    writer.flush()
    files = _save(repo, _files(2500))
    root = _save(repo, _named((b"future", future), (b"ok", files)))
    plan = plan_restore(repo, root)
    assert len(plan.files) + len(plan.hardlinks) == 2500
    assert [path for path, _ in plan.refused] == ["/future/"]
    assert measure(repo, (root,)) == (2 + 2500, 2 + 2500)


def test_a_forged_part_left_out_by_exclude_stops_no_restore(
    local_repo: RepoHandle, limits: None
) -> None:
    """restore --exclude of the forged part of a snapshot restores the rest (the walk never
    meets it); without the exclude the plan is refused."""
    repo = local_repo.open()
    leaf = _save(repo, _files(300))
    bomb = _save(repo, _copies(leaf, 40))
    keep = _save(repo, _files(3, first_inode=50_000))
    root = _save(repo, _named((b"bomb", bomb), (b"keep", keep)))
    with pytest.raises(TreeGraphError):
        plan_restore(repo, root)
    plan = plan_restore(repo, root, exclude=("/bomb",))
    assert sorted(repo_path for repo_path in (plan.shown(t.entry) for t in plan.files)) == [
        "/keep/f0",
        "/keep/f1",
        "/keep/f2",
    ]


def test_rewrite_of_a_tree_ten_thousand_levels_deep_keeps_within_the_bounds(
    local_repo: RepoHandle,
) -> None:
    """A chain of 10,000 directories (each reached once, by its own name) is no forged graph:
    rewrite walks it whole, with the real bounds, and drops the file excluded at the bottom."""
    repo = local_repo.open()
    sid = _snapshot(repo, _chain(repo, 10_000, b"d", _files(2)))
    done = rewrite(local_repo.open(), RewriteOptions(excludes=("f1",), forget=False))
    assert [(r.id.short, r.status) for r in done.snapshots] == [(sid, "rewritten")]
