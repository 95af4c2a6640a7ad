"""find: which snapshots hold files matching a pattern, and where; or, as restic's ``find
--blob/--tree/--pack``, which files and directories use given blobs, trees or packs (the
question after a pack is found damaged or missing: what does it take with it).

Patterns have restic's rules (``s3vault.patterns``), as restic's find, which runs them through
its exclude filter: what is below a match matches too. A pattern without ``/`` matches an
entry's name at any depth as Go's ``filepath.Match`` does (``*.conf``, ``[^r]*``, ``\\`` an
escape), and ``\\xNN`` in it is the byte ``ls`` shows so; one with ``/`` is a path pattern
(``/etc/*/nginx.conf`` from the root, ``conf/app.ini`` at any depth, ``**``). Trees are
content-addressed, so a directory that is the same in many snapshots is searched once (for
name patterns)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

from s3vault.errors import IntegrityError, ObjectNotFoundError, UsageError
from s3vault.format import codec
from s3vault.format.packfile import BlobType
from s3vault.format.tree import Node, NodeType, shown_name
from s3vault.ids import ObjectId
from s3vault.ops.ls import LsEntry, walk_tree
from s3vault.ops.records import refuse_bare_strings
from s3vault.ops.snapshots import SnapshotEntry, SnapshotFilter, snapshots
from s3vault.patterns import BadPatternError, Pattern, fold_case, name_matcher
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import find_snapshot
from s3vault.repository.treegraph import TreeGraphError, WalkBudget
from s3vault.repository.treewalk import children_first


@dataclass(frozen=True, slots=True, kw_only=True)
class FindOptions:
    """What to look for, and in which snapshots (none named: every one the filter selects)."""

    patterns: tuple[str, ...]
    snapshots: tuple[str, ...] = ()  # ids, id prefixes, latest, latest~N
    filter: SnapshotFilter = field(default_factory=SnapshotFilter)
    ignore_case: bool = False
    oldest: datetime | None = None  # restic's --oldest: entries modified before are left out
    newest: datetime | None = None  # and --newest: those modified after

    def __post_init__(self) -> None:
        refuse_bare_strings(self)

    def in_period(self, entry: LsEntry) -> bool:
        """Whether an entry's modification time lies within ``oldest`` .. ``newest``."""
        ns = entry.node.mtime_ns
        if self.oldest is not None and ns < _ns(self.oldest):
            return False
        return self.newest is None or ns <= _ns(self.newest)


def _ns(when: datetime) -> int:
    """Nanoseconds since the epoch, exact before 1970 too (timestamp() rounds toward zero)."""
    return (when - _EPOCH) // timedelta(microseconds=1) * 1000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class FindResult:
    """The matches in one snapshot."""

    snapshot: SnapshotEntry
    matches: tuple[LsEntry, ...]


class _Matcher:
    def __init__(self, options: FindOptions) -> None:
        fold = fold_case if options.ignore_case else str
        self._fold = fold
        # Both kinds match the stored bytes (a pattern and a name as the command line and
        # os.fsdecode give them), as restore's --include does. Without "/": a name, as Go's
        # filepath.Match ([^r] is "not r", "\\" escapes: fnmatch read both as characters and
        # found the other files, or none). With "/": at any depth unless it starts with "/",
        # ** for any depth.
        try:
            self.names = tuple(
                name_matcher(fold(codec.unshown(p))).fullmatch
                for p in options.patterns
                if "/" not in p
            )
            self.paths = tuple(
                Pattern.parse(fold(codec.unshown(p))) for p in options.patterns if "/" in p
            )
        except BadPatternError as exc:
            msg = f"find: a pattern is not valid: {exc}"
            raise UsageError(msg) from None

    def name(self, name: bytes) -> bool:
        folded = self._fold(os.fsdecode(name))
        return any(match(folded) is not None for match in self.names)

    def path(self, path: str) -> bool:
        folded = self._fold(path)
        return any(p.matches(folded) for p in self.paths)


def find(
    repo: Repository,
    options: FindOptions,
    *,
    on_error: Callable[[str, str], None] | None = None,
) -> Iterator[FindResult]:
    """The snapshots with matches, oldest first, each with its matching entries in path order.
    A directory that cannot be read is told to ``on_error(path, reason)`` and left out
    (without ``on_error`` that raises).

    Raises:
        UsageError: a named snapshot does not exist (or its prefix is ambiguous).
        IntegrityError: a named snapshot is damaged.
    """
    repo = repo.current()  # what this process stored since the handle's index was read
    chosen = _chosen(repo, options.snapshots, options.filter)
    repo = repo.covering(*(e.snapshot.tree for e in chosen))  # stored since the index was read
    match = _Matcher(options)
    named = _NamedBelow(repo, match, on_error)
    for entry in chosen:
        try:
            found = _search(repo, entry, match, named, on_error)
        except TreeGraphError as exc:
            if on_error is None or options.snapshots:
                raise
            on_error(f"snapshot {entry.id.short}", exc.reason)
            continue
        kept = [e for e in found.values() if options.in_period(e)]
        if kept:
            yield FindResult(
                snapshot=entry, matches=tuple(sorted(kept, key=lambda e: (e.path, e.raw)))
            )


def _chosen(repo: Repository, refs: tuple[str, ...], select: SnapshotFilter) -> list[SnapshotEntry]:
    """The snapshots a find searches, oldest first: those named, or those ``select`` picks.

    Raises:
        UsageError: a named snapshot does not exist (or its prefix is ambiguous).
        IntegrityError: a named snapshot is damaged.
    """
    if not refs:
        return snapshots(repo, select)
    listed = [find_snapshot(repo, ref) for ref in refs]
    chosen = [SnapshotEntry(id=sid, snapshot=snap) for sid, snap in dict(listed).items()]
    chosen.sort(key=lambda e: (e.snapshot.time, e.id))
    return chosen


def _search(
    repo: Repository,
    entry: SnapshotEntry,
    match: _Matcher,
    named: _NamedBelow,
    on_error: Callable[[str, str], None] | None,
) -> dict[bytes, LsEntry]:
    """One snapshot's matches by their stored path (two names shown alike are two matches)."""
    found = {e.raw: e for e in named.below(entry.snapshot.tree, entry.id)} if match.names else {}
    if match.paths:
        walk = walk_tree(repo, entry.snapshot.tree, on_error=on_error, snapshot=entry.id)
        found.update(
            (e.raw or os.fsencode(e.path), e)
            for e in walk
            if match.path(os.fsdecode(e.raw) if e.raw else e.path)
        )
    return found


# one tree's matching entries, and its subdirectories (name, tree) with a match below
_Found = tuple[tuple[Node, ...], tuple[tuple[bytes, ObjectId], ...]]


class _NamedBelow:
    """Entries below a tree whose name matches, with paths relative to it. Per tree id the
    memo keeps its own matching entries and the subdirectories with a match below (a
    directory shared by many snapshots is searched once); paths are joined only when a
    snapshot's matches are listed, so memory follows the matches, not their depth (a tree
    2,500 levels deep whose every directory matched held 4 GB of joined paths). Explicit
    stacks: no recursion, whatever the depth."""

    def __init__(
        self,
        repo: Repository,
        match: _Matcher,
        on_error: Callable[[str, str], None] | None,
    ) -> None:
        self._repo = repo
        self._match = match
        self._on_error = on_error
        self._memo: dict[ObjectId, _Found] = {}

    def _nodes(self, tid: ObjectId) -> tuple[Node, ...]:
        return _nodes(self._repo, tid, self._on_error)

    def below(self, root: ObjectId, sid: ObjectId) -> list[LsEntry]:
        """The matches below ``root`` (of snapshot ``sid``).

        Raises:
            TreeGraphError: the matches repeat without end (treegraph.py): a tree that many
                directories share is listed through each.
        """
        self._search(root)
        budget = WalkBudget(self._repo, (root,), sid)
        out: list[LsEntry] = []
        stack: list[tuple[ObjectId, _Where, bool]] = [(root, ("", b""), False)]  # whole?
        while stack:
            tid, where, whole = stack.pop()
            if whole:  # below a matching directory: everything matches, as in restic's find
                nodes = self._nodes(tid)
                budget.listed(tid, nodes)
                out.extend(_entry(where, node) for node in nodes)
                stack.extend((sub, at, True) for at, sub in _dirs(where, nodes))
                continue
            own, subs = self._memo[tid]
            budget.meet(len(own) + len(subs))
            out.extend(_entry(where, node) for node in own)
            matched = _dirs(where, own)
            stack.extend((sub, at, True) for at, sub in matched)
            listed = {at[1] for at, _ in matched}  # by the stored bytes: shown alike is not alike
            stack.extend(
                (sub, at, False) for name, sub in subs if (at := _at(where, name))[1] not in listed
            )
        return out

    def _search(self, root: ObjectId) -> None:
        """Fill the memo for every tree below ``root``, children first."""
        memo, match = self._memo, self._match
        for tid, nodes in children_first(root, self._nodes, memo):
            own = tuple(n for n in nodes if match.name(n.name))
            subs = tuple(
                (n.name, n.subtree)
                for n in nodes
                if n.type is NodeType.DIR and n.subtree is not None and any(memo[n.subtree])
            )
            memo[tid] = (own, subs)


def _nodes(
    repo: Repository, tid: ObjectId, on_error: Callable[[str, str], None] | None
) -> tuple[Node, ...]:
    """A tree's nodes; one that cannot be read is told to ``on_error`` (and has none), or
    raises without it."""
    try:
        return repo.load_tree(tid).nodes
    except (IntegrityError, ObjectNotFoundError) as exc:
        if on_error is None:
            raise
        on_error(f"tree {tid.short}", f"directory cannot be read: {exc}")
        return ()


# a path in the snapshot: (as shown, as stored)
_Where = tuple[str, bytes]


def _at(where: _Where, name: bytes) -> _Where:
    """The path of ``name`` in the directory at ``where``."""
    return f"{where[0]}/{shown_name(name)}", where[1] + b"/" + name


def _entry(where: _Where, node: Node) -> LsEntry:
    shown, raw = _at(where, node.name)
    return LsEntry(path=shown, node=node, raw=raw)


def _dirs(where: _Where, nodes: tuple[Node, ...]) -> list[tuple[_Where, ObjectId]]:
    """(path, tree) of the directories among ``nodes`` (in the directory at ``where``)."""
    return [
        (_at(where, n.name), n.subtree)
        for n in nodes
        if n.type is NodeType.DIR and n.subtree is not None
    ]


# By object id (restic's find --blob, --tree, --pack) -------------------------------------------

ID_KINDS = ("blob", "tree", "pack")


@dataclass(frozen=True, slots=True, kw_only=True)
class FindIdsOptions:
    """Ids or id prefixes (hex) of data blobs (``kind`` "blob"), trees ("tree") or packs
    ("pack": every blob the index places in them), and the snapshots to search."""

    kind: str
    ids: tuple[str, ...]
    snapshots: tuple[str, ...] = ()
    filter: SnapshotFilter = field(default_factory=SnapshotFilter)

    def __post_init__(self) -> None:
        refuse_bare_strings(self)


@dataclass(frozen=True, slots=True)
class Wanted:
    """What a search by id looks for: data blobs and trees by full id; ``unknown``: the
    prefixes that name nothing in the index (a full id is searched for all the same: the
    files that need a blob the index lost)."""

    blobs: frozenset[ObjectId]
    trees: frozenset[ObjectId]
    unknown: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IdMatch:
    """A file whose content holds a wanted data blob, or a directory whose tree is wanted
    (``node`` None: the snapshot's root tree, path ``/``); ``packs``: the packs the index
    holds that blob or tree in (none: it is not in the index)."""

    path: str
    node: Node | None
    btype: BlobType
    id: ObjectId
    packs: tuple[ObjectId, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FindIdsResult:
    """The matches in one snapshot."""

    snapshot: SnapshotEntry
    matches: tuple[IdMatch, ...]


def wanted(repo: Repository, options: FindIdsOptions) -> Wanted:
    """Resolve ``options.ids`` against the index (``repo`` has it loaded).

    Raises:
        UsageError: an id is not hexadecimal, or the kind is unknown.
    """
    if options.kind not in ID_KINDS:
        raise UsageError(f"find: unknown kind of id {options.kind!r}")
    prefixes = []
    for text in options.ids:
        low = text.strip().lower()
        if not low or any(c not in "0123456789abcdef" for c in low) or len(low) > 64:
            raise UsageError(f"find: {text!r} is not a {options.kind} id (hexadecimal digits)")
        prefixes.append(low)
    found: dict[str, set[tuple[BlobType, ObjectId]]] = {p: set() for p in prefixes}
    whole = options.kind != "pack" and all(len(p) == 64 for p in prefixes)
    for btype, bid, loc in () if whole else repo.index.entries():  # full ids need no scan
        named = loc.pack_id.hex() if options.kind == "pack" else bid.hex()
        if options.kind != "pack" and btype is not _BTYPE[options.kind]:
            continue
        for p in prefixes:
            if named.startswith(p):
                found[p].add((btype, bid))
    if options.kind != "pack":  # a full id: searched whether the index has it or not
        btype = _BTYPE[options.kind]
        for p in prefixes:
            if len(p) == 64:
                found[p].add((btype, ObjectId(bytes.fromhex(p))))
    every = set().union(*found.values())
    return Wanted(
        blobs=frozenset(bid for btype, bid in every if btype is BlobType.DATA),
        trees=frozenset(bid for btype, bid in every if btype is BlobType.TREE),
        unknown=tuple(p for p in prefixes if not found[p]),
    )


_BTYPE = {"blob": BlobType.DATA, "tree": BlobType.TREE}


def find_ids(
    repo: Repository,
    options: FindIdsOptions,
    want: Wanted,
    *,
    on_error: Callable[[str, str], None] | None = None,
) -> Iterator[FindIdsResult]:
    """The snapshots that use what ``want`` names (``wanted``), oldest first, each with its
    files and directories that do, in path order. A directory that cannot be read is told
    to ``on_error(path, reason)`` and left out (without ``on_error`` that raises).

    Raises:
        UsageError: a named snapshot does not exist (or its prefix is ambiguous).
        IntegrityError: a named snapshot is damaged.
    """
    repo = repo.current()  # what this process stored since the handle's index was read
    chosen = _chosen(repo, options.snapshots, options.filter)
    below = _UsersBelow(repo, want, on_error)
    for entry in chosen:
        try:
            found = below.below(entry.snapshot.tree, entry.id)
        except TreeGraphError as exc:
            if on_error is None or options.snapshots:
                raise
            on_error(f"snapshot {entry.id.short}", exc.reason)
            continue
        if found:
            found.sort(key=lambda m: (m.path, m.btype.value, m.id))
            yield FindIdsResult(snapshot=entry, matches=tuple(found))


# one tree's own users of wanted ids (node, type, id), and its subdirectories with some below
_Users = tuple[tuple[tuple[Node, BlobType, ObjectId], ...], tuple[tuple[bytes, ObjectId], ...]]


class _UsersBelow:
    """As ``_NamedBelow``, for ids: per tree id the memo keeps its entries that use a wanted
    id and its subdirectories with such an entry below (a tree many snapshots share is read
    once); explicit stacks, whatever the depth."""

    def __init__(
        self, repo: Repository, want: Wanted, on_error: Callable[[str, str], None] | None
    ) -> None:
        self._repo = repo
        self._want = want
        self._on_error = on_error
        self._users: dict[ObjectId, _Users] = {}

    def below(self, root: ObjectId, sid: ObjectId) -> list[IdMatch]:
        """The users of wanted ids below ``root`` (of snapshot ``sid``), the root included.

        Raises:
            TreeGraphError: the matches repeat without end (treegraph.py).
        """
        self._search_users(root)
        budget = WalkBudget(self._repo, (root,), sid)
        out = [self._match("/", None, BlobType.TREE, root)] if root in self._want.trees else []
        stack: list[tuple[ObjectId, _Where]] = [(root, ("", b""))]
        while stack:
            tid, where = stack.pop()
            own, subs = self._users[tid]
            budget.meet(len(own) + len(subs))
            out.extend(self._match(_at(where, n.name)[0], n, t, i) for n, t, i in own)
            stack.extend((sub, _at(where, name)) for name, sub in subs)
        return out

    def _match(self, path: str, node: Node | None, btype: BlobType, bid: ObjectId) -> IdMatch:
        packs = tuple(dict.fromkeys(loc.pack_id for loc in self._repo.index.locations(btype, bid)))
        return IdMatch(path=path, node=node, btype=btype, id=bid, packs=packs)

    def _search_users(self, root: ObjectId) -> None:
        """Fill the memo for every tree below ``root``, children first."""
        memo, blobs, trees = self._users, self._want.blobs, self._want.trees
        nodes_of = partial(_nodes, self._repo, on_error=self._on_error)
        for tid, nodes in children_first(root, nodes_of, memo):
            own: list[tuple[Node, BlobType, ObjectId]] = []
            for n in nodes:
                if n.type is NodeType.DIR and n.subtree in trees:
                    own.append((n, BlobType.TREE, n.subtree))
                own.extend((n, BlobType.DATA, b) for b in dict.fromkeys(n.content) if b in blobs)
            subs = tuple(
                (n.name, n.subtree)
                for n in nodes
                if n.type is NodeType.DIR and n.subtree is not None and any(memo[n.subtree])
            )
            memo[tid] = (tuple(own), subs)
