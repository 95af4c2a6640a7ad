"""find: which snapshots hold files matching a pattern, and where.

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

from s3vault.errors import IntegrityError, ObjectNotFoundError, UsageError
from s3vault.format import codec
from s3vault.format.tree import Node, NodeType, shown_name
from s3vault.ids import ObjectId
from s3vault.ops.ls import LsEntry, walk_tree
from s3vault.ops.snapshots import SnapshotEntry, SnapshotFilter, snapshots
from s3vault.patterns import BadPatternError, Pattern, name_matcher
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
        fold = str.lower if options.ignore_case else str
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
    if options.snapshots:
        listed = [find_snapshot(repo, ref) for ref in options.snapshots]
        chosen = [SnapshotEntry(id=sid, snapshot=snap) for sid, snap in dict(listed).items()]
        chosen.sort(key=lambda e: (e.snapshot.time, e.id))
    else:
        chosen = snapshots(repo, options.filter)
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
        try:
            return self._repo.load_tree(tid).nodes
        except (IntegrityError, ObjectNotFoundError) as exc:
            if self._on_error is None:
                raise
            self._on_error(f"tree {tid.short}", f"directory cannot be read: {exc}")
            return ()

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
