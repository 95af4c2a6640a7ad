"""prune: take the maintenance lease, plan, and (unless dry_run) execute (design.md §10)."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field

from s3vault.backend.accounting import RequestCounts
from s3vault.clock import Clock, SystemClock
from s3vault.errors import AccessDeniedError
from s3vault.maintenance.prune import PruneOptions, execute_prune, plan_prune
from s3vault.ops.audit import AuditNote, audited, measured, not_written
from s3vault.progress import Progress
from s3vault.repository.lease import Lease, LeaseSettings, lease_class
from s3vault.repository.repository import Repository


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneResult:
    """What prune found and did (with dry_run: what it would do)."""

    snapshots: int
    packs_kept: int
    packs_repacked: int
    packs_marked: int
    packs_unmarked: int
    packs_still_marked: int
    packs_deleted: int
    orphans_deleted: int
    young_orphans: int
    young_unused_packs: int  # indexed, used by no snapshot, younger than min(1 h, grace / 2)
    young_unused_bytes: int
    unreadable_packs: tuple[tuple[str, str], ...]
    stored_bytes: int
    unused_bytes: int
    bytes_deleted: int
    blobs_repacked: int
    kept_after_recheck: int
    grace_seconds: float
    lease_waited: float
    protocol: str
    dry_run: bool
    requests: RequestCounts
    reencrypt_packs: int = 0  # packs of older key epochs rewritten (or, dry run, to rewrite)
    resealed_snapshots: dict[str, str] = field(default_factory=dict)  # old id → new id
    resealed_drills: int = 0
    retired_epochs: tuple[int, ...] = ()
    epochs_waiting: str = ""  # why older key epochs are still live
    locked_deferred: int = 0  # Object Lock: objects not deleted because still locked
    locked_until: float = 0.0  # the earliest of their retain-until times
    deletions_held_back: tuple[str, ...] = ()  # damaged snapshot files: nothing was deleted
    temporaries_deleted: int = 0  # leftovers of killed writes (with dry_run: to delete)
    temporaries_bytes: int = 0
    young_temporaries: int = 0  # leftovers younger than the grace period, left alone
    views_deleted: int = 0  # dedup views of removed index files (with dry_run: to delete)
    states_deleted: int = 0  # put-only hosts' older states (with dry_run: to delete)
    # partly used packs in an archive storage class, kept whole (a repack cannot read them
    # until they are restored from the archive), and the bytes in them no snapshot uses
    archived_partly_packs: int = 0
    archived_unused_bytes: int = 0


def lease_for(ttl: float, *, wait: float = 0.0) -> LeaseSettings:
    """The maintenance lease for a time to live (seconds): refreshed every sixth of it (the
    defaults' 30 minutes and 5 minutes), so that the holder may still act for half the TTL
    after its last refresh (``LeaseSettings.safe_for``); ``wait``: how long to keep trying to
    acquire it."""
    return LeaseSettings(ttl=ttl, refresh_every=ttl / 6, wait=wait)


def prune(
    repo: Repository,
    options: PruneOptions | None = None,
    *,
    lease: LeaseSettings | None = None,
    clock: Clock | None = None,
    progress: Progress | None = None,
    held: Lease | None = None,
) -> PruneResult:
    """Collect garbage under the maintenance lease (``held``: one the caller took already,
    forget --prune's; used, not released).

    Audited unless a dry run (after forget, in forget's record); the bytes freed are the
    run's metrics, and when it completed (``last_prune_timestamp_seconds``) unless it was a dry
    run or held every deletion back (damaged snapshot files): the alerts' "prune overdue".

    Raises:
        LeaseHeldError: another prune holds the lease (exit code 11).
        LeaseLostError: the lease was lost mid-way; what was done is consistent.
        IntegrityError: snapshots reference missing data (prune refuses, changes nothing).
    """
    options = options or PruneOptions()
    with nullcontext(AuditNote("prune")) if options.dry_run else audited(repo, "prune") as note:
        r = _prune(repo, options, lease=lease, clock=clock, progress=progress, held=held)
        note.details.update(
            packs_deleted=r.packs_deleted + r.orphans_deleted,
            bytes_deleted=r.bytes_deleted,
            packs_repacked=r.packs_repacked,
            reencrypted_packs=r.reencrypt_packs,
            retired_epochs=list(r.retired_epochs),
            temporaries_deleted=r.temporaries_deleted,
            temporaries_bytes=r.temporaries_bytes,
            views_deleted=r.views_deleted,
            states_deleted=r.states_deleted,
        )
    measured("prune", bytes_freed=r.bytes_deleted)
    if not options.dry_run and not r.deletions_held_back:  # the alerts' "prune overdue"
        done = (clock or SystemClock()).now().timestamp()
        measured("prune", last_prune_timestamp_seconds=done)
    return r


def _acquire(
    repo: Repository,
    options: PruneOptions,
    lease: LeaseSettings | None,
    clock: Clock,
    progress: Progress | None,
) -> Lease | None:
    """The maintenance lease; for a dry run on a store this host may only read (a
    disaster-recovery copy, a read-only key), none: it deletes nothing, and says that its
    plan was made without the lease (another host's prune may change what it would do).

    Raises:
        LeaseHeldError: another prune holds the lease (exit code 11).
        AccessDeniedError: the store refuses the lease's write, and this is no dry run.
    """
    try:
        return lease_class(repo).acquire(repo, "prune", lease, clock=clock, progress=progress)
    except AccessDeniedError as exc:
        if not options.dry_run:
            raise
        not_written("the maintenance lease", f"{exc} (the dry run went on without it)")
        return None


def _prune(
    repo: Repository,
    options: PruneOptions,
    *,
    lease: LeaseSettings | None,
    clock: Clock | None,
    progress: Progress | None,
    held: Lease | None,
) -> PruneResult:
    clock = clock or SystemClock()
    taken = held or _acquire(repo, options, lease, clock, progress)
    with nullcontext(taken) if held is not None or taken is None else taken:
        plan = plan_prune(repo, options)
        outcome = None
        if not options.dry_run:
            assert taken is not None
            outcome = execute_prune(
                repo, plan, check_lease=taken.ensure_fresh, clock=clock, progress=progress
            )
        waited = taken.waited if taken is not None else 0.0
    return PruneResult(
        snapshots=len(plan.snapshots),
        packs_kept=len(plan.keep),
        packs_repacked=len(plan.repack),
        packs_marked=len(plan.mark),
        packs_unmarked=len(plan.unmark),
        packs_still_marked=len(plan.still_marked),
        packs_deleted=len(plan.delete),
        orphans_deleted=len(plan.orphans_delete),
        young_orphans=plan.young_orphans,
        young_unused_packs=plan.young_unused,
        young_unused_bytes=plan.young_unused_bytes,
        archived_partly_packs=plan.archived_partly,
        archived_unused_bytes=plan.archived_unused_bytes,
        unreadable_packs=tuple(plan.unreadable),
        stored_bytes=plan.stored_bytes,
        unused_bytes=plan.unused_bytes,
        bytes_deleted=outcome.deleted_bytes if outcome else 0,
        blobs_repacked=outcome.repacked_blobs if outcome else 0,
        kept_after_recheck=outcome.kept_after_recheck if outcome else 0,
        grace_seconds=plan.grace,
        lease_waited=waited,
        protocol=lease_class(repo).protocol,
        dry_run=options.dry_run,
        requests=repo.requests.snapshot(),
        reencrypt_packs=plan.reencrypt_packs,
        resealed_snapshots={
            str(o): str(n) for o, n in (outcome.resealed_snapshots if outcome else {}).items()
        },
        resealed_drills=outcome.resealed_drills if outcome else 0,
        retired_epochs=outcome.retirement.retired if outcome else (),
        epochs_waiting=outcome.retirement.waiting if outcome else "",
        locked_deferred=len(outcome.locked) if outcome else 0,
        locked_until=min(outcome.locked.values()) if outcome and outcome.locked else 0.0,
        deletions_held_back=tuple(plan.held_back),
        temporaries_deleted=outcome.temporaries_deleted if outcome else len(plan.temporaries),
        temporaries_bytes=(
            outcome.temporaries_bytes if outcome else sum(t.size for t in plan.temporaries)
        ),
        young_temporaries=plan.young_temporaries,
        views_deleted=len(plan.put_side.views) + len(plan.put_side.superseded_views),
        states_deleted=len(plan.put_side.states),
    )
