"""find: which snapshots hold files matching a pattern, and where.

A pattern without ``/`` matches an entry's name (``*.conf``), one with ``/`` its whole path
(``/etc/*/nginx.conf``), as shell globs. Trees are content-addressed, so a directory that is
the same in many snapshots is searched once (for name patterns)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field

from s3vault.format.tree import Node, NodeType
from s3vault.ids import ObjectId
from s3vault.ops.ls import LsEntry, walk_tree
from s3vault.ops.snapshots import SnapshotEntry, SnapshotFilter, snapshots
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import find_snapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class FindOptions:
    """What to look for, and in which snapshots (none named: every one the filter selects)."""

    patterns: tuple[str, ...]
    snapshots: tuple[str, ...] = ()  # ids, id prefixes, latest, latest~N
    filter: SnapshotFilter = field(default_factory=SnapshotFilter)
    ignore_case: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class FindResult:
    """The matches in one snapshot."""

    snapshot: SnapshotEntry
    matches: tuple[LsEntry, ...]


class _Matcher:
    def __init__(self, options: FindOptions) -> None:
        fold = str.lower if options.ignore_case else str
        self._fold = fold
        self.names = tuple(fold(p) for p in options.patterns if "/" not in p)
        self.paths = tuple(fold(p) for p in options.patterns if "/" in p)

    def name(self, name: str) -> bool:
        folded = self._fold(name)
        return any(fnmatch.fnmatchcase(folded, p) for p in self.names)

    def path(self, path: str) -> bool:
        folded = self._fold(path)
        return any(fnmatch.fnmatchcase(folded, p) for p in self.paths)


def find(repo: Repository, options: FindOptions) -> Iterator[FindResult]:
    """The snapshots with matches, oldest first, each with its matching entries in path order.

    Raises:
        UsageError: a named snapshot does not exist (or its prefix is ambiguous).
    """
    if options.snapshots:
        listed = [find_snapshot(repo, ref) for ref in options.snapshots]
        chosen = [SnapshotEntry(id=sid, snapshot=snap) for sid, snap in dict(listed).items()]
        chosen.sort(key=lambda e: (e.snapshot.time, e.id))
    else:
        chosen = snapshots(repo, options.filter)
    match = _Matcher(options)
    by_name: dict[ObjectId, tuple[tuple[str, Node], ...]] = {}

    def named_below(tid: ObjectId) -> tuple[tuple[str, Node], ...]:
        """Entries below a tree whose name matches, with paths relative to it (memoised)."""
        if tid not in by_name:
            out: list[tuple[str, Node]] = []
            for node in repo.load_tree(tid).nodes:
                rel = "/" + node.display_name
                if match.name(node.display_name):
                    out.append((rel, node))
                if node.type is NodeType.DIR and node.subtree is not None:
                    out.extend((rel + sub, n) for sub, n in named_below(node.subtree))
            by_name[tid] = tuple(out)
        return by_name[tid]

    for entry in chosen:
        found = dict(named_below(entry.snapshot.tree)) if match.names else {}
        if match.paths:
            found.update(
                (e.path, e.node) for e in walk_tree(repo, entry.snapshot.tree) if match.path(e.path)
            )
        if found:
            yield FindResult(
                snapshot=entry,
                matches=tuple(LsEntry(path=p, node=n) for p, n in sorted(found.items())),
            )
