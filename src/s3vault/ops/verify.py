"""verify: check the repository's structure and, optionally, read its data back."""

from __future__ import annotations

import math
import socket
from dataclasses import dataclass

from s3vault import collector
from s3vault.backend.accounting import RequestCounts
from s3vault.checker.checker import Checker, CheckOptions
from s3vault.checker.findings import CheckReport, Finding
from s3vault.checker.selection import PackSelection
from s3vault.clock import Clock, SystemClock
from s3vault.errors import BackendError, ExitCode, UsageError
from s3vault.ids import ObjectId
from s3vault.maintenance.endorse import Endorsement, endorse_proven
from s3vault.ops.audit import audited, measured, not_written
from s3vault.progress import Progress
from s3vault.repository import ledger as ledgers
from s3vault.repository.repository import Repository
from s3vault.workerpool import STALL_AFTER, available

DAY = 86_400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyOptions:
    """``read_data``: read every pack; ``read_data_subset``: n/m, x% or a size (implies it)."""

    read_data: bool = False
    read_data_subset: str | None = None
    workers: int = 2  # downloads and checks overlap enough with two; more only add memory
    seed: int | None = None
    # worker processes for the read-back (checker/parallelread.py); 0: one per core; 1: none
    jobs: int = 0
    worker_timeout: float = STALL_AFTER  # seconds a worker may hold a pack and say nothing
    coverage: float | None = None  # seconds: prove every pack at least once per this period
    budget: str | None = None  # with coverage: bytes to read now ("10G", "5%"; default: the
    # nightly share, period / 1 day of the bytes)


@dataclass(frozen=True, slots=True, kw_only=True)
class Coverage:
    """The verification ledger against a coverage period, after this run's proofs."""

    period: float  # seconds
    total_bytes: int  # every stored, indexed pack
    packs: int
    proven_bytes: int  # proven within the period
    never_bytes: int  # never proven
    oldest_proof_age: float | None  # seconds since the least recently proven pack's proof
    budget_bytes: int  # what this run was allowed to read
    nightly_bytes: int  # the budget per day that proves every pack once per period
    unreadable: tuple[str, ...]  # ledger files that did not open (skipped)

    @property
    def behind_bytes(self) -> int:
        """Bytes not proven within the period: what a run must read to catch up now."""
        return self.total_bytes - self.proven_bytes

    @property
    def ratio(self) -> float:
        """Share of the bytes proven within the period (1.0 for an empty repository)."""
        return self.proven_bytes / self.total_bytes if self.total_bytes else 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyResult:
    """What verify found. ``ok`` is False when any finding is an error."""

    ok: bool
    findings: tuple[Finding, ...]
    snapshots: int
    index_files: int
    packs: int
    packs_read: int
    bytes_read: int
    blobs_read: int
    total_duration: float
    requests: RequestCounts
    proven: int = 0  # packs this run read whole and found intact (recorded in the ledger)
    ledger_file: ObjectId | None = None  # the ledger file this run wrote
    coverage: Coverage | None = None
    # put-only index files whose packs this run proved, now endorsed for every host's dedup
    # (design.md §6a)
    endorsed: int = 0


def verify(
    repo: Repository,
    options: VerifyOptions | None = None,
    *,
    progress: Progress | None = None,
    clock: Clock | None = None,
) -> VerifyResult:
    """Check an open repository (its index need not be loaded: verify reads it afresh).
    Audited (its reads count); its coverage and problems are the run's metrics.

    Raises:
        UsageError: a malformed --read-data-subset.
        BackendError: storage could not be listed.
    """
    options = options or VerifyOptions()
    reading = options.read_data or bool(options.read_data_subset) or options.coverage is not None
    with audited(repo, "verify", read_data=reading) as note:
        result = _verify(repo, options, progress=progress, clock=clock or SystemClock())
        if not result.ok:
            note.found(ExitCode.DAMAGED, f"damage found: {len(result.findings)} finding(s)")
    figures = {
        "verify_coverage_ratio": result.packs_read / result.packs if result.packs else 1.0,
        "verify_problems": float(len(result.findings)),
    }
    if result.coverage is not None:
        figures["verify_proven_ratio"] = result.coverage.ratio
        figures["verify_unproven_bytes"] = float(result.coverage.behind_bytes)
        if result.coverage.oldest_proof_age is not None:
            figures["verify_oldest_proof_age_seconds"] = result.coverage.oldest_proof_age
    measured("verify", **figures)
    return result


def _verify(
    repo: Repository, options: VerifyOptions, *, progress: Progress | None, clock: Clock
) -> VerifyResult:
    subset = PackSelection.parse(options.read_data_subset) if options.read_data_subset else None
    ledger = None
    if options.coverage is not None:
        if options.coverage <= 0:
            msg = "--coverage needs a period longer than zero (e.g. 30d)"
            raise UsageError(msg)
        if subset is not None or options.read_data:
            msg = "--coverage chooses the packs itself: it does not mix with --read-data(-subset)"
            raise UsageError(msg)
        ledger = ledgers.load(repo, now=clock.now().timestamp())
        last = {pack: p.time for pack, p in ledger.proofs.items()}
        budget = options.budget or f"{_nightly_share(options.coverage):.6f}%"
        subset = PackSelection.oldest_first(budget, last)
    elif options.budget is not None:
        msg = "--budget goes with --coverage"
        raise UsageError(msg)
    checker = Checker(repo, progress=progress, clock=clock)
    with collector.paused():  # the index and the walk's trees: nothing a collection could free
        report = checker.run(
            CheckOptions(
                read_data=options.read_data or subset is not None,
                subset=subset,
                workers=options.workers,
                seed=options.seed,
                jobs=options.jobs if available() else 1,  # 0: the checker's read_back_jobs
                worker_timeout=options.worker_timeout,
            )
        )
    written = _record(repo, report.proven, clock) if report.proven else None
    endorsed = Endorsement()
    if written is not None:  # a store that refused the ledger file refuses views too: said once
        endorsed = _endorse(repo, report)
    coverage = None
    if ledger is not None and options.coverage is not None and subset is not None:
        coverage = _coverage(report, ledger, options.coverage, subset, clock)
    return VerifyResult(
        ok=report.ok,
        findings=tuple(report.findings),
        snapshots=report.snapshots,
        index_files=report.index_files,
        packs=report.packs,
        packs_read=report.packs_read,
        bytes_read=report.bytes_read,
        blobs_read=report.blobs_read,
        total_duration=report.seconds,
        requests=repo.requests.snapshot(),
        proven=len(report.proven),
        ledger_file=written,
        coverage=coverage,
        endorsed=endorsed.views,
    )


def _endorse(repo: Repository, report: CheckReport) -> Endorsement:
    """Endorse the put-only index files this run proved whole (maintenance/endorse.py); a
    store that refuses (or fails to list) leaves the read-back standing and is said once."""
    try:
        done = endorse_proven(repo, report.put_packs, {pack for pack, _ in report.proven})
    except BackendError as exc:
        done = Endorsement(refused=str(exc))
    if done.refused:
        not_written("the endorsed dedup views", done.refused)
    return done


def _nightly_share(period: float) -> float:
    """The percentage of the bytes a daily run reads to prove everything once per period."""
    return min(100.0, 100.0 * DAY / period)


def _record(repo: Repository, proven: list[tuple[ObjectId, int]], clock: Clock) -> ObjectId | None:
    """Write this run's proofs to the ledger; a store that refuses (a read-only credential)
    leaves the read-back standing and is said once."""
    try:
        return ledgers.record(
            repo, proven, operation="verify", hostname=socket.gethostname(), now=clock.now()
        )
    except BackendError as exc:
        not_written("the verification ledger file", str(exc))
        return None


def _coverage(
    report: CheckReport,
    ledger: ledgers.Ledger,
    period: float,
    selection: PackSelection,
    clock: Clock,
) -> Coverage:
    """The coverage of the stored packs once this run's proofs count."""
    now = clock.now().timestamp()
    last = {pack: p.time for pack, p in ledger.proofs.items()}
    last.update(dict.fromkeys((pack for pack, _ in report.proven), now))
    total = sum(report.stored.values())
    proven = sum(
        size for pack, size in report.stored.items() if last.get(pack, -1.0) >= now - period
    )
    never = sum(size for pack, size in report.stored.items() if pack not in last)
    times = [last[pack] for pack in report.stored if pack in last]
    budget = selection.size
    if budget is None:
        budget = math.ceil(total * (selection.percent or 100) / 100)
    return Coverage(
        period=period,
        total_bytes=total,
        packs=len(report.stored),
        proven_bytes=proven,
        never_bytes=never,
        oldest_proof_age=now - min(times) if times else None,
        budget_bytes=budget,
        nightly_bytes=math.ceil(total * _nightly_share(period) / 100),
        unreadable=tuple(sorted(ledger.unreadable)),
    )
