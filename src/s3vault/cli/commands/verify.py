"""s3vault verify."""

from __future__ import annotations

import click

from s3vault import ExitCode, VerifyOptions
from s3vault import verify as verify_op
from s3vault.cli.options import cli_context, global_options
from s3vault.cli.progress import CliProgress
from s3vault.cli.render import emit, human_bytes, human_elapsed, plural, say
from s3vault.cli.session import open_repo

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
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    default=1,
    help="Worker processes that read packs back (0: one per core; default 1: none)",
)
def verify(read_data: bool, read_data_subset: str | None, seed: int | None, jobs: int) -> int:
    """Check the repository: structure, and with --read-data the data itself.

    Exit code 13 when anything is damaged; every finding names the object, the snapshots
    that need it and the paths whose content is lost.
    """
    ctx = cli_context()
    repo = open_repo(ctx, load_index=False)
    options = VerifyOptions(
        read_data=read_data, read_data_subset=read_data_subset, seed=seed, jobs=jobs
    )
    with CliProgress(ctx) as progress:
        r = verify_op(repo, options, progress=progress)
    rate = r.bytes_read / r.total_duration if r.total_duration > 0 else 0.0
    if ctx.json:
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
            requests=r.requests,
        )
    else:
        for f in r.findings:
            if f.severity == "info" and ctx.quiet:
                continue
            out = ctx.err if f.severity == "error" else ctx.out
            out.print(f"{f.severity}: {f.object}: {f.message}", markup=False)
            limit = None if ctx.verbose else SHOWN_PATHS
            for snap_path in f.paths[:limit]:
                out.print(f"    lost: {snap_path}", markup=False)
            if limit is not None and len(f.paths) > limit:
                out.print(f"    … and {len(f.paths) - limit} more (-v shows all)", markup=False)
            if f.snapshots:
                out.print(f"    snapshots: {', '.join(f.snapshots)}", markup=False)
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
        errors = sum(f.severity == "error" for f in r.findings)
        say(
            ctx,
            "no errors were found"
            if r.ok
            else f"{plural(errors, 'error')}: repository damaged (each says what to run; "
            "docs/troubleshooting.md, 'When the repository is damaged')",
        )
    return ExitCode.OK if r.ok else ExitCode.DAMAGED
