"""restore-test: an automated restore drill with a byte-for-byte proof and an RTO projection.

1. pick the snapshot and (optionally) a random sample of its files (replayable with a seed)
2. restore into a temporary directory (or --target), or stream without writing (--no-disk)
3. prove every file against the whole-file hash and metadata recorded at backup time
4. time it, project the full-restore time (RTO) and compare with the targets
5. record the drill in the repository (drills/) so --history shows the trend
"""

from __future__ import annotations

import math
import os
import random
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from s3vault import collector
from s3vault.backend.accounting import RequestCounts
from s3vault.clock import Clock, SystemClock
from s3vault.errors import (
    BackendError,
    ExitCode,
    FormatVersionError,
    IntegrityError,
    ObjectNotFoundError,
    S3VaultError,
    UsageError,
)
from s3vault.format.drillfile import DrillFile
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.tree import NodeType
from s3vault.ids import ObjectId
from s3vault.ops.audit import audited, measured, not_written
from s3vault.ops.restore import make_restorer
from s3vault.progress import NullProgress, Progress
from s3vault.repository import ledger as ledgers
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import find_snapshot
from s3vault.repository.treegraph import WalkBudget
from s3vault.restorer.plan import RestorePlan, load_listing, plan_restore
from s3vault.restorer.proof import UNREADABLE, let_owner_in, prove_on_disk, prove_streamed
from s3vault.restorer.scratch import Scratch
from s3vault.workerpool import STALL_AFTER, Watchdog, jobs_for

MAX_LISTED = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class DrillOptions:
    """What to drill and against which targets."""

    snapshot: str = "latest"
    host: str | None = None  # with "latest": the latest snapshot of this host
    sample_files: int | None = None
    sample_percent: float | None = None
    seed: int | None = None
    target: Path | None = None
    keep: bool = False
    no_disk: bool = False
    rto_target: timedelta | None = None
    rpo_target: timedelta | None = None
    record: bool = True
    workers: int = 4
    jobs: int = 0  # worker processes for the restore (ops/restore.py); 0: one per core
    worker_timeout: float = STALL_AFTER  # seconds a worker may hold a task and say nothing


@dataclass(frozen=True, slots=True, kw_only=True)
class DrillResult:
    """The drill's verdict and measurements."""

    record: DrillFile
    record_id: ObjectId | None
    record_error: str | None  # why the record could not be stored (the verdict stands)
    # (path, problem): mismatches, restore errors, and anything selected that was not restored
    failures: tuple[tuple[str, str], ...]
    # of ``failures``: what the drill's target refused (a host limit: ``ulimit -f``, a name
    # the file system cannot hold), which says nothing of the repository
    refused: tuple[tuple[str, str], ...]
    # of ``failures``: what the restore could not restore (counted as the record's errors;
    # the rest, what it restored differently, as its mismatches)
    errors: tuple[tuple[str, str], ...] = ()
    empty: bool  # nothing was selected: the drill proved nothing (and did not pass)
    target: str
    requests: RequestCounts


def _file_paths(repo: Repository, sid: ObjectId, tree: ObjectId) -> tuple[list[str], int]:
    """Every regular file's snapshot path, and their total size (a tree that cannot be read
    is passed over: the restore reports it).

    Raises:
        TreeGraphError: the trees name the same directories over and over (treegraph.py).
    """
    paths: list[str] = []
    total = 0
    stack = [(tree, "")]
    budget = WalkBudget(repo, (tree,), sid)
    while stack:
        tid, base = stack.pop()
        listing = load_listing(repo, tid)
        budget.listed(tid, listing.nodes)
        for node in listing.nodes:
            path = f"{base}/{node.display_name}"
            if node.type is NodeType.FILE:
                paths.append(path)
                total += max(node.size, 0)
            elif node.type is NodeType.DIR and node.subtree is not None:
                stack.append((node.subtree, path))
    return paths, total


def _choose_sample(
    repo: Repository, sid: ObjectId, tree: ObjectId, options: DrillOptions
) -> tuple[set[str] | None, str, int]:
    """(chosen snapshot paths or None for all, description, bytes of all files walked)."""
    if options.sample_files is None and options.sample_percent is None:
        return None, "all files", 0
    all_paths, total = _file_paths(repo, sid, tree)
    count = (
        options.sample_files
        if options.sample_files is not None
        else math.ceil(len(all_paths) * (options.sample_percent or 0.0) / 100)
    )
    # a seed is always recorded, so that any drill can be replayed (--seed)
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(1 << 31)
    rng = random.Random(seed)  # noqa: S311 - sampling files, not cryptography
    chosen = set(rng.sample(sorted(all_paths), min(count, len(all_paths))))
    return chosen, f"{len(chosen)} of {len(all_paths)} files (seed {seed})", total


def restore_test(
    repo: Repository,
    options: DrillOptions,
    *,
    progress: Progress | None = None,
    clock: Clock | None = None,
) -> DrillResult:
    """Run a restore drill. The repository's index must be loaded.

    Every selected file must be restored and proven (or streamed and proven, ``no_disk``):
    one that is not, for any reason (data missing or damaged, a name or node restore refuses,
    a file the target refused, an attribute not applied), is a failure with its path and
    reason. A drill that selects nothing proves nothing: ``empty``, and it does not pass.
    Audited; its verdict, throughput, projected RTO and snapshot age are the run's metrics.

    Raises:
        UsageError: unknown snapshot or contradictory options.
    """
    with audited(repo, "restore-test") as note:
        result = _restore_test(repo, options, progress or NullProgress(), clock or SystemClock())
        if result.empty and not result.failures:
            note.found(ExitCode.PARTIAL, "nothing selected: the drill proved nothing")
        elif not result.record.passed:
            why = f"{len(result.failures)} failure(s)" if result.failures else "a target missed"
            note.found(ExitCode.DAMAGED, f"drill failed: {why}")
    if result.record_error is not None:
        not_written("the drill record", result.record_error)
    r = result.record
    measured(
        "restore-test",
        restore_test_passed=float(r.passed),
        restore_test_bytes_per_second=r.bytes_per_second,
        restore_test_projected_rto_seconds=r.projected_rto_seconds,
        restore_test_snapshot_age_seconds=r.snapshot_age_seconds,
    )
    return result


@dataclass(frozen=True, slots=True, kw_only=True)
class _Run:
    """What restoring (or streaming) the selection and proving it found, and how long."""

    plan: RestorePlan
    errors: list[tuple[str, str]]
    problems: list[tuple[str, str]]
    refused: list[tuple[str, str]]  # of ``errors``: what the drill's target refused
    restore_seconds: float
    verify_seconds: float
    target: bytes


def _restore_and_prove(
    repo: Repository,
    snapshot: tuple[ObjectId, ObjectId],  # its id and its tree
    chosen: set[str] | None,
    options: DrillOptions,
    progress: Progress,
    clock: Clock,
) -> _Run:
    made_temp = options.target is None and not options.no_disk
    scratch = Scratch(keep=options.keep) if made_temp else None
    target = scratch.path if scratch else options.target or Path(os.devnull)
    target_b = os.fsencode(target.absolute())
    watchdog = Watchdog(stall_after=options.worker_timeout, clock=clock)
    try:
        sid, tree = snapshot
        plan = plan_restore(
            repo,
            tree,
            select=(chosen.__contains__ if chosen is not None else None),
            snapshot=sid,
        )
        t0 = clock.monotonic()
        if options.no_disk:
            errors = [*plan.errors, *plan.refused]
            problems = prove_streamed(
                repo,
                plan,
                workers=options.workers,
                jobs=jobs_for(options.jobs, plan.total_bytes),
                watchdog=watchdog,
            )
            # data that cannot be read is an error, as a restore on disk counts it
            errors += [p for p in problems if p[1].startswith(UNREADABLE)]
            problems = [p for p in problems if not p[1].startswith(UNREADABLE)]
            return _Run(
                plan=plan,
                errors=errors,
                problems=problems,
                refused=[],
                restore_seconds=clock.monotonic() - t0,
                verify_seconds=0.0,
                target=target_b,
            )
        outcome = make_restorer(
            repo,
            plan,
            jobs=options.jobs,
            workers=options.workers,
            progress=progress,
            watchdog=watchdog,
            reuse=False,  # a drill reads every file from the repository, whatever --target holds
        ).run(target_b)
        errors = [*outcome.errors, *outcome.warnings]  # the plan's are in the outcome too
        t2 = clock.monotonic()
        if scratch is not None:  # its own: no mode shuts its proof out (root may lack the
            let_owner_in(plan, target_b)  # capability that lets it in, as in a container)
        problems = prove_on_disk(
            plan,
            target_b,
            repo.sealer.current.id_key,
            workers=options.workers,
            jobs=jobs_for(options.jobs, plan.total_bytes),
            watchdog=watchdog,
        )
        return _Run(
            plan=plan,
            errors=errors,
            problems=problems,
            refused=outcome.refused,
            restore_seconds=t2 - t0,
            verify_seconds=clock.monotonic() - t2,
            target=target_b,
        )
    finally:
        if scratch is not None:
            scratch.close(remove=not options.keep)


def _projected(snapshot_bytes: int, rate: float) -> float:
    """The time a whole restore would take at the drill's rate (nothing to restore: none;
    a drill that timed no bytes: unknown, infinite)."""
    if snapshot_bytes <= 0:
        return 0.0
    return snapshot_bytes / rate if rate > 0 else math.inf


def _restore_test(
    repo: Repository, options: DrillOptions, progress: Progress, clock: Clock
) -> DrillResult:
    repo = repo.current(ask_the_store=True)  # what was stored since its index was read
    if options.sample_files is not None and options.sample_percent is not None:
        msg = "use either --sample or --sample-percent"
        raise UsageError(msg)
    sid, snap = find_snapshot(repo, options.snapshot, host=options.host)
    repo = repo.covering(snap.tree)  # a snapshot stored since the handle's index was read
    start = repo.tree_reads.mark()  # the tree packs read from the store after it may be proven
    repo.forget_missing_packs()  # a blob stored again elsewhere is read from there
    # The snapshot records its size; the tree is walked up front only to draw a sample.
    chosen, sample, walked_bytes = _choose_sample(repo, sid, snap.tree, options)
    with collector.paused():  # the plan lives as long as the drill: never worth traversing
        run = _restore_and_prove(repo, (sid, snap.tree), chosen, options, progress, clock)
    plan, errors, problems = run.plan, run.errors, run.problems
    errors += _not_restored(plan, chosen, {path for path, _ in [*errors, *problems]})
    checked = len(plan.files) + len(plan.hardlinks) + len(plan.others)
    empty = not checked and not errors and not problems
    # snapshots without a summary: the walked size, else the plan's
    snapshot_bytes = snap.summary.total_bytes_processed or walked_bytes or plan.total_bytes
    failures = sorted(set(errors) | set(problems))
    checked_bytes = sum(t.node.size for t in plan.files)
    rate = checked_bytes / max(run.restore_seconds, 1e-6)
    projected = _projected(snapshot_bytes, rate)
    projected = round(projected, 3) if math.isfinite(projected) else -1.0  # as recorded
    now = clock.now()
    age = (now - snap.time).total_seconds()
    # a target of 0 is a target (it had read as none, and the drill passed without a word)
    rto = options.rto_target.total_seconds() if options.rto_target is not None else None
    rpo = options.rpo_target.total_seconds() if options.rpo_target is not None else None
    passed = (
        not failures
        and not empty
        and (rto is None or 0 <= projected <= rto)
        and (rpo is None or 0 <= age <= rpo)  # dated ahead of the clock: its age is unknown
    )
    record = DrillFile(
        time=now,
        snapshot=sid.hex(),
        hostname=socket.gethostname(),
        sample=sample,
        files_checked=len(plan.files),
        bytes_checked=checked_bytes,
        mismatches=len(problems),
        errors=len(errors),
        restore_seconds=round(run.restore_seconds, 3),
        verify_seconds=round(run.verify_seconds, 3),
        bytes_per_second=round(rate, 1),
        snapshot_bytes=snapshot_bytes,
        projected_rto_seconds=projected,
        rto_target_seconds=rto,
        snapshot_age_seconds=round(age, 1),
        rpo_target_seconds=rpo,
        passed=passed,
        failures=tuple(f"{p}: {w}" for p, w in failures[:MAX_LISTED]),
    )
    record_id, record_error = _save_record(repo, record) if options.record else (None, None)
    whole = options.sample_files is None and options.sample_percent is None
    if passed and whole and options.record:
        _record_proofs(repo, snap.tree, now, start)
    return DrillResult(
        record=record,
        record_id=record_id,
        record_error=record_error,
        failures=tuple(failures),
        refused=tuple(sorted(set(run.refused))),
        errors=tuple(sorted(set(errors))),
        empty=empty,
        target=os.fsdecode(run.target),
        requests=repo.requests.snapshot(),
    )


def _record_proofs(repo: Repository, tree: ObjectId, now: datetime, start: int) -> None:
    """A full drill that passed opened every blob of the snapshot: the packs that hold only
    such blobs go into the verification ledger, tree packs only when the drill read them from
    the store since ``start`` (not the local cache); a store that refuses is said once."""
    try:
        ledgers.record_covered(
            repo,
            [tree],
            operation="restore-test",
            hostname=socket.gethostname(),
            now=now,
            since=start,
        )
    except S3VaultError as exc:  # a store that refuses writes; a tree gone since the drill
        not_written("the verification ledger file", str(exc))


def _save_record(repo: Repository, record: DrillFile) -> tuple[ObjectId | None, str | None]:
    """(the record's id, or why the store refused it: the verdict stands, unrecorded)."""
    try:
        return repo.save_file(ObjectKind.DRILLS, record.encode()), None
    except BackendError as exc:  # a read-only store
        return None, str(exc)


def _not_restored(
    plan: RestorePlan, chosen: set[str] | None, reported: set[str]
) -> list[tuple[str, str]]:
    """Files of the sample that the plan left out without a reason already reported."""
    if chosen is None:
        return []
    planned = {plan.shown(t.entry) for t in plan.files}
    planned.update(plan.shown(entry) for entry, _node, _first in plan.hardlinks)
    return [(path, "selected but not restored") for path in sorted(chosen - planned - reported)]


def drill_history(repo: Repository) -> list[tuple[ObjectId, DrillFile]]:
    """Every recorded drill, oldest first. A record that does not open is skipped and told to
    ``repo.skip`` (it holds only a past drill's result; the audit log keeps that it ran)."""
    drills = []
    for oid in repo.list_files(ObjectKind.DRILLS):
        try:
            drills.append((oid, DrillFile.decode(repo.load_file(ObjectKind.DRILLS, oid))))
        except ObjectNotFoundError:
            continue
        except (IntegrityError, FormatVersionError) as exc:
            name = object_name(ObjectKind.DRILLS, oid)
            reason = str(exc).removeprefix(name + ": ")
            repo.skip(name, f"drill record skipped: {reason}")
    drills.sort(key=lambda item: item[1].time)
    return drills
