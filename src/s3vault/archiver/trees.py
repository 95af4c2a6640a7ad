"""Stage 5, trees: directory listings become tree blobs, bottom-up.

A PendingDir holds its entries while their files are still being read. The walk queues
directories in post-order (children before parents), and finalises them from the head of that
queue as soon as each has no file in flight, so tree building overlaps with reading.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import replace

from s3vault.format.packfile import BlobType
from s3vault.format.tree import Node, Tree
from s3vault.ids import ObjectId
from s3vault.repository.writer import BlobWriter


class PendingDir:
    """A directory whose tree is not built yet."""

    def __init__(self, node: Node, parent_subtree: ObjectId | None) -> None:
        self.node = node  # metadata; gets its subtree when finalised
        self.parent_subtree = parent_subtree
        self.entries: list[Node | Future[Node | None] | PendingDir] = []
        self._outstanding = 0
        self._lock = threading.Lock()
        self.done = threading.Event()
        self.done.set()
        self.finalised = False

    def add(self, entry: Node | Future[Node | None] | PendingDir) -> None:
        """Append an entry; futures are counted until they complete."""
        self.entries.append(entry)
        if isinstance(entry, Future):
            with self._lock:
                self._outstanding += 1
                self.done.clear()
            entry.add_done_callback(self._one_done)

    def _one_done(self, _fut: Future[Node | None]) -> None:
        with self._lock:
            self._outstanding -= 1
            if self._outstanding == 0:
                self.done.set()

    def ready(self) -> bool:
        """No file of this directory is still being read."""
        return self.done.is_set()

    def finalise(self, writer: BlobWriter) -> tuple[Node, bool]:
        """Build and store the tree; returns (directory node, tree unchanged from parent).

        Raises:
            whatever a file job raised (backend or integrity errors are fatal).
        """
        nodes = []
        for entry in self.entries:
            if isinstance(entry, PendingDir):
                nodes.append(entry.node)
            elif isinstance(entry, Future):
                node = entry.result()
                if node is not None:
                    nodes.append(node)
            else:
                nodes.append(entry)
        self.entries = []
        data = Tree(nodes=tuple(nodes)).encode()
        tid, _ = writer.save(BlobType.TREE, data)
        self.node = replace(self.node, subtree=tid)
        self.finalised = True
        return self.node, tid == self.parent_subtree
