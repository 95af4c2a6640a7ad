"""s3vault restore."""

from __future__ import annotations

from pathlib import Path

import click

from s3vault import ExitCode, RestoreOptions
from s3vault import restore as restore_op
from s3vault.cli.options import TargetDir, cli_context, global_options
from s3vault.cli.progress import CliProgress
from s3vault.cli.render import emit, human_bytes, human_elapsed, plural, say
from s3vault.cli.session import open_repo


@click.command()
@global_options
@click.argument("snapshot")
@click.option(
    "-t",
    "--target",
    required=True,
    type=TargetDir(),
    help="Directory to restore into (created if missing)",
)
@click.option(
    "-i",
    "--include",
    multiple=True,
    metavar="PATTERN",
    help="Restore only paths matching PATTERN (restic's pattern rules, repeatable)",
)
@click.option(
    "-e",
    "--exclude",
    multiple=True,
    metavar="PATTERN",
    help="Do not restore paths matching PATTERN (repeatable)",
)
@click.option("-H", "--host", help="With 'latest': the latest snapshot of this host")
def restore(
    snapshot: str,
    target: Path,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    host: str | None,
) -> int:
    """Restore SNAPSHOT (an id prefix, latest or latest~N) into --target."""
    ctx = cli_context()
    repo = open_repo(ctx, snapshots_ahead=True)
    options = RestoreOptions(
        snapshot=snapshot, target=target, include=include, exclude=exclude, host=host
    )
    with CliProgress(ctx) as progress:
        r = restore_op(repo, options, progress=progress)
    for path, message in r.warnings:
        progress.warned(path, message)
    for path, message in r.errors:
        if ctx.json:
            emit(ctx, "error", item=path, message=message)
        else:
            ctx.err.print(f"error: {path}: {message}", markup=False)
    if ctx.json:
        emit(
            ctx,
            "summary",
            snapshot_id=r.snapshot_id,
            target=r.target,
            files_restored=r.files_restored,
            files_skipped=r.files_skipped,
            dirs=r.dirs,
            bytes_written=r.bytes_written,
            total_bytes=r.total_bytes,
            total_duration=round(r.total_duration, 3),
            errors=len(r.errors),
            warnings=len(r.warnings),
            requests=r.requests,
        )
    else:
        rate = r.bytes_written / r.total_duration if r.total_duration > 0 else 0
        say(
            ctx,
            f"restored snapshot {r.snapshot_id.short} to {r.target}: "
            f"{plural(r.files_restored, 'file')} ({r.files_skipped} already present), "
            f"{human_bytes(r.bytes_written)} in {human_elapsed(r.total_duration)} "
            f"({human_bytes(rate)}/s)",
        )
    if r.errors:
        if not ctx.json:
            ctx.err.print(
                f"{plural(len(r.errors), 'file')} not restored (missing or damaged data): `s3vault "
                "verify` names the damage; restore them from another snapshot (`s3vault find`), "
                "or `s3vault repair snapshots` to drop what is lost",
                markup=False,
            )
        return ExitCode.DAMAGED
    return ExitCode.PARTIAL if r.warnings else ExitCode.OK
