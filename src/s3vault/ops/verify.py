"""verify: check the repository's structure and, optionally, read its data back."""

from __future__ import annotations

from dataclasses import dataclass

from s3vault.backend.accounting import RequestCounts
from s3vault.checker.checker import Checker, CheckOptions
from s3vault.checker.findings import Finding
from s3vault.checker.selection import PackSelection
from s3vault.clock import Clock
from s3vault.ops.audit import audited, measured
from s3vault.progress import Progress
from s3vault.repository.repository import Repository
from s3vault.workerpool import available, default_jobs


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyOptions:
    """``read_data``: read every pack; ``read_data_subset``: n/m, x% or a size (implies it)."""

    read_data: bool = False
    read_data_subset: str | None = None
    workers: int = 2  # downloads and checks overlap enough with two; more only add memory
    seed: int | None = None
    # worker processes for the read-back (checker/parallelread.py); 0: one per core; 1: none
    jobs: int = 1


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
    with audited(repo, "verify", read_data=options.read_data or bool(options.read_data_subset)):
        result = _verify(repo, options, progress=progress, clock=clock)
    measured(
        "verify",
        verify_coverage_ratio=result.packs_read / result.packs if result.packs else 1.0,
        verify_problems=len(result.findings),
    )
    return result


def _jobs(configured: int) -> int:
    """Worker processes for the read-back: 0 is one per core; none where fork is missing."""
    jobs = configured or default_jobs()
    return jobs if available() else 1


def _verify(
    repo: Repository, options: VerifyOptions, *, progress: Progress | None, clock: Clock | None
) -> VerifyResult:
    subset = PackSelection.parse(options.read_data_subset) if options.read_data_subset else None
    report = Checker(repo, progress=progress, clock=clock).run(
        CheckOptions(
            read_data=options.read_data or subset is not None,
            subset=subset,
            workers=options.workers,
            seed=options.seed,
            jobs=_jobs(options.jobs),
        )
    )
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
    )
