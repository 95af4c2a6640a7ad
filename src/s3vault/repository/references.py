"""What snapshots reference: every tree and data blob reachable from their root trees.

The ids are held in BlobSets (about 34 bytes per id, not a Python object each), so the
reachability of 10^7 blobs fits in a few hundred megabytes (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Iterable

from s3vault.errors import IntegrityError, ObjectNotFoundError
from s3vault.format.packfile import BlobType
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.format.tree import Tree
from s3vault.ids import ObjectId
from s3vault.repository.blobset import BlobSet
from s3vault.repository.repository import Repository


class References:
    """Blob ids reachable from a set of snapshots (each subtree walked once)."""

    def __init__(self, *, cache_trees: bool = True, check_data: bool = True) -> None:
        """``cache_trees=False`` reads trees around the repository's tree cache: a walk reads
        each tree once, and a cache of 4,096 large trees could hold more ids than the walk.
        ``check_data=False`` leaves data blobs out of ``missing`` (the index walked through
        need hold only tree blobs; the caller checks the data blobs its own way)."""
        self._cache_trees = cache_trees
        self._check_data = check_data
        self.trees = BlobSet()
        self.data = BlobSet()
        self.missing: list[tuple[BlobType, ObjectId]] = []  # referenced, but not in the index
        self.added: References | None = None  # set: what later walks add is also added there

    def blobs(self, btype: BlobType) -> BlobSet:
        """The referenced blobs of a type."""
        return self.trees if btype is BlobType.TREE else self.data

    def add_snapshots(self, repo: Repository, snapshots: Iterable[SnapshotFile]) -> None:
        """Walk the snapshots' trees through ``repo``'s index."""
        self.add_snapshots_trees(repo, (snap.tree for snap in snapshots))

    def add_snapshots_trees(self, repo: Repository, roots: Iterable[ObjectId]) -> None:
        """Walk trees from their roots through ``repo``'s index."""
        for root in roots:
            self._walk(repo, root)

    def by_type(self) -> list[tuple[BlobType, BlobSet]]:
        """(type, ids) pairs, trees first."""
        return [(BlobType.TREE, self.trees), (BlobType.DATA, self.data)]

    def _walk(self, repo: Repository, root: ObjectId) -> None:
        stack = [root]
        while stack:
            tid = stack.pop()
            if not self.trees.add(tid):
                continue  # walked already
            if self.added is not None:
                self.added.trees.add(tid)
            if not repo.index.has(BlobType.TREE, tid):
                self.missing.append((BlobType.TREE, tid))
                continue
            try:
                if self._cache_trees:
                    tree = repo.load_tree(tid)
                else:
                    tree = Tree.decode(repo.load_blob(BlobType.TREE, tid))
            except (IntegrityError, ObjectNotFoundError):
                self.missing.append((BlobType.TREE, tid))
                continue
            for node in tree.nodes:
                if node.subtree is not None:
                    stack.append(node.subtree)
                for bid in node.content:
                    new = self.data.add(bid)
                    if new and self.added is not None:
                        self.added.data.add(bid)
                    if new and self._check_data and not repo.index.has(BlobType.DATA, bid):
                        self.missing.append((BlobType.DATA, bid))
