"""s3vault repair index."""

from __future__ import annotations

import click

from s3vault import repair_index as repair_index_op
from s3vault.cli.options import cli_context, global_options
from s3vault.cli.render import emit, say, warn
from s3vault.cli.session import open_repo
from s3vault.errors import ExitCode


@click.group()
@global_options
def repair() -> None:
    """Repair repository metadata."""


@repair.command("index")
@global_options
@click.option("-n", "--dry-run", is_flag=True, help="Only say whether the index needs rebuilding")
def index(dry_run: bool) -> int:
    """Rebuild the index from the pack headers (never deletes a pack)."""
    ctx = cli_context()
    repo = open_repo(ctx, load_index=False)
    r = repair_index_op(repo, dry_run=dry_run)
    if r.changed and not dry_run:  # a repair that found nothing to do changes nothing
        ctx.audited("repair index")
    for name, reason in r.unreadable_packs:
        warn(ctx, name, f"pack header unreadable, its blobs stay unindexed: {reason}")
    if ctx.json:
        emit(
            ctx,
            "summary",
            packs=r.packs,
            blobs=r.blobs,
            changed=r.changed,
            unreadable_packs=len(r.unreadable_packs),
            new_index_files=r.new_index_files,
            removed_index_files=r.removed_index_files,
            dry_run=dry_run,
            requests=r.requests,
        )
    elif not r.changed:
        say(ctx, f"the index matches the {r.packs} pack headers: nothing to repair")
    elif dry_run:
        say(ctx, f"the index differs from the {r.packs} pack headers: run without --dry-run")
    else:
        say(
            ctx,
            f"rebuilt the index from {r.packs} packs ({r.blobs} blobs): "
            f"{len(r.new_index_files)} new index file(s), {r.removed_index_files} removed",
        )
    return ExitCode.DAMAGED if r.unreadable_packs else ExitCode.OK
