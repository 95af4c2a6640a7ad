"""s3vault rewrite."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import click

from s3vault import ExitCode, RewriteOptions, RewriteResult, SnapshotRewrite, TagList
from s3vault import rewrite as rewrite_op
from s3vault.cli.context import CliContext
from s3vault.cli.options import (
    Timestamp,
    cli_context,
    global_options,
    iexclude_options,
    snapshot_filters,
)
from s3vault.cli.progress import CliProgress
from s3vault.cli.render import emit, human_bytes, printable, say
from s3vault.cli.session import open_repo

SHOWN_REMOVED = 20  # paths listed per snapshot without -v


@click.command()
@global_options
@click.argument("snapshot_ids", nargs=-1, metavar="[SNAPSHOT_ID]...")
@click.option(
    "-e",
    "--exclude",
    "excludes",
    multiple=True,
    metavar="PATTERN",
    help="Remove the paths this pattern matches (backup's exclude rules; repeatable)",
)
@click.option(
    "--exclude-file",
    "exclude_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Read exclude patterns from a file, one a line, $VAR expanded as restic does",
)
@iexclude_options
@click.option("--new-host", metavar="HOST", help="Give the rewritten snapshots this host")
@click.option(
    "--new-time",
    type=Timestamp(),
    help="Give the rewritten snapshots this time (ISO 8601, local time unless a zone is given)",
)
@click.option(
    "--forget", is_flag=True, help="Remove the original snapshots once their rewrites exist"
)
@click.option("-n", "--dry-run", is_flag=True, help="Show what would be removed; write nothing")
@snapshot_filters
def rewrite(
    snapshot_ids: tuple[str, ...],
    excludes: tuple[str, ...],
    exclude_files: tuple[Path, ...],
    iexcludes: tuple[str, ...],
    iexclude_files: tuple[Path, ...],
    new_host: str | None,
    new_time: datetime | None,
    forget: bool,
    dry_run: bool,
    hosts: tuple[str, ...],
    tags: tuple[TagList, ...],
    paths: tuple[str, ...],
) -> int:
    """Remove paths from existing snapshots (a secret backed up by mistake).

    Each selected snapshot holding a path the patterns match gets a rewritten copy without
    it: same time, host, paths and tags, tagged `rewrite` (not with --forget, as restic), its
    `original` field naming the snapshot it came from. Without --forget both stay; with
    --forget the originals are removed once the copies are stored, and a later `s3vault prune`
    frees the removed files' data. SNAPSHOT_ID names snapshots; without one, every snapshot
    the filters select.

    A snapshot with a tree that cannot be read is not rewritten (exit 13): the unread part
    might hold what is to be removed. One whose every path would be removed is left alone
    (forget it instead).

    \b
    Examples:
      s3vault rewrite --dry-run --exclude /home/me/.aws/credentials
      s3vault rewrite --exclude '*.key' --forget && s3vault prune
      s3vault rewrite --new-host web1 --host web1.old.example.com
    """
    ctx = cli_context()
    options = RewriteOptions(
        snapshot_ids=snapshot_ids,
        hosts=hosts,
        tags=tags,
        paths=paths,
        excludes=excludes,
        exclude_files=exclude_files,
        iexcludes=iexcludes,
        iexclude_files=iexclude_files,
        new_host=new_host,
        new_time=new_time,
        exclude_environ=dict(os.environ),
        forget=forget,
        dry_run=dry_run,
    )
    options.rules()  # a bad pattern or exclude file is refused before the repository opens
    repo = open_repo(ctx, load_index=False)
    with CliProgress(ctx) as progress:
        r = rewrite_op(repo, options, progress=progress)
    if ctx.json:
        for s in r.snapshots:
            emit(ctx, "snapshot_rewrite", **_fields(s))
        emit(
            ctx,
            "summary",
            rewritten=sum(s.status == "rewritten" for s in r.snapshots),
            unchanged=sum(s.status == "unchanged" for s in r.snapshots),
            left_alone=sum(s.status == "empty" for s in r.snapshots),
            refused=len(r.refused),
            originals_removed=sum(s.original_removed for s in r.snapshots),
            trees_written=r.trees_written,
            dry_run=r.dry_run,
            requests=r.requests,
        )
    else:
        _say(ctx, r)
    return ExitCode.DAMAGED if r.refused else ExitCode.OK


def _fields(s: SnapshotRewrite) -> dict[str, object]:
    return {
        "snapshot_id": s.id,
        "status": s.status,
        "time": s.time,
        "hostname": s.hostname,
        "paths": s.paths,
        "removed": [{"path": x.path, "type": x.type, "size": x.size} for x in s.removed],
        "new_snapshot_id": s.new_id,
        "resumed": s.resumed,
        "original_removed": s.original_removed,
        "locked_until": _when(s.locked_until) if s.locked_until else None,
        **({"problem": s.problem} if s.problem else {}),
    }


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _count(n: int) -> str:
    return f"{n} snapshot" if n == 1 else f"{n} snapshots"


def _say(ctx: CliContext, r: RewriteResult) -> None:
    for s in r.snapshots:
        if s.status != "unchanged":
            _say_one(ctx, s, r)
    rewritten = sum(s.status == "rewritten" and not s.resumed for s in r.snapshots)
    earlier = sum(s.resumed for s in r.snapshots)
    verb = "would rewrite" if r.dry_run else "rewrote"
    text = f"{verb} {_count(rewritten)} of {len(r.snapshots)} selected"
    if earlier:
        text += f" ({earlier} rewritten by an earlier run already)"
    if r.refused:
        text += f"; {_count(len(r.refused))} not rewritten (damaged)"
    if r.dry_run:
        text += "; nothing was written (dry run)"
    say(ctx, text)
    if rewritten and not r.dry_run and r.forget:
        say(ctx, "run `s3vault prune` to free the removed files' data")


def _say_one(ctx: CliContext, s: SnapshotRewrite, r: RewriteResult) -> None:
    when = f"{s.time.astimezone():%Y-%m-%d %H:%M:%S}"
    paths = printable(", ".join(s.paths))  # names are the backed-up host's: escaped
    say(ctx, f"snapshot {s.id.short} of {printable(s.hostname)} at {when} ({paths}):")
    if s.status == "damaged":
        say(ctx, f"  not rewritten: {s.problem}; `s3vault repair snapshots` first")
        return
    limit = None if ctx.verbose else SHOWN_REMOVED
    verb = "would remove" if r.dry_run or s.status == "empty" else "removed"
    for x in s.removed[:limit]:
        size = f" ({human_bytes(x.size)})" if x.type == "file" else ""
        kind = "directory" if x.type == "dir" else x.type
        say(ctx, f"  {verb} {kind} {printable(x.path)}{size}")
    if limit is not None and len(s.removed) > limit:
        say(ctx, f"  … and {len(s.removed) - limit} more (-v lists all)")
    if s.status == "empty":
        say(ctx, "  left alone: every path would be removed (`s3vault forget` removes it)")
    elif s.new_id is not None:
        if s.resumed:
            say(ctx, f"  already rewritten as snapshot {s.new_id.short} (by an earlier run)")
        else:
            say(ctx, f"  saved as snapshot {s.new_id.short}")
        if s.original_removed:
            say(ctx, "  the original is removed")
        elif s.locked_until:
            say(ctx, f"  the original stays: Object Lock holds it until {_when(s.locked_until)}")
