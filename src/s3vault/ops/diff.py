"""diff: what changed between two snapshots.

The two trees are walked side by side; a subtree with the same id in both is the same
content and is skipped unread, so the cost follows the change, not the size."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from s3vault.errors import IntegrityError, ObjectNotFoundError
from s3vault.format.packfile import BlobType
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.format.tree import Node, NodeType
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import (
    directory_tree,
    find_snapshot,
    list_snapshots,
    split_subfolder,
)
from s3vault.repository.treegraph import WalkBudget

ADDED, REMOVED, MODIFIED, METADATA, TYPE = "+", "-", "M", "U", "T"


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One entry that differs: ``+`` added, ``-`` removed, ``M`` content (or link target)
    changed, ``U`` only metadata changed (mode, owner, times, xattrs), ``T`` another type."""

    kind: str
    path: str  # as listings show it (``Node.display_name``: ``\\`` and ``\xNN``)
    old: Node | None
    new: Node | None
    raw_path: bytes = b""  # the path itself, its names' bytes as stored


@dataclass(slots=True)
class DiffStats:
    """Counts by kind and the sizes of the files added, removed and changed."""

    added: int = 0
    removed: int = 0
    modified: int = 0
    metadata: int = 0
    type_changed: int = 0
    bytes_added: int = 0  # files new in the second snapshot
    bytes_removed: int = 0  # files gone from it
    bytes_modified: int = 0  # changed files, their new size

    def count(self, change: Change) -> None:
        """Add one change."""
        size_old = change.old.size if change.old and change.old.type is NodeType.FILE else 0
        size_new = change.new.size if change.new and change.new.type is NodeType.FILE else 0
        if change.kind == ADDED:
            self.added += 1
            self.bytes_added += size_new
        elif change.kind == REMOVED:
            self.removed += 1
            self.bytes_removed += size_old
        elif change.kind == MODIFIED:
            self.modified += 1
            self.bytes_modified += size_new
        elif change.kind == METADATA:
            self.metadata += 1
        else:
            self.type_changed += 1


@dataclass(slots=True)
class SideCounts:
    """One side of restic's diff statistics: entries, and the blobs only that side uses
    among the directories that differ, with their plaintext bytes."""

    files: int = 0
    dirs: int = 0
    others: int = 0
    data_blobs: int = 0
    tree_blobs: int = 0
    bytes: int = 0

    def entry(self, node: Node) -> None:
        """Count an entry by its type."""
        if node.type is NodeType.FILE:
            self.files += 1
        elif node.type is NodeType.DIR:
            self.dirs += 1
        else:
            self.others += 1


@dataclass(slots=True)
class BlobTally:
    """The blobs each side uses in the directories the walk lists (``diff``'s ``tally``):
    those of files and the trees of directories, the roots included. What one side has and
    the other has not is restic's ``added`` and ``removed`` blobs; a directory that is the
    same on both sides is not walked, and counts for neither."""

    before: set[tuple[BlobType, ObjectId]] = field(default_factory=set)
    after: set[tuple[BlobType, ObjectId]] = field(default_factory=set)

    def add(self, side: int, node: Node) -> None:
        """A node the walk met on side 0 (before) or 1 (after)."""
        into = self.after if side else self.before
        if node.type is NodeType.DIR and node.subtree is not None:
            into.add((BlobType.TREE, node.subtree))
        elif node.type is NodeType.FILE:
            into.update((BlobType.DATA, bid) for bid in node.content)

    def count(self, repo: Repository, added: SideCounts, removed: SideCounts) -> None:
        """Add the blobs only one side has to ``added`` and ``removed``, with their sizes
        (the index's plaintext length; none for a blob it does not hold)."""
        for only, into in ((self.after - self.before, added), (self.before - self.after, removed)):
            for btype, bid in only:
                if btype is BlobType.DATA:
                    into.data_blobs += 1
                else:
                    into.tree_blobs += 1
                loc = repo.index.lookup(btype, bid)
                into.bytes += loc.raw_length if loc is not None else 0


@dataclass(slots=True)
class DiffStatistics:
    """restic's ``diff --json`` ``statistics``: files whose content changed, and what was
    added and removed (entries from the changes, blobs from a ``BlobTally``)."""

    changed_files: int = 0
    added: SideCounts = field(default_factory=SideCounts)
    removed: SideCounts = field(default_factory=SideCounts)

    def count(self, change: Change) -> None:
        """Add one change (a ``T`` counts for neither side, as in restic)."""
        if change.kind == ADDED and change.new is not None:
            self.added.entry(change.new)
        elif change.kind == REMOVED and change.old is not None:
            self.removed.entry(change.old)
        elif change.kind == MODIFIED and change.new is not None:
            self.changed_files += change.new.type is NodeType.FILE


@dataclass(frozen=True, slots=True, kw_only=True)
class DiffSide:
    """One side of a diff: the snapshot, and the tree compared (its root, or the directory
    ``SNAPSHOT:PATH`` names)."""

    id: ObjectId
    snapshot: SnapshotFile
    tree: ObjectId
    path: str | None = None  # the directory SNAPSHOT:PATH named

    @property
    def shown(self) -> str:
        """The side as a message names it: ``1f2e3d4c`` or ``1f2e3d4c:/etc``."""
        return self.id.short + (f":{self.path}" if self.path is not None else "")


def resolve_pair(repo: Repository, first: str, second: str) -> tuple[DiffSide, DiffSide]:
    """The two sides (ids, prefixes, latest, latest~N; restic's ``SNAPSHOT:PATH`` compares
    that directory of each).

    Raises:
        UsageError: either does not exist, or a PATH is not a directory in it.
    """
    repo = repo.current()  # what this process stored since the handle's index was read
    listed = list_snapshots(repo)
    sides = []
    for given in (first, second):
        ref, path = split_subfolder(given)
        sid, snap = find_snapshot(repo, ref, snapshots=listed)
        repo = repo.covering(snap.tree)  # a snapshot stored since the handle's index was read
        tree = snap.tree if path is None else directory_tree(repo, sid, snap.tree, path)
        sides.append(DiffSide(id=sid, snapshot=snap, tree=tree, path=path))
    return sides[0], sides[1]


def _content(node: Node) -> tuple[object, ...]:
    """What ``M`` compares: a file's chunks, a link's target, a device's number (a
    directory's content is its entries, compared one by one)."""
    if node.type is NodeType.DIR:
        return ()
    return (node.content, node.link_target, node.rdev)


def _metadata(node: Node) -> tuple[object, ...]:
    return (node.mode, node.uid, node.gid, node.user, node.group, node.mtime_ns, node.xattrs)


class _Side:
    """The directories of one side of a diff, listed and counted against its budget."""

    def __init__(
        self,
        repo: Repository,
        budget: WalkBudget,
        on_error: Callable[[str, str], None] | None,
    ) -> None:
        self._repo, self._budget, self._on_error = repo, budget, on_error

    def nodes(self, tid: ObjectId | None, path: str) -> dict[bytes, Node]:
        """A directory's entries by name ({} if none, or unreadable with ``on_error``)."""
        if tid is None:
            return {}
        try:
            listed = self._repo.load_tree(tid).nodes
        except (IntegrityError, ObjectNotFoundError) as exc:
            if self._on_error is None:
                raise
            self._on_error(path or "/", f"directory cannot be read: {exc}")
            return {}
        self._budget.listed(tid, listed)
        return {n.name: n for n in listed}


def diff(
    repo: Repository,
    old_tree: ObjectId,
    new_tree: ObjectId,
    *,
    metadata: bool = False,
    on_error: Callable[[str, str], None] | None = None,
    snapshots: tuple[ObjectId, ObjectId] | None = None,
    tally: BlobTally | None = None,
) -> Iterator[Change]:
    """The changes from ``old_tree`` to ``new_tree`` in path order (``U`` only with
    ``metadata``). Inside an added or removed directory every entry is listed. The walk keeps
    an explicit stack (no recursion, whatever the depth). A directory that cannot be read is
    told to ``on_error(path, reason)`` and compared as if empty; without ``on_error`` that
    raises. ``snapshots``: whose trees they are (named if a tree graph is refused).
    ``tally``: given the blobs of every entry the walk lists, and the two roots.

    Raises:
        TreeGraphError: either side's trees name the same directories over and over
            (treegraph.py).
    """
    repo = repo.current().covering(old_tree, new_tree)  # stored since the index was read
    old_sid, new_sid = snapshots or (None, None)
    sides = (
        _Side(repo, WalkBudget(repo, (old_tree,), old_sid), on_error),
        _Side(repo, WalkBudget(repo, (new_tree,), new_sid), on_error),
    )

    def level(
        old: ObjectId | None, new: ObjectId | None, base: str, raw: bytes
    ) -> Iterator[tuple[Node | None, Node | None, str, bytes]]:
        before, after = sides[0].nodes(old, base), sides[1].nodes(new, base)
        if tally is not None:
            for side, listed in enumerate((before, after)):
                for node in listed.values():
                    tally.add(side, node)
        for name in sorted(before.keys() | after.keys()):
            o, n = before.get(name), after.get(name)
            shown = (n or o).display_name  # type: ignore[union-attr]
            yield o, n, f"{base}/{shown}", raw + b"/" + name

    stack = [level(old_tree, new_tree, "", b"")] if old_tree != new_tree else []
    if tally is not None and stack:
        tally.before.add((BlobType.TREE, old_tree))
        tally.after.add((BlobType.TREE, new_tree))
    while stack:
        item = next(stack[-1], None)
        if item is None:
            stack.pop()
            continue
        o, n, path, raw = item
        o_sub = o.subtree if o is not None and o.type is NodeType.DIR else None
        n_sub = n.subtree if n is not None and n.type is NodeType.DIR else None
        kind = _kind(o, n, metadata)
        if kind is not None:
            yield Change(kind=kind, path=path, old=o, new=n, raw_path=raw)
        if o_sub != n_sub and kind != TYPE:  # a directory become a file: its T alone, as restic's
            stack.append(level(o_sub, n_sub, path, raw))


def _kind(o: Node | None, n: Node | None, metadata: bool) -> str | None:
    """How an entry changed (None: it did not, or only in metadata without ``metadata``)."""
    if o is None or n is None:
        return ADDED if o is None else REMOVED
    if o.type is not n.type:
        return TYPE
    if _content(o) != _content(n):
        return MODIFIED
    if metadata and _metadata(o) != _metadata(n):
        return METADATA
    return None
