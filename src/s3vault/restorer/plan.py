"""RestorePlan: walk a snapshot's trees and decide what to create, and which blobs go where.

Every name is checked before it becomes a path: empty names, ``.``, ``..``, names with ``/`` or
NUL, and duplicate names in one directory are refused and reported (with everything below them),
never joined to the target. Every node is checked before it is used (nodes.py): one that the
restore cannot honour is refused by path, and everything else is planned. A tree that cannot be
read (missing from the index, failing authentication, not a tree) fails that directory's
contents, named, and the walk goes on; a node of a readable tree that does not decode is refused
alone (``Tree.decode_each``). Blobs are grouped by pack so each pack is read once.

The walk is iterative (an explicit stack of open directories): the depth of a tree is limited
by memory, never by the interpreter's recursion limit. Order, as a recursive walk would have it:

    for each directory, depth first, children in name order:
        refuse unsafe names and nodes; skip excluded paths
        a directory is planned before its contents; it is dropped again when nothing in it
        (nor itself) was selected
        files, links and other entries are planned when selected

Paths are not stored: every entry is ``Entry(parent directory number, name)`` (locator.py), so
a deep tree costs memory in proportion to its entries, not to the square of its depth.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

from s3vault import collector
from s3vault.errors import FormatVersionError, IntegrityError, ObjectNotFoundError
from s3vault.format.packfile import BlobType
from s3vault.format.tree import Node, NodeType, Tree, shown_name
from s3vault.ids import ObjectId
from s3vault.patterns import PatternList, fold_case
from s3vault.repository.copies import file_layout, read_length
from s3vault.repository.index import BlobLocation
from s3vault.repository.repository import Repository
from s3vault.repository.treegraph import WalkBudget
from s3vault.restorer import nodes
from s3vault.restorer.locator import ROOT, Entry

Problem = tuple[str, str]  # (path, what is wrong)
_PACK_GONE = "the pack that held it is missing from the store"


@dataclass(slots=True)
class FileTask:
    """One regular file to write."""

    entry: Entry
    node: Node
    missing: int = 0  # blobs not yet written
    failed: str = ""
    damaged: bool = False  # it failed because repository data is missing or damaged


@dataclass(slots=True)
class RestorePlan:
    """Everything a restore will do. Entries name their directory by its index in ``dirs``
    (parents before children); ``errors`` are data the repository lacks (missing or damaged
    blobs and trees), ``refused`` the entries the restore will not create, both by snapshot
    path."""

    dirs: list[tuple[Entry, Node]] = field(default_factory=list)
    files: list[FileTask] = field(default_factory=list)
    hardlinks: list[tuple[Entry, Node, Entry]] = field(default_factory=list)
    others: list[tuple[Entry, Node]] = field(default_factory=list)  # symlinks, fifos, devices
    refused: list[Problem] = field(default_factory=list)
    # pack id → blob id → (location, [(file number, offset in file)])
    packs: dict[ObjectId, dict[ObjectId, tuple[BlobLocation, list[tuple[int, int]]]]] = field(
        default_factory=dict
    )
    errors: list[Problem] = field(default_factory=list)
    total_bytes: int = 0
    # a bad copy of a blob left aside for another (repository/copies.py): said, not an error
    notices: list[Problem] = field(default_factory=list)

    @property
    def dir_entries(self) -> list[Entry]:
        """Each directory's Entry, by number (what a Locator takes)."""
        return [entry for entry, _node in self.dirs]

    @property
    def empty(self) -> bool:
        """Nothing would be created."""
        return not (self.dirs or self.files or self.hardlinks or self.others)

    @property
    def only_sockets(self) -> bool:
        """What it selects beside directories is sockets alone, which no restore creates."""
        return (
            bool(self.others)
            and not (self.files or self.hardlinks)
            and all(node.type is NodeType.SOCKET for _entry, node in self.others)
        )

    def shown(self, entry: Entry) -> str:
        """The entry's path in the snapshot, for messages (``/dir/name``)."""
        parts = [entry.name]
        number = entry.parent
        while number != ROOT:
            up = self.dirs[number][0]
            parts.append(up.name)
            number = up.parent
        return "/" + "/".join(shown_name(p) for p in reversed(parts))


def unsafe_name(name: bytes) -> str:
    """Why a node name cannot be a path component, or empty when it can."""
    if name in (b"", b".", b".."):
        return f"refusing the name {name!r}"
    if b"/" in name or b"\0" in name:
        return "refusing a name that contains '/' or NUL"
    return ""


@dataclass(frozen=True, slots=True)
class Listing:
    """A directory's readable nodes, the nodes that do not decode, or why none can be read."""

    nodes: tuple[Node, ...] = ()
    refused: tuple[tuple[str, str], ...] = ()  # (name, reason)
    error: str = ""  # the whole tree is unreadable: data missing or damaged
    newer: str = ""  # the tree has a newer format than this s3vault reads


def load_listing(repo: Repository, tid: ObjectId) -> Listing:
    """Read a tree for a walk that goes on past damage: never raises for one tree's sake.

    A tree whose blob is missing, fails authentication or is not a tree gives ``error``; a
    readable tree with nodes that do not decode gives the others and names those in ``refused``.

    Raises:
        BackendError: storage failed for other reasons than a missing pack (unreachable).
    """
    try:
        return Listing(nodes=repo.load_tree(tid).nodes)
    except (IntegrityError, ObjectNotFoundError, FormatVersionError):
        pass  # the strict read failed: find out whether the blob or one node is to blame
    try:
        tree, bad = Tree.decode_each(repo.load_blob(BlobType.TREE, tid))
    except FormatVersionError as exc:
        return Listing(newer=f"tree {tid.short} cannot be read: {exc}")
    except (IntegrityError, ObjectNotFoundError) as exc:
        return Listing(error=f"tree {tid.short} cannot be read: {exc}")
    return Listing(nodes=tree.nodes, refused=tuple((e.name, e.reason) for e in bad))


@dataclass(frozen=True, slots=True)
class Patterns:
    """restore's path patterns: ``include`` and ``exclude`` as given, and restic's
    case-insensitive ``iinclude`` and ``iexclude`` (lowercased, matched against the
    lowercased path, as backup's --iexclude)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    iinclude: tuple[str, ...] = ()
    iexclude: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude or self.iinclude or self.iexclude)


class _Selector:
    def __init__(self, patterns: Patterns, select: Callable[[str], bool] | None) -> None:
        self._inc = _either(patterns.include, patterns.iinclude, "include")
        self._exc = _either(patterns.exclude, patterns.iexclude, "exclude")
        self._select = select

    @property
    def needs_paths(self) -> bool:
        """Whether decisions look at paths (else no path is built during the walk)."""
        return self._inc is not None or self._exc is not None or self._select is not None

    def excluded(self, rel: str, is_dir: bool) -> bool:
        return self._exc is not None and self._exc(rel)

    def included(self, rel: str, is_dir: bool) -> bool:
        if self._select is not None:  # it knows paths as shown: a byte that is no UTF-8 \xNN,
            return not is_dir and self._select(shown_name(os.fsencode(rel)))  # \ doubled
        return self._inc is None or self._inc(rel)

    @property
    def filtering(self) -> bool:
        return self._inc is not None or self._select is not None


def _either(
    exact: tuple[str, ...], folded: tuple[str, ...], what: str
) -> Callable[[str], bool] | None:
    """Whether a path matches the ``exact`` patterns or, lowercased, the ``folded`` ones (the
    --i form of ``what``); None when there are none."""
    plain = PatternList(exact, what=f"--{what}") if exact else None
    lower = PatternList([fold_case(p) for p in folded], what=f"--i{what}") if folded else None
    if plain is None and lower is None:
        return None
    return lambda rel: bool(
        (plain is not None and plain.matches(rel))
        or (lower is not None and lower.matches(fold_case(rel)))
    )


@dataclass(slots=True)
class _Frame:
    """One directory being walked."""

    number: int  # its index in plan.dirs, or ROOT
    nodes: Iterator[Node]
    here: bool  # the directory itself is selected (so is everything in it)
    rel: str  # its snapshot path when the selector needs paths ("" for the root), else ""
    names: set[bytes] = field(default_factory=set)
    selected: bool = False  # something in it was selected


def _same_content(first: Node, node: Node) -> bool:
    return (first.size, first.content_hash, first.content) == (
        node.size,
        node.content_hash,
        node.content,
    )


class _Planner:
    """Builds a RestorePlan by walking trees depth-first in name order (iteratively)."""

    def __init__(self, repo: Repository, sel: _Selector, budget: WalkBudget) -> None:
        self.repo = repo
        self.budget = budget
        self.sel = sel
        self.plan = RestorePlan()
        # (device, inode) → the first name planned, with the content it restores
        self.seen_inodes: dict[tuple[int, int], tuple[Entry, Node]] = {}
        self.packs: dict[ObjectId, dict[ObjectId, tuple[BlobLocation, list[tuple[int, int]]]]] = (
            defaultdict(dict)
        )
        self.measure = partial(read_length, repo)

    def add_file(self, entry: Entry, node: Node) -> None:
        plan = self.plan
        if node.links > 1:
            seen = self.seen_inodes.get((node.device, node.inode))
            # a further name, linked to the first one if it has the same content: a backup
            # that met the inode changed between its names recorded each name's own content,
            # which this name restores as a file of its own
            if seen is not None and _same_content(seen[1], node):
                plan.hardlinks.append((entry, node, seen[0]))
                return
        content = node.content
        layout = file_layout(self.repo.index, content, node.size, self.measure)
        if layout.missing is not None:  # not planned: its name is in the errors
            why = f"data blob {layout.missing.short} is not in the index"
            if self.repo.lost_with_a_pack(BlobType.DATA, layout.missing):  # an attack pass:
                # "not in the index" sent the operator to the index, when a pack is gone
                why = f"data blob {layout.missing.short}: {_PACK_GONE}"
            plan.errors.append((plan.shown(entry), why))
            return
        if layout.unreadable is not None:
            why = f"data blob {layout.unreadable.short} cannot be read from any of its copies"
            plan.errors.append((plan.shown(entry), why))
            return
        if not layout.fits:  # no choice among the blobs' copies adds up
            why = f"size {node.size} does not match its content ({layout.total} bytes)"
            plan.refused.append((plan.shown(entry), why))
            return
        for bid, bad, taken in layout.passed_over:  # a copy of a length that cannot be right
            self.repo.tree_reads.failed(bad.pack_id)  # a read-back proves nothing of its pack
            plan.notices.append(
                (
                    plan.shown(entry),
                    f"data blob {bid.short}: the copy in pack {bad.pack_id.short} has a "
                    f"length ({bad.raw_length} bytes) that does not fit the file; read from "
                    f"its copy in pack {taken.pack_id.short}",
                )
            )
        locations = layout.locations
        if node.links > 1:
            self.seen_inodes.setdefault((node.device, node.inode), (entry, node))
        number = len(plan.files)
        offset = 0
        packs = self.packs
        for bid, loc in zip(content, locations, strict=True):
            blobs = packs[loc.pack_id]
            slot = blobs.get(bid)
            if slot is None:
                blobs[bid] = (loc, [(number, offset)])
            else:
                slot[1].append((number, offset))
            offset += loc.raw_length
        plan.files.append(FileTask(entry=entry, node=node, missing=len(locations)))
        plan.total_bytes += node.size

    def _name_ok(self, frame: _Frame, node: Node) -> bool:
        """Whether the node's name can be a path component here (refused entries are reported
        whether selected or not: nothing below them can be matched)."""
        why = unsafe_name(node.name)
        if not why and node.name in frame.names:
            why = "duplicate name in one directory"
        if why:
            self.plan.refused.append((self.plan.shown(Entry(frame.number, node.name)), why))
            return False
        frame.names.add(node.name)
        return True

    def _open(self, number: int, tid: ObjectId | None, here: bool, rel: str) -> _Frame:
        """A frame for directory ``number``; its listing's problems are reported now."""
        listing = load_listing(self.repo, tid) if tid is not None else Listing()
        if tid is not None:
            self.budget.listed(tid, listing.nodes)
        if listing.error or listing.newer or listing.refused:
            self._report(number, listing)
        return _Frame(number=number, nodes=iter(listing.nodes), here=here, rel=rel)

    def _report(self, number: int, listing: Listing) -> None:
        """A directory's listing is damaged: name what is lost."""
        plan = self.plan
        base = "" if number == ROOT else plan.shown(plan.dirs[number][0])
        if listing.error:
            plan.errors.append((base + "/", listing.error))
        elif listing.newer:
            plan.refused.append((base + "/", listing.newer))
        for name, reason in listing.refused:
            plan.refused.append((f"{base}/{name}", f"node does not decode: {reason}"))

    def _close(self, frame: _Frame, parent: _Frame) -> None:
        """A directory is walked: keep it if it or anything in it was selected."""
        if frame.here or frame.selected:
            parent.selected = True
        else:  # nothing in it was kept: it is the last directory planned
            self.plan.dirs.pop()

    def _add(self, frame: _Frame, entry: Entry, node: Node) -> None:
        """Plan a selected entry that is not a directory."""
        why = nodes.refusal(node)
        if why:
            self.plan.refused.append((self.plan.shown(entry), why))
        elif node.type is NodeType.FILE:
            self.add_file(entry, node)
        else:
            self.plan.others.append((entry, node))
        frame.selected = True  # even refused: the selection matched something

    def walk(self, tree_id: ObjectId, here: bool) -> None:
        """Plan the whole tree below ``tree_id`` (the target directory)."""
        plan, sel = self.plan, self.sel
        paths = sel.needs_paths
        stack = [self._open(ROOT, tree_id, here, "")]
        while stack:
            frame = stack[-1]
            node = next(frame.nodes, None)
            if node is None:
                stack.pop()
                if stack:
                    self._close(frame, stack[-1])
                continue
            if not self._name_ok(frame, node):
                continue
            entry = Entry(frame.number, node.name)
            is_dir = node.type is NodeType.DIR
            if paths:  # a name's own bytes (as backup's excludes match them, and restic)
                rel = f"{frame.rel}/{os.fsdecode(node.name)}"
                if sel.excluded(rel, is_dir):
                    continue
                selected = frame.here or sel.included(rel, is_dir)
            else:  # no pattern, no predicate: everything is selected
                rel, selected = "", True
            if is_dir:
                plan.dirs.append((entry, node))
                stack.append(self._open(len(plan.dirs) - 1, node.subtree, selected, rel))
            elif selected:
                self._add(frame, entry, node)


def plan_restore(
    repo: Repository,
    tree_id: ObjectId,
    *,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    iinclude: tuple[str, ...] = (),
    iexclude: tuple[str, ...] = (),
    select: Callable[[str], bool] | None = None,
    snapshot: ObjectId | None = None,
) -> RestorePlan:
    """Plan the restore of a tree (of ``snapshot``, named if its tree graph is refused); the
    patterns as restore's options (``iinclude``, ``iexclude``: ignoring case); ``select`` (a
    predicate on snapshot paths such as ``/etc/hosts``) picks individual files instead of
    include patterns. Damage and refused entries are in the plan (``errors``, ``refused``),
    never raised, except a tree graph that expands without end.

    Raises:
        BackendError: storage unreachable.
        TreeGraphError: the trees name the same directories over and over (treegraph.py).
    """
    sel = _Selector(Patterns(include, exclude, iinclude, iexclude), select)
    budget = WalkBudget(repo, (tree_id,), snapshot)
    planner = _Planner(repo, sel, budget)
    with collector.paused():  # the walk allocates an object or more per entry, frees none
        planner.walk(tree_id, not sel.filtering)
    planner.plan.packs = dict(planner.packs)
    return planner.plan
