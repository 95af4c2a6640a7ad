"""What snapshots reference: every tree and data blob reachable from their root trees."""

from __future__ import annotations

from collections.abc import Iterable

from s3vault.errors import IntegrityError, ObjectNotFoundError
from s3vault.format.packfile import BlobType
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository


class References:
    """Blob ids reachable from a set of snapshots (each subtree walked once)."""

    def __init__(self) -> None:
        self.trees: set[ObjectId] = set()
        self.data: set[ObjectId] = set()
        self.missing: list[tuple[BlobType, ObjectId]] = []  # referenced, but not in the index

    def blobs(self, btype: BlobType) -> set[ObjectId]:
        """The referenced blobs of a type."""
        return self.trees if btype is BlobType.TREE else self.data

    def add_snapshots(self, repo: Repository, snapshots: Iterable[SnapshotFile]) -> None:
        """Walk the snapshots' trees through ``repo``'s index."""
        self.add_snapshots_trees(repo, (snap.tree for snap in snapshots))

    def add_snapshots_trees(self, repo: Repository, roots: Iterable[ObjectId]) -> None:
        """Walk trees from their roots through ``repo``'s index."""
        for root in roots:
            self._walk(repo, root)

    def by_type(self) -> list[tuple[BlobType, set[ObjectId]]]:
        """(type, ids) pairs, trees first."""
        return [(BlobType.TREE, self.trees), (BlobType.DATA, self.data)]

    def _walk(self, repo: Repository, root: ObjectId) -> None:
        stack = [root]
        while stack:
            tid = stack.pop()
            if tid in self.trees:
                continue
            self.trees.add(tid)
            if not repo.index.has(BlobType.TREE, tid):
                self.missing.append((BlobType.TREE, tid))
                continue
            try:
                tree = repo.load_tree(tid)
            except (IntegrityError, ObjectNotFoundError):
                self.missing.append((BlobType.TREE, tid))
                continue
            for node in tree.nodes:
                if node.subtree is not None:
                    stack.append(node.subtree)
                for bid in node.content:
                    if bid not in self.data:
                        self.data.add(bid)
                        if not repo.index.has(BlobType.DATA, bid):
                            self.missing.append((BlobType.DATA, bid))
