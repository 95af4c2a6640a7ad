"""repair index: rebuild the index from the packs; repair snapshots: rewrite damaged snapshots
without what is lost."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from s3vault.backend.accounting import RequestCounts
from s3vault.backend.objectlock import LockPolicy
from s3vault.checker.repair import PackRepair, plan_repair
from s3vault.checker.snapshotrepair import (
    Dropped,
    SnapshotFiles,
    SnapshotFix,
    plan_snapshot_repair,
    read_snapshot_files,
)
from s3vault.clock import Clock
from s3vault.crashpoint import crash_point
from s3vault.errors import ExitCode, IntegrityError, ObjectNotFoundError, UsageError
from s3vault.format.layout import ObjectKind
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId
from s3vault.maintenance.immutability import protect, save_known, split_locked
from s3vault.ops.audit import audited
from s3vault.ops.records import refuse_bare_strings
from s3vault.progress import Progress
from s3vault.repository.lease import LeaseSettings, lease_class
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import find_snapshot, latest_doubt, load_snapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class RepairIndexResult:
    """What repair index did (or, with dry_run, would do)."""

    packs: int
    blobs: int
    damaged_packs: tuple[PackRepair, ...]  # packs not simply indexed from their header
    changed: bool
    new_index_files: tuple[ObjectId, ...]
    removed_index_files: int
    requests: RequestCounts

    @property
    def blobs_lost(self) -> int:
        """Blobs that left the index: their pack is gone or they did not read back."""
        return sum(p.lost for p in self.damaged_packs)


def repair_index(
    repo: Repository,
    *,
    dry_run: bool = False,
    lease: LeaseSettings | None = None,
    clock: Clock | None = None,
    progress: Progress | None = None,
) -> RepairIndexResult:
    """Rebuild the index from every pack, under the maintenance lease (not with dry_run;
    ``progress`` hears while it waits for one).

    A blob leaves the index only when its pack is gone or it does not read back: where a
    pack's header is unusable, every blob the old index files place there is read and kept
    if it opens. Never deletes a pack; changes nothing when the index is already right.

    Audited when it changed the index.

    Raises:
        LeaseHeldError: a prune (or another repair) holds the maintenance lease.
        BackendError: storage failed.
    """
    result = _repair_index(repo, dry_run=dry_run, lease=lease, clock=clock, progress=progress)
    if result.changed and not dry_run:  # a repair that found nothing to do changes nothing
        with audited(
            repo,
            "repair index",
            new_index_files=[str(i) for i in result.new_index_files],
            blobs_lost=result.blobs_lost,
        ):
            pass
    return result


def _repair_index(
    repo: Repository,
    *,
    dry_run: bool,
    lease: LeaseSettings | None,
    clock: Clock | None,
    progress: Progress | None,
) -> RepairIndexResult:
    if dry_run:
        plan = plan_repair(repo)
        new: tuple[ObjectId, ...] = ()
    else:
        acquire = lease_class(repo).acquire
        with acquire(repo, "repair index", lease, clock=clock, progress=progress) as held:
            plan = plan_repair(repo)
            new = tuple(plan.execute(repo, check_lease=held.ensure_fresh))
    return RepairIndexResult(
        packs=len(plan.packs),
        blobs=sum(len(p) for p in plan.packs),
        damaged_packs=tuple(plan.damaged),
        changed=plan.needed,
        new_index_files=new,
        removed_index_files=len(plan.old_index) if plan.needed and not dry_run else 0,
        requests=repo.requests.snapshot(),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class RepairSnapshotsOptions:
    """Which snapshots to repair, and how."""

    snapshots: tuple[str, ...] = ()  # ids, prefixes, latest, latest~N; empty: every snapshot
    forget: bool = False  # remove the damaged originals once their repaired copies exist
    dry_run: bool = False  # decide and report; write and remove nothing
    read_data: bool = False  # also read every data pack: blobs failing authentication count
    tag: str = "repaired"
    workers: int = 4

    def __post_init__(self) -> None:
        refuse_bare_strings(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotRepairReport:
    """One damaged snapshot and what became of it."""

    id: ObjectId
    status: str  # "repaired"; "unrepairable": its root tree does not load; "unreadable": the
    # snapshot file itself cannot be read (nothing to rewrite: it is removed); "cached": it
    # cannot, but this host's cache holds it intact (a dry run), "rewritten": written back
    # from there
    problem: str
    time: datetime | None
    hostname: str
    paths: tuple[str, ...]
    dropped: tuple[Dropped, ...]  # what the repaired copy leaves out
    new_id: ObjectId | None  # the repaired copy (None in a dry run, or nothing to keep)
    removed: bool  # the original is gone (--forget, or an unreadable file)
    locked_until: float = 0.0  # Object Lock refused its removal until then


@dataclass(frozen=True, slots=True, kw_only=True)
class RepairSnapshotsResult:
    """What repair snapshots found and did (with dry_run: would do)."""

    checked: int
    damaged: tuple[SnapshotRepairReport, ...]
    newer: tuple[tuple[ObjectId, str], ...]  # snapshot files of a newer s3vault: left alone
    trees_written: int
    dry_run: bool
    forget: bool
    requests: RequestCounts

    @property
    def damage_left(self) -> bool:
        """Whether a damaged snapshot is left with neither a repaired copy nor its removal."""
        return any(
            self.dry_run
            or r.locked_until
            or (r.status not in ("repaired", "rewritten") and not r.removed)
            or (r.status == "repaired" and r.new_id is None)
            for r in self.damaged
        )


def repair_snapshots(
    repo: Repository,
    options: RepairSnapshotsOptions,
    *,
    lease: LeaseSettings | None = None,
    clock: Clock | None = None,
    progress: Progress | None = None,
) -> RepairSnapshotsResult:
    """Rewrite every damaged snapshot without what is lost (restic's ``repair snapshots``),
    under the maintenance lease (not with dry_run), so no prune changes the index meanwhile.

    For each snapshot whose trees or file contents are lost in part, a new snapshot with the
    original's time, host, paths and tags (plus ``options.tag``) leaves out each file with
    lost content and empties each directory whose tree does not load. Snapshot files that
    cannot be read are removed (there is nothing to rewrite); with ``forget`` so are the
    damaged originals, after their copies exist.

    Raises:
        UsageError: a snapshot argument matches nothing, or more than one snapshot.
        LeaseHeldError: a prune holds the maintenance lease.
        BackendError: storage failed (nothing is decided from a failure).
        FormatVersionError: a tree was written by a newer s3vault.
    """
    if options.dry_run:
        return _repair_snapshots(repo, options, progress, check_lease=None)
    with audited(repo, "repair snapshots") as note:
        acquire = lease_class(repo).acquire
        with acquire(repo, "repair snapshots", lease, clock=clock, progress=progress) as held:
            repo = repo.with_index(repo.read_index())  # under the lease: sees what a prune did
            r = _repair_snapshots(repo, options, progress, check_lease=held.ensure_fresh)
        note.details.update(
            repaired={str(x.id): str(x.new_id) for x in r.damaged if x.new_id is not None},
            removed=[str(x.id) for x in r.damaged if x.removed],
            dropped=sum(len(x.dropped) for x in r.damaged),
        )
        if r.damage_left:
            note.found(ExitCode.DAMAGED, "damage left (verify names it)")
    return r


def _refuse_latest(repo: Repository, ref: str, files: SnapshotFiles) -> None:
    """``latest`` while a snapshot file does not open: it may be the newest, and `repair
    snapshots latest` checked the one before it and said "nothing is damaged" (an attack
    pass, 2026-12-08).

    Raises:
        IntegrityError: always (UsageError: not even one that opens matches).
    """
    names = [repo.name_of(ObjectKind.SNAPSHOTS, sid) for sid, _ in files.unreadable]
    try:
        chosen: ObjectId | None = find_snapshot(
            repo, ref, snapshots=files.readable, if_unsure="take"
        )[0]
    except UsageError:
        chosen = None
    raise IntegrityError(latest_doubt(ref, chosen, names, denied=False)[0])


def _select(
    repo: Repository, refs: tuple[str, ...], files: SnapshotFiles
) -> tuple[list[tuple[ObjectId, SnapshotFile]], list[tuple[ObjectId, str]]]:
    """The snapshots the arguments name (all without arguments); a prefix of an unreadable
    snapshot file's id names that file."""
    if not refs:
        return files.readable, files.unreadable
    readable: dict[ObjectId, SnapshotFile] = {}
    unreadable: dict[ObjectId, str] = {}
    for ref in refs:
        low = ref.lower()
        bad = [(sid, why) for sid, why in files.unreadable if sid.hex().startswith(low)]
        good = [sid for sid, _ in files.readable if sid.hex().startswith(low)]
        if len(bad) == 1 and not good and not low.startswith("latest"):
            unreadable[bad[0][0]] = bad[0][1]
            continue
        if low.startswith("latest") and files.unreadable:  # (its own listing: none skipped
            _refuse_latest(repo, ref, files)  # through the repository, which would say so)
        sid, snap = find_snapshot(repo, ref, snapshots=files.readable, if_unsure="refuse")
        readable[sid] = snap
    return sorted(readable.items(), key=lambda i: (i[1].time, i[0])), sorted(unreadable.items())


def _report(repo: Repository, fix: SnapshotFix, dry_run: bool) -> SnapshotRepairReport:
    snap = fix.snapshot
    if snap is None:
        # an intact copy in this host's cache is written back, not removed: the snapshot had
        # listed and restored from it, and this repair had removed it (an attack pass)
        cached = repo.cached_copy(ObjectKind.SNAPSHOTS, fix.id) is not None
        status = "cached" if cached else "unreadable"
    elif fix.new_tree is None:
        status = "unrepairable"
    else:
        status = "repaired"
    return SnapshotRepairReport(
        id=fix.id,
        status=status,
        problem=fix.problem,
        time=snap.time if snap else None,
        hostname=snap.hostname if snap else "",
        paths=snap.paths if snap else (),
        dropped=tuple(fix.dropped),
        new_id=None if dry_run else fix.new_id,
        removed=False,
    )


def _repair_snapshots(
    repo: Repository,
    options: RepairSnapshotsOptions,
    progress: Progress | None,
    *,
    check_lease: Callable[[], None] | None,
) -> RepairSnapshotsResult:
    files = read_snapshot_files(repo)
    selected, unreadable = _select(repo, options.snapshots, files)
    plan = plan_snapshot_repair(
        repo,
        selected,
        unreadable,
        read_data=options.read_data,
        workers=options.workers,
        progress=progress,
    )
    if not options.dry_run:
        plan.execute(repo, tag=options.tag, stored=files.readable)
        _protect_new(repo, plan.fixes)
    reports = [_report(repo, f, options.dry_run) for f in plan.fixes]
    if not options.dry_run:
        reports = _remove_originals(repo, reports, forget=options.forget, check_lease=check_lease)
    return RepairSnapshotsResult(
        checked=plan.checked,
        damaged=tuple(reports),
        newer=tuple(files.newer),
        trees_written=plan.trees_written,
        dry_run=options.dry_run,
        forget=options.forget,
        requests=repo.requests.snapshot(),
    )


def _protect_new(repo: Repository, fixes: list[SnapshotFix]) -> None:
    """Object Lock: what a repaired snapshot needs stays locked as long as a backup's."""
    if repo.object_lock is None:
        return
    now = repo.server_time()
    period = LockPolicy.from_dict(repo.config.object_lock).period
    for fix in fixes:
        if fix.new_id is not None and fix.snapshot is not None and fix.new_tree is not None:
            snap = load_snapshot(repo, fix.new_id)
            protect(repo, repo.object_lock, snap, fix.new_id, now, period)
    save_known(repo, repo.object_lock, now)


def _written_again(repo: Repository, r: SnapshotRepairReport) -> SnapshotRepairReport:
    """A damaged snapshot file written again from this host's intact cached copy (status
    ``rewritten``); ``unreadable`` (removed next) when the copy went meanwhile."""
    cached = repo.cached_copy(ObjectKind.SNAPSHOTS, r.id)
    if cached is None:
        return replace(r, status="unreadable")
    repo.write_again(ObjectKind.SNAPSHOTS, r.id, cached)
    return replace(r, status="rewritten")


def _remove_originals(
    repo: Repository,
    reports: list[SnapshotRepairReport],
    *,
    forget: bool,
    check_lease: Callable[[], None] | None,
) -> list[SnapshotRepairReport]:
    """Remove unreadable snapshot files, and with ``forget`` the damaged originals whose
    repaired copies exist (or that have nothing left to keep). Object Lock defers some."""
    reports = [_written_again(repo, r) if r.status == "cached" else r for r in reports]
    doomed = [
        r
        for r in reports
        if r.status == "unreadable"
        or (forget and (r.status == "unrepairable" or r.new_id is not None))
    ]
    if not doomed:
        return reports
    crash_point("repair-before-remove")
    if check_lease is not None:
        check_lease()
    names = {r.id: repo.name_of(ObjectKind.SNAPSHOTS, r.id) for r in doomed}
    locked = split_locked(repo.object_lock, list(names.values()))[1] if repo.object_lock else {}
    out = []
    for r in reports:
        name = names.get(r.id)
        if name is None:
            out.append(r)
        elif name in locked:
            out.append(replace(r, locked_until=locked[name]))
        else:
            with contextlib.suppress(ObjectNotFoundError):  # a forget got there first
                repo.delete_object(ObjectKind.SNAPSHOTS, r.id)
            out.append(replace(r, removed=True))
    return out
