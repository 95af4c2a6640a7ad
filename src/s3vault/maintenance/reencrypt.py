"""Re-encryption after a master-key rotation (``prune --reencrypt``, design.md §6).

Packs of older epochs are repacked by prune like partly used ones, but only the blobs that
snapshots need and that no current-epoch pack already holds, so an interrupted run resumes
where it stopped. Snapshot files and drill records are re-sealed (a re-sealed file has a new
id, its name being the hash of its sealed bytes; a copy found already re-sealed is not made
twice); audit records are overwritten in place (their names hash the plaintext). Index
files and deletion records need nothing here: prune rewrites them every run.

Under Object Lock, a snapshot file or drill record still locked is left as it is until its
lock ends (removing the old copy would be refused), and the old epoch stays live until then.

When nothing of an older epoch is left, and the current epoch began more than the minimum
grace ago (so no backup that opened the repository before the rotation is still writing under
the old key), the old epochs leave the config and then every key file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from s3vault.errors import ObjectNotFoundError
from s3vault.format.drillfile import DrillFile
from s3vault.format.envelope import HEAD_READ, EnvelopeHeader, SealedKind
from s3vault.format.indexfile import IndexFile
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import BlobType
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId
from s3vault.repository.compactpack import CompactPack
from s3vault.repository.marks import load_marks
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import save_snapshot
from s3vault.repository.supersede import superseded

log = logging.getLogger(__name__)

BlobKey = tuple[BlobType, ObjectId]


def current_blobs(repo: Repository, packs: list[CompactPack]) -> set[BlobKey]:
    """Blobs some pack of the current epoch that a full key wrote already holds (a put-only
    host's copy may be garbage under the blob's id: it re-encrypts nothing, design.md §6a)."""
    epoch = repo.config.current_epoch
    return {
        (t, bid) for p in packs if p.epoch == epoch and not p.sender for t, bid, _n in p.blobs()
    }


def still_needed(pack: CompactPack, wanted: Callable[[BlobKey], bool], fresh: set[BlobKey]) -> int:
    """How many blobs of an old-epoch pack must be re-encrypted."""
    return sum(1 for t, bid, _n in pack.blobs() if wanted((t, bid)) and (t, bid) not in fresh)


@dataclass(slots=True)
class Resealed:
    """Standalone files re-sealed under the current epoch."""

    snapshots: dict[ObjectId, ObjectId]  # old id → new id
    drills: int = 0
    audit: int = 0


def _snapshot_key(s: SnapshotFile) -> tuple[object, ...]:
    return (s.time, s.hostname, s.tree, s.paths, s.tags)


def reseal_files(repo: Repository, check_lease: Callable[[], None]) -> Resealed:
    """Re-seal every snapshot and drill record of an older epoch; returns the id changes."""
    epoch = repo.config.current_epoch
    done = Resealed(snapshots={})
    snaps: list[tuple[ObjectId, SnapshotFile, int]] = []
    for sid in repo.list_files(ObjectKind.SNAPSHOTS):
        try:
            snap = SnapshotFile.decode(repo.load_file(ObjectKind.SNAPSHOTS, sid))
            snaps.append((sid, snap, repo.file_epoch(ObjectKind.SNAPSHOTS, sid)))
        except ObjectNotFoundError:
            continue  # forgotten meanwhile
    snaps.sort(key=lambda item: (item[1].time, item[0]))
    have = {_snapshot_key(s): sid for sid, s, e in snaps if e == epoch}
    locked = _locked(
        repo, [repo.name_of(ObjectKind.SNAPSHOTS, s) for s, _, e in snaps if e != epoch]
    )
    for sid, snap, e in snaps:
        if e == epoch or repo.name_of(ObjectKind.SNAPSHOTS, sid) in locked:
            continue  # current, or under Object Lock: re-sealed once its lock has ended
        check_lease()
        new = have.get(_snapshot_key(snap))
        if new is None:
            parent = done.snapshots.get(snap.parent) if snap.parent else None
            fresh = replace(snap, parent=parent or snap.parent)
            new = save_snapshot(repo, fresh)
        done.snapshots[sid] = new
        repo.delete_object(ObjectKind.SNAPSHOTS, sid)
    drills = repo.list_files(ObjectKind.DRILLS)
    locked = _locked(repo, [object_name(ObjectKind.DRILLS, d) for d in drills])
    for did in drills:
        try:
            if repo.file_epoch(ObjectKind.DRILLS, did) == epoch:
                continue
            if object_name(ObjectKind.DRILLS, did) in locked:
                continue
            drill = DrillFile.decode(repo.load_file(ObjectKind.DRILLS, did))
        except ObjectNotFoundError:
            continue
        check_lease()
        moved = next((str(n) for o, n in done.snapshots.items() if str(o) == drill.snapshot), None)
        repo.save_file(ObjectKind.DRILLS, replace(drill, snapshot=moved or drill.snapshot).encode())
        repo.delete_object(ObjectKind.DRILLS, did)
        done.drills += 1
    done.audit = _reseal_audit(repo, check_lease)
    return done


def _locked(repo: Repository, names: list[str]) -> dict[str, float]:
    """Which of these objects Object Lock still protects (they cannot be removed yet, so they
    are not copied yet either: a copy would leave the same snapshot twice)."""
    return repo.object_lock.retained_until(names) if repo.object_lock and names else {}


def _reseal_audit(repo: Repository, check_lease: Callable[[], None]) -> int:
    """Audit records keep their names (their ids hash the plaintext, so every chain link
    holds): each is overwritten in place, compare-and-swap."""
    epoch, count = repo.config.current_epoch, 0
    for info in repo.list_objects(ObjectKind.AUDIT):
        sealed = repo.read_listed(info)
        if EnvelopeHeader.decode(sealed).epoch == epoch:
            continue
        check_lease()
        plain = repo.sealer.open_file(SealedKind.AUDIT, sealed)
        repo.replace_listed(info, repo.sealer.seal_file(SealedKind.AUDIT, plain))
        count += 1
    return count


def _leftovers(repo: Repository) -> list[str]:
    """Objects still sealed under an epoch older than the current one."""
    epoch = repo.config.current_epoch
    left: list[str] = []
    files: dict[ObjectId, IndexFile] = {}
    for oid in repo.list_files(ObjectKind.INDEX):
        if repo.file_epoch(ObjectKind.INDEX, oid) != epoch:
            left.append(object_name(ObjectKind.INDEX, oid))
            continue
        files[oid] = IndexFile.decode(repo.load_file(ObjectKind.INDEX, oid))
    replaced = superseded(files.values())
    for oid, ifile in files.items():  # in listing order (the message names the first few)
        if oid not in replaced:
            left += [f"pack {p.id.short}" for p in ifile.packs if p.epoch != epoch]
    marks = load_marks(repo)
    left += [f"marked pack {pid.short}" for pid, (p, _) in marks.packs.items() if p.epoch != epoch]
    for info in repo.list_objects(ObjectKind.AUDIT):
        if EnvelopeHeader.decode(repo.read_listed(info, 0, HEAD_READ)).epoch != epoch:
            left.append(info.name)
    for kind in (ObjectKind.SNAPSHOTS, ObjectKind.DRILLS, ObjectKind.DELETIONS, ObjectKind.LEDGER):
        for oid in repo.list_files(kind):
            try:
                if repo.file_epoch(kind, oid) != epoch:
                    left.append(object_name(kind, oid))
            except ObjectNotFoundError:
                continue
    return left


@dataclass(frozen=True, slots=True, kw_only=True)
class Retirement:
    """What became of the older epochs."""

    retired: tuple[int, ...] = ()  # dropped from the config and every key file
    waiting: str = ""  # why older epochs are still live


def retire_epochs(
    repo: Repository, now: float, on_skip: Callable[[str, str], None] | None = None
) -> Retirement:
    """Drop older epochs from the config and every key file once nothing uses them."""
    config = repo.config
    old = tuple(e.epoch for e in config.epochs if e.epoch != config.current_epoch)
    if not old:
        return Retirement()
    current = next(e for e in config.epochs if e.epoch == config.current_epoch)
    wait = current.started + config.min_grace - now
    if wait > 0:
        why = (
            f"epoch {current.epoch} began {now - current.started:.0f}s ago; backups that "
            f"opened the repository before may still write under the old key for "
            f"{wait:.0f}s more (the minimum grace)"
        )
        return Retirement(waiting=why)
    left = _leftovers(repo)
    if left:
        first = ", ".join(left[:3])
        return Retirement(waiting=f"{len(left)} object(s) still under older epochs ({first})")
    repo.save_config(replace(config, epochs=(current,)))
    repo.reseal_key_files(repo.sealer.payload(), on_skip=on_skip)
    return Retirement(retired=old)
