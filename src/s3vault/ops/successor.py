"""A snapshot's successor: the new snapshot file ``tag`` and ``rewrite`` write in place of (or
beside) an original, and the removal of the original once its successor is stored.

Order (design.md §8): the successor is stored first, the original removed after it; a kill
between the two leaves both, whole, never neither. The successor names the original's lineage
in ``original`` (restic's field: the first snapshot of a chain of changes, kept across later
changes; a copy's ``<source repository id>:<source snapshot id>`` stays as it is). Running the
same command again finds the successor already stored (``stored_as``: a snapshot equal to the
one it would write, field by field) and only removes the original, so an interrupted run
finishes instead of leaving a third snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from s3vault.backend.objectlock import LockPolicy
from s3vault.errors import ObjectNotFoundError, S3VaultError, UsageError, restated
from s3vault.format.layout import ObjectKind
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId
from s3vault.maintenance.immutability import protect, save_known, split_locked
from s3vault.repository.repository import Repository


def lineage(repo: Repository, sid: ObjectId, snap: SnapshotFile) -> str:
    """What a successor's ``original`` holds: the original's own, or
    ``<repository id>:<snapshot id>`` for a snapshot never changed before."""
    return snap.original or f"{repo.id.hex()}:{sid.hex()}"


def successor(repo: Repository, sid: ObjectId, snap: SnapshotFile, **changes: Any) -> SnapshotFile:
    """The original with ``changes`` (tags, tree) and its lineage in ``original``."""
    return replace(snap, original=lineage(repo, sid, snap), **changes)


def stored_as(
    new: SnapshotFile, listed: Iterable[tuple[ObjectId, SnapshotFile]]
) -> ObjectId | None:
    """A snapshot already stored with this content (the successor an interrupted run wrote),
    or None. The summary is not compared: one an earlier s3vault stored kept the original's
    counts, where a rewrite now counts what the new tree holds."""
    return next((sid for sid, snap in listed if replace(snap, summary=new.summary) == new), None)


def locked_until(repo: Repository, sids: Iterable[ObjectId]) -> dict[ObjectId, float]:
    """The snapshots whose files Object Lock still holds, with the retain-until of each
    (empty for a repository without Object Lock)."""
    store = repo.object_lock
    if store is None:
        return {}
    names = {repo.name_of(ObjectKind.SNAPSHOTS, sid): sid for sid in sids}
    if not names:
        return {}
    locked = split_locked(store, list(names))[1]
    return {names[name]: until for name, until in locked.items()}


def refuse_locked(repo: Repository, sids: list[ObjectId], *, command: str) -> None:
    """Refuse, before anything is written, to replace snapshots whose files cannot be removed.

    Raises:
        UsageError: Object Lock holds the file of one of them.
    """
    locked = locked_until(repo, sids)
    if not locked:
        return
    sid, until = min(locked.items(), key=lambda item: item[1])
    when = datetime.fromtimestamp(until, UTC).isoformat(timespec="seconds")
    msg = (
        f"{command}: snapshot {sid.short} is held by Object Lock until {when} "
        f"({len(locked)} of the {len(sids)} snapshots to change are locked): its file cannot "
        "be removed, so it cannot be replaced by a changed copy; nothing was changed"
    )
    raise UsageError(msg)


def protect_successors(repo: Repository, stored: list[tuple[ObjectId, SnapshotFile]]) -> None:
    """Object Lock: what each successor needs stays locked as long as a backup's."""
    store = repo.object_lock
    if store is None or not stored:
        return
    now = repo.server_time()
    period = LockPolicy.from_dict(repo.config.object_lock).period
    for sid, snap in stored:
        protect(repo, store, snap, sid, now, period)
    save_known(repo, store, now)


def remove_original(
    repo: Repository, sid: ObjectId, new_id: ObjectId, *, command: str, left: list[ObjectId]
) -> None:
    """Remove an original whose successor ``new_id`` is stored (gone already is fine: a
    concurrent forget got there first).

    Raises:
        S3VaultError: it could not be removed (the store's error, with its exit code, said
            with what was done: a store that refuses deletes said "this credential may not
            write here" of a command that had written; an attack pass, 2026-12-07). ``left``:
            the originals this command would remove after this one, named with it.
    """
    try:
        repo.delete_object(ObjectKind.SNAPSHOTS, sid)
    except ObjectNotFoundError:
        pass
    except S3VaultError as exc:
        originals = " ".join(o.short for o in [sid, *left])
        more = f" (nor {len(left)} more original(s) after it)" if left else ""
        msg = (
            f"{command}: snapshot {new_id.short} replaces {sid.short} and is stored, but "
            f"{sid.short} was not removed{more}: {exc}; both are listed until `s3vault forget "
            f"{originals}` runs with a credential that may delete"
        )
        raise restated(exc, msg) from exc
