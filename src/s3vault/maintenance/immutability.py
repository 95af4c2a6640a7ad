"""Object Lock driven by the retention policy (docs/immutability.md).

A snapshot needs its data locked as long as the retention policy needs the snapshot: the
lock period stored in the config (derived from the policy at init). After a backup commits
its snapshot, every pack it references, the snapshot file itself, the config and the key files
are given a retain-until of at least now + period: objects written by this backup already have
it; older packs deduplicated into the new snapshot get it extended (to now + period + margin,
so a pack is extended at most once per margin). Nothing else is touched: retain-until dates grow
only for what is newly referenced.

Deleting (forget, prune) asks the store which of the objects are still locked and defers
those: they are reported, and taken up by a later run once their lock has expired.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from datetime import timedelta
from pathlib import Path

from s3vault.backend.objectlock import LockingBackend
from s3vault.errors import UsageError
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import BlobType
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId
from s3vault.maintenance.retention import Decision, Policy
from s3vault.repository.references import References
from s3vault.repository.repository import Repository

log = logging.getLogger(__name__)


def needed_by(repo: Repository, snapshot: SnapshotFile, snapshot_id: ObjectId) -> list[str]:
    """Every object a snapshot needs to be restorable: its packs, its file, config, keys."""
    refs = References()
    refs.add_snapshots(repo, [snapshot])
    names: set[str] = set()
    for btype, ids in refs.by_type():
        kind = ObjectKind.TREE if btype is BlobType.TREE else ObjectKind.DATA
        for bid in ids:
            loc = repo.index.lookup(btype, bid)
            if loc is not None:
                names.add(object_name(kind, loc.pack_id))
    names.add(repo.name_of(ObjectKind.SNAPSHOTS, snapshot_id))
    names.add(object_name(ObjectKind.CONFIG))
    names.update(info.name for info in repo.list_objects(ObjectKind.KEYS))
    return sorted(names)


def protect(
    repo: Repository,
    store: LockingBackend,
    snapshot: SnapshotFile,
    snapshot_id: ObjectId,
    now: float,
    period: float,
) -> int:
    """Make everything the snapshot needs stay locked at least ``period`` from ``now``;
    returns how many objects had their retain-until extended."""
    return store.extend_locks(needed_by(repo, snapshot, snapshot_id), now + period)


def split_locked(store: LockingBackend, names: list[str]) -> tuple[list[str], dict[str, float]]:
    """(names free to delete, names still locked with their retain-until)."""
    locked = store.retained_until(names)
    return [n for n in names if n not in locked], locked


def known_locks_path(repo: Repository) -> Path | None:
    """Where this host keeps the retain-until times it learnt (None without a cache)."""
    return repo.cache_dir / repo.id.hex() / "object-locks.json" if repo.cache_dir else None


def load_known(path: Path | None) -> dict[str, float]:
    """Retain-until times learnt by earlier runs on this host."""
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
        return {str(k): float(v) for k, v in data.items()}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def save_known(repo: Repository, store: LockingBackend, now: float) -> None:
    """Keep the retain-until times still ahead for the next run (best effort)."""
    save_known_at(known_locks_path(repo), store, now)


def save_known_at(path: Path | None, store: LockingBackend, now: float) -> None:
    """As ``save_known``, at ``path`` (a put-only host's: maintenance/putlocks.py)."""
    if path is None:
        return
    live = {k: v for k, v in store.known_locks().items() if v > now}
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(live))
        tmp.replace(path)
    except OSError as exc:
        log.info("cannot keep the retain-until times in %s: %s", path, exc)
        with contextlib.suppress(OSError):  # read-only: even this unlink fails (EROFS)
            tmp.unlink(missing_ok=True)


UNITS = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "weekly": timedelta(days=7),
    "monthly": timedelta(days=31),
    "yearly": timedelta(days=366),
}


def lock_period(policy: Policy) -> timedelta:
    """How long a new snapshot is surely needed: the longest of the rules for recent snapshots
    (within, hourly, daily); with only longer rules, the shortest of those. Snapshots that a
    weekly, monthly or yearly rule keeps longer get their lock extended by forget.

    Raises:
        UsageError: no time-based rule (keep-last or tags alone say nothing about time).
    """
    recent = [policy.longest_within(), UNITS["hourly"] * policy.hourly]
    recent.append(UNITS["daily"] * policy.daily)
    if max(recent) > timedelta(0):
        return max(recent)
    longer = [
        UNITS[r] * n
        for r, n in (
            ("weekly", policy.weekly),
            ("monthly", policy.monthly),
            ("yearly", policy.yearly),
        )
        if n
    ]
    if longer:
        return min(longer)
    msg = (
        "Object Lock needs a time-based retention rule to derive its period from "
        "(--keep-within, --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly, "
        "--keep-yearly), or --lock-period"
    )
    raise UsageError(msg)


def needed_until(snapshot: SnapshotFile, reasons: tuple[str, ...]) -> float:
    """Until when the rules that keep a snapshot need it (0 when they do not say)."""
    best = 0.0
    for reason in reasons:
        rule, _, count = reason.partition(" ")
        if rule in UNITS and count.isdigit():
            best = max(best, (snapshot.time + UNITS[rule] * int(count)).timestamp())
    return best


def protect_kept(
    repo: Repository, store: LockingBackend, kept: list[Decision], period: float
) -> int:
    """Extend the locks of snapshots a longer rule (weekly, monthly, yearly) keeps beyond
    what their creation lock covers; returns how many objects were extended."""
    extended = 0
    known = store.known_locks()
    for d in kept:
        if d.snapshot is None:  # only forget ID removes unreadable snapshots; none is kept
            continue
        need = needed_until(d.snapshot, d.reasons)
        if known.get(repo.name_of(ObjectKind.SNAPSHOTS, d.id), 0.0) >= need:
            continue  # extended by an earlier run: no tree walk
        if need > d.snapshot.time.timestamp() + period:
            if not len(repo.index):
                repo = repo.with_index(repo.read_index())
            extended += store.extend_locks(needed_by(repo, d.snapshot, d.id), need)
    return extended
