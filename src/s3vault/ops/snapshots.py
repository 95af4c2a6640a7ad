"""snapshots: list snapshots, filtered by host, tag and path; the latest N of each host and
paths; grouped as restic's ``--group-by``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from s3vault.errors import UsageError
from s3vault.format import codec
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.format.tree import shown_name
from s3vault.ids import ObjectId
from s3vault.maintenance.retention import group_by_keys
from s3vault.ops.records import refuse_bare_strings
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import find_snapshot, list_snapshots, load_snapshot
from s3vault.tags import TagList, matches, tag_lists


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotFilter:
    """Which snapshots to select (empty = all), as restic's ``--host``, ``--tag`` and ``--path``.

    ``tags`` are tag lists (s3vault.tags); a string element is restic's spelling: ``("a,b",
    "c")`` selects snapshots tagged both a and b, or tagged c.
    """

    hosts: tuple[str, ...] = ()
    tags: tuple[TagList, ...] = ()
    paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        refuse_bare_strings(self)
        object.__setattr__(self, "tags", tag_lists(self.tags))

    def matches(self, snap: SnapshotFile, paths: tuple[frozenset[str], ...] | None = None) -> bool:
        """Every given criterion holds: the host is one of hosts, the tags satisfy one of the
        tag lists, every path is one of the snapshot's (``paths``: as ``chosen`` resolved
        them; else each path in every spelling it may have)."""
        if self.hosts and snap.hostname not in self.hosts:
            return False
        if not matches(snap.tags, self.tags):
            return False
        resolved = paths if paths is not None else resolve_paths(self.paths)
        return all(not spellings.isdisjoint(snap.paths) for spellings in resolved)

    def chosen(
        self, snapshots: Iterable[tuple[ObjectId, SnapshotFile]]
    ) -> list[tuple[ObjectId, SnapshotFile]]:
        """The snapshots among ``snapshots`` that match, each --path resolved against the
        paths that those of the hosts and tags asked for record (``resolve_paths``: another
        host's directory named as typed made a path as shown select none of this host's)."""
        pairs = [(sid, snap) for sid, snap in snapshots if self.matches(snap, ())]
        recorded = {p for _sid, snap in pairs for p in snap.paths}
        paths = resolve_paths(self.paths, recorded)
        return [(sid, snap) for sid, snap in pairs if self.matches(snap, paths)]


def path_spellings(asked: str) -> tuple[str, ...]:
    """The texts a snapshot's ``paths`` may record for a path asked for (``--path``), the
    exact one first: the path itself, as a backup records it (ops/backup.py ``shown_path``:
    its own backslashes doubled, a byte that is no UTF-8 as \\xNN); then the text as pasted
    from a listing (``x\\xfe`` and ``nl\\nx`` there name the byte fe and a line break; a
    snapshot made before backslashes were doubled records a path's own backslash single)."""
    spellings = []
    with contextlib.suppress(UnicodeEncodeError):  # a lone surrogate: only as pasted
        raw = os.fsencode(asked)
        spellings += [shown_name(raw), shown_name(codec.unshown_name(raw))]
    spellings.append(codec.readable(asked))
    return tuple(dict.fromkeys(spellings))


def resolve_paths(
    asked: Sequence[str], recorded: Collection[str] | None = None
) -> tuple[frozenset[str], ...]:
    """The spellings each asked path selects: the exact one alone where a snapshot among
    ``recorded`` has it (``x\\xfe`` typed for the directory named so chose the snapshots
    of the one with the byte fe too: an attack pass, 2026-12-07), else every spelling."""
    out = []
    for path in asked:
        spellings = path_spellings(path)
        exact = recorded is not None and spellings[0] in recorded
        out.append(frozenset(spellings[:1] if exact else spellings))
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotEntry:
    """A snapshot and its id."""

    id: ObjectId
    snapshot: SnapshotFile


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotGroup:
    """Snapshots that share what ``--group-by`` names (a field is empty when not grouped by)."""

    host: str
    paths: tuple[str, ...]
    tags: tuple[str, ...]
    entries: tuple[SnapshotEntry, ...]


def _key(snap: SnapshotFile, keys: Sequence[str]) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    return (
        snap.hostname if "host" in keys else "",
        tuple(sorted(snap.paths)) if "paths" in keys else (),
        tuple(sorted(snap.tags)) if "tags" in keys else (),
    )


def snapshots(
    repo: Repository,
    filt: SnapshotFilter | None = None,
    *,
    latest: int | None = None,
    ids: Sequence[str] = (),
) -> list[SnapshotEntry]:
    """Matching snapshots, oldest first; with ``latest``, only the newest ``latest`` of each
    host and set of paths (restic's ``--latest``); with ``ids`` (id prefixes, ``latest``,
    ``latest~N``, as restic's ``snapshots ID...``), only those, among the matching ones.

    Raises:
        UsageError: ``latest`` below 1; an id that matches none, or several.
    """
    filt = filt or SnapshotFilter()
    entries = [
        SnapshotEntry(id=sid, snapshot=snap) for sid, snap in filt.chosen(list_snapshots(repo))
    ]
    if ids:
        pairs = [(e.id, e.snapshot) for e in entries]
        named = {find_snapshot(repo, ref, snapshots=pairs)[0] for ref in ids}
        entries = [e for e in entries if e.id in named]
    if latest is None:
        return entries
    return latest_of(entries, latest)


def latest_of(entries: Sequence[SnapshotEntry], latest: int) -> list[SnapshotEntry]:
    """The newest ``latest`` of each host and set of paths among ``entries``, in their order
    (restic's ``--latest``; with ``--group-by`` it applies within each group).

    Raises:
        UsageError: ``latest`` below 1.
    """
    if latest < 1:
        raise UsageError(f"--latest {latest}: give 1 or more (0 for all)")
    by_source: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[SnapshotEntry]] = {}
    for entry in entries:
        by_source.setdefault(_key(entry.snapshot, ("host", "paths")), []).append(entry)
    kept: set[ObjectId] = set()
    for members in by_source.values():
        newest = sorted(members, key=lambda e: (e.snapshot.time, e.id.hex()))
        kept.update(e.id for e in newest[-latest:])
    return [e for e in entries if e.id in kept]


def snapshot_entry(repo: Repository, sid: ObjectId) -> SnapshotEntry:
    """One snapshot by its full id, read alone (``ls --json``'s first line: not every
    snapshot of the repository, as ``snapshots`` reads them).

    Raises:
        ObjectNotFoundError, IntegrityError: the snapshot file is gone or damaged.
    """
    return SnapshotEntry(id=sid, snapshot=load_snapshot(repo, sid))


def group_snapshots(
    entries: Sequence[SnapshotEntry], group_by: Sequence[str], *, latest: int | None = None
) -> list[SnapshotGroup]:
    """``entries`` in groups by restic's ``--group-by`` words (host, paths, tags; none: one
    group of all), each group's snapshots in the given order, groups sorted by their key.
    ``latest``: only the newest ``latest`` of each host and set of paths within each group
    (restic groups first: ``--group-by tags --latest 1`` shows every tag set's newest).

    Raises:
        UsageError: an unknown word; ``latest`` below 1.
    """
    keys = group_by_keys(group_by)
    if latest is not None and latest < 1:
        raise UsageError(f"--latest {latest}: give 1 or more (0 for all)")
    groups: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[SnapshotEntry]] = {}
    for entry in entries:
        groups.setdefault(_key(entry.snapshot, keys), []).append(entry)
    return [
        SnapshotGroup(
            host=host,
            paths=paths,
            tags=tags,
            entries=tuple(members if latest is None else latest_of(members, latest)),
        )
        for (host, paths, tags), members in sorted(groups.items(), key=lambda kv: kv[0])
    ]


def select_snapshot(
    repo: Repository,
    ref: str,
    select: SnapshotFilter | None = None,
    *,
    host: str | None = None,
) -> tuple[ObjectId, SnapshotFile]:
    """The snapshot ``ref`` names: ``latest`` / ``latest~N`` among the snapshots the filters
    select (restic's --host, --tag, --path; ``host``: one more host); an id prefix names its
    snapshot, which must match the filters given with it (restic ignores them: most likely a
    mistake, such as another host's snapshot than the one meant).

    Raises:
        UsageError: no such snapshot, an ambiguous prefix, none matches the filters, or the
            snapshot an id names does not.
    """
    select = select or SnapshotFilter()
    if not (select.hosts or select.tags or select.paths):
        return find_snapshot(repo, ref, host=host)
    words = [f"--host {h}" for h in (*select.hosts, *([host] if host else []))]
    words += [f"--tag {','.join(t)}" for t in select.tags]
    words += [f"--path {p}" for p in select.paths]
    if not ref.startswith("latest"):
        sid, snap = find_snapshot(repo, ref)
        if not select.matches(snap):
            msg = (
                f"snapshot {sid.short} (host {snap.hostname}) does not match {' '.join(words)}: "
                "give the id alone, or latest with the filters"
            )
            raise UsageError(msg)
        return sid, snap
    every = list_snapshots(repo)
    chosen = select.chosen(every)
    try:
        return find_snapshot(repo, ref, host=host, snapshots=chosen)
    except UsageError:
        back = f" (only {len(chosen)} do)" if chosen else ""
        if not chosen and (select.hosts or host):  # a new machine's name, say: the ones there are
            back = f" (hosts in the repository: {_some(sorted({s.hostname for _, s in every}))})"
        msg = f"no snapshot {ref} matches {' '.join(words)}{back}"
        raise UsageError(msg) from None


def _some(names: list[str], shown: int = 10) -> str:
    """At most ``shown`` names, and how many more."""
    if not names:
        return "none"
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
