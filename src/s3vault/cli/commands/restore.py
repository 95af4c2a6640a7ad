"""s3vault restore."""

from __future__ import annotations

import os
from pathlib import Path

import click

from s3vault import (
    ARCHIVED,
    ExitCode,
    RestoreOptions,
    RestoreResult,
    SnapshotFilter,
    TagList,
    UsageError,
)
from s3vault import restore as restore_op
from s3vault.cli.context import CliContext
from s3vault.cli.options import (
    TargetDir,
    cli_context,
    global_options,
    latest_filters,
    pattern_file,
    read_workers_options,
)
from s3vault.cli.progress import CliProgress
from s3vault.cli.render import emit, human_bytes, human_elapsed, plural, printable, say
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
@click.option(
    "--iinclude",
    multiple=True,
    metavar="PATTERN",
    help="As --include, ignoring the case of letters (repeatable)",
)
@click.option(
    "--iexclude",
    multiple=True,
    metavar="PATTERN",
    help="As --exclude, ignoring the case of letters (repeatable)",
)
@pattern_file(
    "--include-file",
    "Read --include patterns from FILE, one a line, $VAR expanded (restic's; repeatable)",
)
@pattern_file("--exclude-file", "Read --exclude patterns from FILE (repeatable)")
@pattern_file("--iinclude-file", "Read --iinclude patterns from FILE (repeatable)")
@pattern_file("--iexclude-file", "Read --iexclude patterns from FILE (repeatable)")
@latest_filters
@click.option(
    "--overwrite",
    type=click.Choice(["always", "if-changed", "if-newer", "never"]),
    default="always",
    show_default=True,
    help="Files already in the target left as they are: always: those with the snapshot's "
    "content; if-changed: its size and mtime; if-newer: not older; never: any (restic 0.17)",
)
@click.option(
    "-n",
    "--dry-run",
    is_flag=True,
    help="Say what would be restored (files, directories, bytes); write nothing (restic 0.17)",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Read every restored file back and compare it with the snapshot (exit 13 on a mismatch)",
)
@read_workers_options("read, decode and write")
def restore(
    snapshot: str,
    target: Path,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    iinclude: tuple[str, ...],
    iexclude: tuple[str, ...],
    include_files: tuple[Path, ...],
    exclude_files: tuple[Path, ...],
    iinclude_files: tuple[Path, ...],
    iexclude_files: tuple[Path, ...],
    hosts: tuple[str, ...],
    tags: tuple[TagList, ...],
    paths: tuple[str, ...],
    overwrite: str,
    dry_run: bool,
    verify: bool,
    jobs: int,
    worker_timeout: float,
) -> int:
    """Restore SNAPSHOT (an id prefix, latest or latest~N) into --target; SNAPSHOT:PATH (as
    restic 0.16) restores what directory PATH holds, --include and --exclude matched below
    it. --host, --tag and --path choose which snapshot latest means, as restic's: the latest
    of those matching.

    \b
    Examples:
      s3vault restore latest --target /srv/restore --verify
      s3vault restore latest --host web1 --tag nightly --path /etc --target /tmp/r
      s3vault restore 1f2e3d4c --target /tmp/r --include /etc/nginx
      s3vault restore latest:/etc/nginx --target /etc/nginx.restored
    """
    ctx = cli_context()
    if dry_run and verify:
        raise UsageError("restore: --dry-run writes nothing for --verify to read back")
    repo = open_repo(ctx, snapshots_ahead=True)
    options = RestoreOptions(
        snapshot=snapshot,
        target=target,
        include=include,
        exclude=exclude,
        iinclude=iinclude,
        iexclude=iexclude,
        include_files=include_files,
        exclude_files=exclude_files,
        iinclude_files=iinclude_files,
        iexclude_files=iexclude_files,
        pattern_environ=dict(os.environ),
        select=SnapshotFilter(hosts=hosts, tags=tags, paths=paths),
        verify=verify,
        jobs=jobs,
        worker_timeout=worker_timeout,
        dry_run=dry_run,
        overwrite=overwrite,
    )
    with CliProgress(ctx) as progress:
        r = restore_op(repo, options, progress=progress)
    for path, message in r.warnings:
        progress.warned(path, message)
    return _report(ctx, r, verify=verify, overwrite=overwrite)


def _report(ctx: CliContext, r: RestoreResult, *, verify: bool, overwrite: str) -> int:
    """Errors, the summary and the exit code of a restore."""
    for path, message in [*r.errors, *((p, f"verify: {m}") for p, m in r.mismatches)]:
        if ctx.json:
            emit(ctx, "error", item=path, message=message)
        else:
            ctx.err.print(f"error: {printable(path)}: {printable(message)}", markup=False)
    if ctx.json:
        emit(
            ctx,
            "summary",
            **({"dry_run": True} if r.dry_run else {}),
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
            **_verify_fields(r, verify),
            requests=r.requests,
        )
    elif r.dry_run:
        say(
            ctx,
            f"would restore snapshot {r.snapshot_id.short} to {r.target}: "
            f"{plural(r.files_restored, 'file')}, {plural(r.dirs, 'directory', 'directories')}"
            f", {plural(r.others, 'other entry', 'other entries')}, "
            f"{human_bytes(r.total_bytes)} (dry run: nothing was written)",
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
        if verify:
            say(
                ctx,
                f"verified {plural(r.verified, 'file')} against the snapshot: "
                f"{len(r.mismatches)} did not match",
            )
    if r.mismatches and not ctx.json:
        ctx.err.print(
            f"read back, {plural(len(r.mismatches), 'file')} did not match the snapshot (listed "
            "above): the target changed them or did not store them faithfully; check the "
            "disk, then restore them again"
            # the mode given leaves them as they are (an attack pass, 2026-12-08)
            + ("" if overwrite == "always" else " with --overwrite always"),
            markup=False,
        )
    archived = [e for e in r.errors if ARCHIVED in e[1]]
    if archived and not ctx.json:  # intact data: "repair snapshots" would drop it
        ctx.err.print(
            f"{_not_restored(tuple(archived))} not restored: their data is in packs their "
            "storage class has archived (listed above): restore those packs from the archive "
            "(docs/s3.md), then restore again; nothing is known to be lost",
            markup=False,
        )
    damaged = tuple(e for e in r.errors if ARCHIVED not in e[1])
    if damaged and not ctx.json:
        ctx.err.print(
            f"{_not_restored(damaged)} not restored (missing or damaged data): `s3vault "
            "verify --read-data` names the damage (a plain verify reads no data); restore them "
            "from another snapshot (`s3vault find`), or `s3vault repair snapshots` to drop "
            "what is lost",
            markup=False,
        )
    if r.errors or r.mismatches:
        return ExitCode.DAMAGED
    return ExitCode.PARTIAL if r.warnings else ExitCode.OK


def _not_restored(errors: tuple[tuple[str, str], ...]) -> str:
    """What the errors lost: ``2 files``, or ``1 directory (and all in it) and 2 files`` (a
    directory whose tree cannot be read is one error, its path ending in "/")."""
    dirs = sum(1 for path, _ in errors if path.endswith("/"))
    files = plural(len(errors) - dirs, "file")
    if not dirs:
        return files
    lost = (
        f"{plural(dirs, 'directory', 'directories')} (and all in {'it' if dirs == 1 else 'them'})"
    )
    return f"{lost} and {files}" if len(errors) > dirs else lost


def _verify_fields(r: RestoreResult, verify: bool) -> dict[str, int]:
    """The summary's --verify counts (absent without --verify)."""
    return {"files_verified": r.verified, "verify_errors": len(r.mismatches)} if verify else {}
