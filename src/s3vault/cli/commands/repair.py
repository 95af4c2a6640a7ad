"""s3vault repair index | snapshots."""

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
    """Rebuild the index from the packs (never deletes a pack; keeps every blob that reads
    back, even from a pack whose header is damaged)."""
    ctx = cli_context()
    repo = open_repo(ctx, load_index=False)
    r = repair_index_op(repo, dry_run=dry_run)
    if r.changed and not dry_run:  # a repair that found nothing to do changes nothing
        ctx.audited(
            "repair index",
            new_index_files=[str(i) for i in r.new_index_files],
            blobs_lost=r.blobs_lost,
        )
    for pack in r.damaged_packs:
        if pack.lost and pack.kept:
            fate = f"kept {pack.kept} blob(s) that read back, {pack.lost} lost"
        elif pack.lost:
            fate = f"its {pack.lost} blob(s) leave the index"
        elif pack.kept:
            fate = f"kept all {pack.kept} blob(s) the index places there: they read back intact"
        else:
            fate = "nothing in it is indexed"
        warn(ctx, pack.name, f"{pack.problem}; {fate}")
    lost = r.blobs_lost
    if ctx.json:
        emit(
            ctx,
            "summary",
            packs=r.packs,
            blobs=r.blobs,
            changed=r.changed,
            damaged_packs=len(r.damaged_packs),
            blobs_lost=lost,
            new_index_files=r.new_index_files,
            removed_index_files=r.removed_index_files,
            dry_run=dry_run,
            requests=r.requests,
        )
    elif not r.changed:
        say(ctx, f"the index matches the {r.packs} packs: nothing to repair")
    elif dry_run:
        say(ctx, f"the index differs from the {r.packs} packs: run without --dry-run")
    else:
        say(
            ctx,
            f"rebuilt the index from {r.packs} packs ({r.blobs} blobs): "
            f"{len(r.new_index_files)} new index file(s), {r.removed_index_files} removed",
        )
    if lost and not ctx.json:
        say(
            ctx,
            f"{lost} blob(s) are lost: `s3vault verify` names the files; `s3vault backup` "
            "stores them again where the source still has them, `s3vault repair snapshots` "
            "removes them from the snapshots",
        )
    return ExitCode.DAMAGED if r.damaged_packs else ExitCode.OK
