"""Which snapshots use a few given packs: for messages about a damaged pack whose blobs all
read back, so that verify never calls a pack snapshots need "not needed".

The walk is iterative (an explicit stack; trees may nest 10,000 levels deep) and visits each
distinct tree once, remembering which of the given packs are used below it.
"""

from __future__ import annotations

from collections.abc import Iterable

from s3vault.errors import S3VaultError
from s3vault.format.packfile import BlobType
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.format.tree import NodeType, Tree
from s3vault.ids import ObjectId
from s3vault.repository.index import BlobIndex
from s3vault.repository.repository import Repository

_NONE: frozenset[ObjectId] = frozenset()


class PackUsage:
    """Walks trees once each; answers which of ``packs`` a tree needs, directly or below."""

    def __init__(
        self,
        repo: Repository,
        index: BlobIndex,
        packs: set[ObjectId],
        damaged: frozenset[ObjectId] = _NONE,
    ) -> None:
        self._repo = repo
        self._index = index
        self._packs = packs
        self._damaged = damaged | packs  # a copy in one of these is no way around the packs
        self._memo: dict[ObjectId, frozenset[ObjectId]] = {}

    def _pack_of(self, btype: BlobType, bid: ObjectId) -> ObjectId | None:
        """The given pack a blob needs: none when a whole pack outside them holds a copy."""
        locations = self._index.locations(btype, bid)
        if any(loc.pack_id not in self._damaged for loc in locations):
            return None
        return next((loc.pack_id for loc in locations if loc.pack_id in self._packs), None)

    def _own(self, tid: ObjectId, tree: Tree) -> set[ObjectId]:
        found = set()
        if (pack := self._pack_of(BlobType.TREE, tid)) is not None:
            found.add(pack)
        for node in tree.nodes:
            if node.type is NodeType.FILE:
                found.update(p for bid in node.content if (p := self._pack_of(BlobType.DATA, bid)))
        return found

    def below(self, root: ObjectId) -> frozenset[ObjectId]:
        """The given packs that the tree ``root`` or anything below it uses. An unreadable
        tree uses only the pack it is in (what it would reference is unknown)."""
        stack = [root]
        open_trees: dict[ObjectId, Tree] = {}
        while stack:
            tid = stack[-1]
            if tid in self._memo:
                stack.pop()
                continue
            tree = open_trees.get(tid)
            if tree is None:
                try:
                    tree = self._repo.load_tree(tid)
                except S3VaultError:
                    own = self._pack_of(BlobType.TREE, tid)
                    self._memo[tid] = frozenset({own}) if own else _NONE
                    stack.pop()
                    continue
                open_trees[tid] = tree
                todo = [s for s in _subtrees(tree) if s not in self._memo and s not in open_trees]
                if todo:
                    stack.extend(todo)
                    continue
            # Every subtree is done (a subtree that is still open would be a cycle, which
            # content addressing rules out; it then counts as using nothing).
            used = self._own(tid, tree)
            for sub in _subtrees(tree):
                used.update(self._memo.get(sub, _NONE))
            self._memo[tid] = frozenset(used) if used else _NONE
            del open_trees[tid]
            stack.pop()
        return self._memo[root]


def _subtrees(tree: Tree) -> list[ObjectId]:
    return [n.subtree for n in tree.nodes if n.type is NodeType.DIR and n.subtree is not None]


def snapshots_using(
    repo: Repository,
    index: BlobIndex,
    snapshots: Iterable[tuple[ObjectId, SnapshotFile]],
    packs: set[ObjectId],
    damaged: frozenset[ObjectId] = _NONE,
) -> dict[ObjectId, set[str]]:
    """For each of ``packs`` that some snapshot needs: the short ids of those snapshots. A
    blob with a copy in a pack that is neither one of ``packs`` nor ``damaged`` needs none."""
    usage = PackUsage(repo, index, packs, damaged)
    out: dict[ObjectId, set[str]] = {}
    for sid, snap in snapshots:
        for pack in usage.below(snap.tree):
            out.setdefault(pack, set()).add(sid.short)
    return out
