"""s3vault verify."""

from __future__ import annotations

from datetime import timedelta

import click

from s3vault import (
    Coverage,
    ExitCode,
    PutOnlyKeyError,
    PutOnlyVerifyResult,
    VerifyOptions,
    VerifyResult,
    open_put_only_repository,
    readable,
    verify_put_only,
)
from s3vault import verify as verify_op
from s3vault.cli.context import CliContext
from s3vault.cli.options import Duration, cli_context, global_options, read_workers_options
from s3vault.cli.progress import CliProgress
from s3vault.cli.render import (
    emit,
    human_bytes,
    human_duration,
    human_elapsed,
    plural,
    printable,
    say,
    warn,
)
from s3vault.cli.session import open_repo, repo_options

SHOWN_PATHS = 10


@click.command()
@global_options
@click.option("--read-data", is_flag=True, help="Download every pack and check every blob")
@click.option(
    "--read-data-subset",
    metavar="n/m|x%|SIZE",
    help="Read only the n-th of m groups of packs, a random x%, or about SIZE (e.g. 5G)",
)
@click.option("--seed", type=int, help="Seed for a random subset (to replay a run)")
@click.option(
    "--coverage",
    type=Duration(bare_minutes=False),
    metavar="PERIOD",
    help="Read the packs proven longest ago first, so that nightly runs prove every pack "
    "at least once per PERIOD (e.g. 30d); the verification ledger records each proof",
)
@click.option(
    "--budget",
    metavar="SIZE|x%",
    help="With --coverage: read at most this much now (default: the nightly share, "
    "1 day / PERIOD of the bytes)",
)
@read_workers_options(
    "read packs back",
    "one per core from 32 MiB read; one process below, and through S3 on two cores or fewer",
)
def verify(
    read_data: bool,
    read_data_subset: str | None,
    seed: int | None,
    coverage: timedelta | None,
    budget: str | None,
    jobs: int,
    worker_timeout: float,
) -> int:
    """Check the repository: structure, and with --read-data the data itself.

    Every read-back records the packs it proved (read whole, every blob intact) in the
    repository's verification ledger; --coverage uses it to read the least recently proven
    packs first. Exit code 13 when anything is damaged; every finding names the object, the
    snapshots that need it and the paths whose content is lost. With a put-only key (a backup
    host's), the structure checks of what it may see, reading no data (docs/keys.md).
    """
    ctx = cli_context()
    options = VerifyOptions(
        read_data=read_data,
        read_data_subset=read_data_subset,
        seed=seed,
        coverage=coverage.total_seconds() if coverage is not None else None,
        budget=budget,
        jobs=jobs,
        worker_timeout=worker_timeout,
    )
    try:
        repo = open_repo(ctx, load_index=False)
    except PutOnlyKeyError:  # a backup host's key: what it may see, no data (design.md §6a)
        put = open_put_only_repository(repo_options(ctx))
        with CliProgress(ctx) as progress:
            p = verify_put_only(put, options, progress=progress)
        _report_put_only(ctx, p)
        return ExitCode.OK if p.ok else ExitCode.DAMAGED
    with CliProgress(ctx) as progress:
        r = verify_op(repo, options, progress=progress)
    rate = r.bytes_read / r.total_duration if r.total_duration > 0 else 0.0
    if ctx.json:
        _emit(ctx, r, rate)
    else:
        _say(ctx, r, rate)
    return ExitCode.OK if r.ok else ExitCode.DAMAGED


def _emit_findings(ctx: CliContext, r: VerifyResult | PutOnlyVerifyResult) -> None:
    for f in r.findings:
        emit(
            ctx,
            "finding",
            severity=f.severity,
            kind=f.kind,
            object=f.object,
            message=f.message,
            snapshots=f.snapshots,
            paths=f.paths,
        )


def _emit(ctx: CliContext, r: VerifyResult, rate: float) -> None:
    _emit_findings(ctx, r)
    emit(
        ctx,
        "summary",
        ok=r.ok,
        errors=sum(f.severity == "error" for f in r.findings),
        snapshots=r.snapshots,
        index_files=r.index_files,
        packs=r.packs,
        packs_read=r.packs_read,
        bytes_read=r.bytes_read,
        blobs_read=r.blobs_read,
        total_duration=round(r.total_duration, 3),
        bytes_per_second=round(rate),
        packs_proven=r.proven,
        ledger_file=r.ledger_file,
        endorsed_index_files=r.endorsed,
        coverage=_coverage_fields(r.coverage),
        requests=r.requests,
    )


def _say_findings(ctx: CliContext, r: VerifyResult | PutOnlyVerifyResult) -> None:
    for f in r.findings:
        if f.severity == "info" and ctx.quiet:
            continue
        out = ctx.err if f.severity == "error" else ctx.out
        # an object's name that is no UTF-8 as listings show it (``\xff``), and as the
        # commands verify names (`key remove`) take it back; control characters escaped as
        # ls escapes them (a stray object's name printed ESC sequences raw, an attack pass)
        message = printable(f.message)
        out.print(f"{f.severity}: {printable(readable(f.object))}: {message}", markup=False)
        limit = None if ctx.verbose else SHOWN_PATHS
        label = "archived" if f.kind == "pack-archived" else "lost"  # nothing is lost there
        for snap_path in f.paths[:limit]:
            out.print(f"    {label}: {printable(snap_path)}", markup=False)
        if limit is not None and len(f.paths) > limit:
            out.print(f"    … and {len(f.paths) - limit} more (-v shows all)", markup=False)
        if f.snapshots:
            out.print(f"    snapshots: {', '.join(f.snapshots)}", markup=False)


def _say(ctx: CliContext, r: VerifyResult, rate: float) -> None:
    _say_findings(ctx, r)
    read = ""
    if r.packs_read:
        read = (
            f", read {r.packs_read} packs ({human_bytes(r.bytes_read)}, {r.blobs_read} "
            f"blobs) at {human_bytes(rate)}/s"
        )
    say(
        ctx,
        f"checked {r.snapshots} snapshots, {r.index_files} index files, "
        f"{r.packs} packs{read} in {human_elapsed(r.total_duration)}",
    )
    if r.coverage is not None:
        _say_coverage(ctx, r, r.coverage)
    if r.endorsed:
        say(ctx, f"endorsed {plural(r.endorsed, 'put-only index file')} for every host's dedup")
    _say_outcome(ctx, r)


def _say_outcome(ctx: CliContext, r: VerifyResult | PutOnlyVerifyResult) -> None:
    errors = [f for f in r.findings if f.severity == "error"]
    archived = sum(f.kind == "pack-archived" for f in errors)
    if r.ok:
        said = "no errors were found"
    elif archived == len(errors):  # not damage (it said so, over findings saying otherwise)
        said = (
            f"{plural(archived, 'error')}: packs archived by their storage class could not be "
            "read (nothing is known to be lost: restore them from the archive, then verify "
            "again; docs/s3.md)"
        )
    else:
        said = (
            f"{plural(len(errors), 'error')}: repository damaged (each says what to run; "
            "docs/troubleshooting.md, 'When the repository is damaged')"
        )
    say(ctx, said)


def _report_put_only(ctx: CliContext, r: PutOnlyVerifyResult) -> None:
    """A put-only verify: the same finding lines and summary as verify's, with what each check
    saw and what it could not check."""
    if ctx.json:
        _emit_findings(ctx, r)
        emit(
            ctx,
            "summary",
            ok=r.ok,
            errors=sum(f.severity == "error" for f in r.findings),
            snapshots=0,
            index_files=r.index_files,
            packs=r.packs,
            packs_read=0,
            bytes_read=0,
            blobs_read=0,
            total_duration=round(r.total_duration, 3),
            bytes_per_second=0,
            packs_proven=0,
            ledger_file=None,
            coverage=None,
            requests=r.requests,
            access="put-only",
            host=r.host,
            views=r.views,
            pack_bytes=r.pack_bytes,
            state_snapshot=r.state_snapshot,
            audit_records=r.audit_records,
            checks=[{"name": c.name, "ok": c.ok, "message": c.message} for c in r.checks],
            not_checked=list(r.not_checked),
        )
        return
    say(ctx, f"put-only structure check (host {r.host}): what this key may see, no data read")
    for check in r.checks:
        say(ctx, check.message)
    _say_findings(ctx, r)
    for what in r.not_checked:
        say(ctx, f"not checked: {what}")
    say(
        ctx,
        f"checked {plural(r.index_files, 'index file')}, {plural(r.views, 'view')}, "
        f"{plural(r.packs, 'pack')} ({human_bytes(r.pack_bytes)}, listed, not read) in "
        f"{human_elapsed(r.total_duration)}; no ledger file written",
    )
    _say_outcome(ctx, r)


def _coverage_fields(c: Coverage | None) -> dict[str, object] | None:
    if c is None:
        return None
    return {
        "period_seconds": c.period,
        "total_bytes": c.total_bytes,
        "proven_bytes": c.proven_bytes,
        "proven_ratio": round(c.ratio, 6),
        "behind_bytes": c.behind_bytes,
        "never_proven_bytes": c.never_bytes,
        "oldest_proof_age_seconds": c.oldest_proof_age,
        "budget_bytes": c.budget_bytes,
        "nightly_bytes": c.nightly_bytes,
        "unreadable_ledger_files": list(c.unreadable),
    }


def _say_coverage(ctx: CliContext, r: VerifyResult, c: Coverage) -> None:
    days, rest = divmod(c.period, 86_400)
    period = plural(int(days), "day") if not rest else human_duration(c.period)
    say(
        ctx,
        f"coverage: {c.ratio:.1%} of {human_bytes(c.total_bytes)} proven within {period}; "
        f"this run proved {plural(r.proven, 'pack')} (budget {human_bytes(c.budget_bytes)})",
    )
    if c.behind_bytes:
        never = f", {human_bytes(c.never_bytes)} of it never proven" if c.never_bytes else ""
        oldest = ""
        if c.oldest_proof_age is not None and c.oldest_proof_age > c.period:
            late = human_duration(c.oldest_proof_age - c.period)
            oldest = f"; the oldest proof is {late} past the period"
        say(
            ctx,
            f"behind: {human_bytes(c.behind_bytes)} not proven within {period}{never}{oldest}. "
            f"--budget {_size_arg(c.behind_bytes)} catches up in one run; "
            f"{_size_arg(c.nightly_bytes)} a night keeps every pack proven once per {period}",
        )
    for name in c.unreadable:
        warn(ctx, name, "ledger file skipped: it does not open (its proofs count as missing)")


def _size_arg(n: int) -> str:
    """A --budget value of at least ``n`` bytes, in whole MiB/GiB."""
    mib = max(1, -(-n // (1 << 20)))
    return f"{-(-mib // 1024)}G" if mib >= 10 * 1024 else f"{mib}M"
