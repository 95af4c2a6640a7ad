"""Stage 5, trees: directory listings become tree blobs, bottom-up.

A PendingDir holds its entries while their files are still being read. The walk queues
directories in post-order (children before parents), and finalises them from the head of that
queue as soon as each has no file in flight, so tree building overlaps with reading.

An entry may be known only as the JSON object its tree records (``Encoded``: an unchanged file
compared with its parent's node, archiver/reuse.py), or only by its name (``SameNames``:
entries equal to the parent snapshot's nodes of these names, as a backup worker process
reports them; their objects are read from the parent's tree only if the tree is encoded). A
directory whose entries all equal its parent snapshot's, as many as that tree holds, keeps the
parent's tree id without encoding it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any

from s3vault.errors import IntegrityError
from s3vault.format.packfile import BlobType
from s3vault.format.tree import Node, encode_objects, node_to_json
from s3vault.ids import ObjectId
from s3vault.repository.writer import BlobWriter


@dataclass(slots=True)
class Encoded:
    """An entry as its tree records it; ``same``: equal to the parent snapshot's node of this
    name."""

    name: bytes
    obj: dict[str, Any]
    same: bool


@dataclass(slots=True)
class SameNames:
    """Entries equal to the parent snapshot's nodes of these names."""

    names: list[bytes]


# the parent snapshot's nodes of a directory by name (ParentListing.get), or None when that
# tree cannot be read
ParentObjects = Callable[[], Callable[[bytes], dict[str, Any] | None] | None]


class PendingDir:
    """A directory whose tree is not built yet."""

    def __init__(
        self, node: Node, parent_subtree: ObjectId | None, *, parent_count: int | None = None
    ) -> None:
        self.node = node  # metadata; gets its subtree when finalised
        self.parent_subtree = parent_subtree
        # how many nodes the parent's tree holds, when its entries are compared (None: they
        # are not, and the tree is always encoded)
        self.parent_count = parent_count
        # this directory's own node (its subtree aside) equals its parent's node of it
        self.meta_same = False
        self.entries: list[Node | Future[Node | None] | PendingDir | Encoded | SameNames] = []
        self._outstanding = 0
        self._lock = threading.Lock()
        self.done = threading.Event()
        self.done.set()
        self.finalised = False

    def add(self, entry: Node | Future[Node | None] | PendingDir | Encoded | SameNames) -> None:
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

    def kept(self) -> bool:
        """Its tree is the parent snapshot's: every entry equals the parent's node of its
        name, and there are as many as the parent's tree holds (only after the subdirectories
        are finalised)."""
        if self.parent_count is None or self.parent_count != self._count():
            return False
        for entry in self.entries:
            if isinstance(entry, Encoded):
                same = entry.same
            elif isinstance(entry, SameNames):
                continue
            elif isinstance(entry, PendingDir):
                subtree = entry.node.subtree
                same = entry.meta_same and subtree is not None and subtree == entry.parent_subtree
            else:
                same = False  # a file being read, or an entry never compared
            if not same:
                return False
        return True

    def _count(self) -> int:
        return sum(len(e.names) if isinstance(e, SameNames) else 1 for e in self.entries)

    def finalise(
        self, writer: BlobWriter, parent: ParentObjects | None = None
    ) -> tuple[Node, bool]:
        """Build and store the tree (or keep the parent's); returns (directory node, tree
        unchanged from parent). ``parent``: where the objects of ``SameNames`` entries are
        read, if the tree is encoded.

        Raises:
            whatever a file job raised (backend or integrity errors are fatal).
            IntegrityError: the parent snapshot's tree, read a moment ago, is unreadable now.
        """
        if self.parent_subtree is not None and self.kept():
            tid = self.parent_subtree
        else:
            objects: list[tuple[bytes, dict[str, Any]]] = []
            find = None
            for entry in self.entries:
                if isinstance(entry, Encoded):
                    objects.append((entry.name, entry.obj))
                    continue
                if isinstance(entry, SameNames):
                    find = find or _parent_objects(parent)
                    objects.extend((name, _found(find, name)) for name in entry.names)
                    continue
                if isinstance(entry, PendingDir):
                    node: Node | None = entry.node
                elif isinstance(entry, Future):
                    node = entry.result()
                else:
                    node = entry
                if node is not None:
                    objects.append((node.name, node_to_json(node)))
            objects.sort(key=lambda item: item[0])
            tid, _ = writer.save(BlobType.TREE, encode_objects([obj for _, obj in objects]))
        self.entries = []
        self.node = replace(self.node, subtree=tid)
        self.finalised = True
        return self.node, tid == self.parent_subtree


def _parent_objects(parent: ParentObjects | None) -> Callable[[bytes], dict[str, Any] | None]:
    find = parent() if parent is not None else None
    if find is None:
        raise IntegrityError("the parent snapshot's tree of a directory became unreadable")
    return find


def _found(find: Callable[[bytes], dict[str, Any] | None], name: bytes) -> dict[str, Any]:
    obj = find(name)
    if obj is None:  # the names came from this very tree
        raise IntegrityError("the parent snapshot's tree of a directory changed")
    return obj
