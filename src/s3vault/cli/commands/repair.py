"""s3vault repair index | packs | snapshots."""

from __future__ import annotations

from pathlib import Path

import click

from s3vault import (
    ExitCode,
    PackSalvage,
    RepairPacksOptions,
    RepairPacksResult,
    RepairSnapshotsOptions,
    RepairSnapshotsResult,
    SnapshotRepairReport,
)
from s3vault import repair_index as repair_index_op
from s3vault import repair_packs as repair_packs_op
from s3vault import repair_snapshots as repair_snapshots_op
from s3vault.cli.context import CliContext
from s3vault.cli.options import cli_context, global_options
from s3vault.cli.progress import CliProgress
from s3vault.cli.render import emit, plural, say, warn
from s3vault.cli.session import open_repo

SHOWN_DROPPED = 20


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
    with CliProgress(ctx) as progress:  # says so while it waits for a prune's lease
        r = repair_index_op(repo, dry_run=dry_run, progress=progress)
    keep, leave = ("would keep", "would leave") if dry_run else ("kept", "leave")
    for pack in r.damaged_packs:
        if pack.gone:
            fate = f"another pack holds each of its {plural(pack.copies, 'blob')}: nothing is lost"
        elif pack.lost and pack.kept:
            fate = f"{keep} {plural(pack.kept, 'blob')} that read back, {pack.lost} lost"
        elif pack.lost:
            fate = f"its {plural(pack.lost, 'blob')} {leave} the index"
        elif pack.kept:
            kept = plural(pack.kept, "blob")
            fate = f"{keep} all {kept} the index places there: they read back intact"
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
            f"{plural(len(r.new_index_files), 'new index file')}, {r.removed_index_files} removed",
        )
    if lost and not ctx.json:
        say(
            ctx,
            f"{plural(lost, 'blob')} {'is' if lost == 1 else 'are'} lost: "
            "`s3vault verify` names the files; `s3vault backup` "
            "stores them again where the source still has them, `s3vault repair snapshots` "
            "removes them from the snapshots",
        )
    damage_left = [p for p in r.damaged_packs if not p.gone]
    return ExitCode.DAMAGED if damage_left else ExitCode.OK


@repair.command("packs")
@global_options
@click.argument("pack_ids", metavar="PACK...", nargs=-1, required=True)
@click.option(
    "--save-to",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    show_default="the current directory",
    help="Keep a copy of each pack as read here before it is removed",
)
@click.option("--no-save", is_flag=True, help="Keep no copy of the packs")
@click.option("-n", "--dry-run", is_flag=True, help="Say what would be salvaged; change nothing")
def packs(pack_ids: tuple[str, ...], save_to: Path, no_save: bool, dry_run: bool) -> int:
    """Salvage damaged packs, as `s3vault verify --read-data` names them (ids or prefixes).

    Every blob of the packs that reads back intact and that no other pack holds is written
    into a new pack; then the index stops naming the packs and they are removed (a copy of
    each is kept in --save-to first; Object Lock may keep the original until its retention
    ends). Blobs that read back from nowhere are lost: `s3vault backup` stores them again
    where the source still has them, `s3vault repair snapshots` removes them from the
    snapshots. Exit code 13 when something is lost.
    """
    ctx = cli_context()
    repo = open_repo(ctx, load_index=True)
    options = RepairPacksOptions(
        packs=pack_ids, save_to=None if no_save else save_to, dry_run=dry_run
    )
    with CliProgress(ctx) as progress:
        r = repair_packs_op(repo, options, progress=progress)
    for name, why in r.skipped:
        warn(ctx, name, f"left alone: {why}")
    if ctx.json:
        for p in r.packs:
            emit(ctx, "pack_repair", **_pack_fields(p))
        emit(
            ctx,
            "summary",
            packs=len(r.packs),
            rewritten=sum(p.rewritten for p in r.packs),
            copies=sum(p.copies for p in r.packs),
            blobs_lost=r.blobs_lost,
            new_index_files=r.new_index_files,
            saved=[str(p) for p in r.saved],
            dry_run=dry_run,
            requests=r.requests,
        )
    else:
        _say_packs(ctx, r)
    return ExitCode.DAMAGED if r.damage_left else ExitCode.OK


def _pack_fields(p: PackSalvage) -> dict[str, object]:
    return {
        "pack": p.name,
        "problem": p.problem or None,
        "blobs": p.blobs,
        "rewritten": p.rewritten,
        "copies": p.copies,
        "lost": [{"type": t.value, "id": str(b)} for t, b in p.lost],
        "deleted": p.deleted,
        "locked_until": p.locked_until or None,  # null: not locked
    }


def _say_packs(ctx: CliContext, r: RepairPacksResult) -> None:
    rewrite = "would write again" if r.dry_run else "wrote again"
    for p in r.packs:
        state = p.problem or "every blob reads back"
        parts = [f"{rewrite} {plural(p.rewritten, 'blob')}"]
        if p.copies:
            parts.append(f"{p.copies} held by other packs")
        if p.lost:
            parts.append(f"{len(p.lost)} lost")
        if p.deleted:
            parts.append("removed")
        elif p.locked_until:
            parts.append("kept unindexed: Object Lock holds it (prune removes it later)")
        say(ctx, f"pack {p.name}: {state}; {', '.join(parts)}")
        limit = None if ctx.verbose else SHOWN_DROPPED
        for btype, bid in p.lost[:limit]:
            say(ctx, f"  lost {btype.value} blob {bid}")
        if limit is not None and len(p.lost) > limit:
            say(ctx, f"  … and {len(p.lost) - limit} more (-v lists all)")
    for path in r.saved:
        say(ctx, f"kept a copy of the pack as read in {path}")
    if r.dry_run:
        say(ctx, "dry run: nothing was changed")
    elif r.blobs_lost:
        say(
            ctx,
            f"{plural(r.blobs_lost, 'blob')} {'is' if r.blobs_lost == 1 else 'are'} lost: "
            "`s3vault verify` names the files; `s3vault backup` stores them again where the "
            "source still has them, `s3vault repair snapshots` removes them from the snapshots",
        )


@repair.command("snapshots")
@global_options
@click.argument("snapshot_refs", metavar="[SNAPSHOT]...", nargs=-1)
@click.option("--forget", is_flag=True, help="Remove the damaged originals once repaired")
@click.option("-n", "--dry-run", is_flag=True, help="Say what would be done; change nothing")
@click.option(
    "--read-data",
    is_flag=True,
    help="Also read every data pack: blobs that fail authentication count as lost",
)
def snapshots(snapshot_refs: tuple[str, ...], forget: bool, dry_run: bool, read_data: bool) -> int:
    """Rewrite damaged snapshots without what is lost (default: every snapshot).

    A file with lost content is left out; a directory whose tree is unreadable becomes an
    empty directory. The new snapshot keeps the original's time, host, paths and tags and is
    tagged `repaired`. Snapshot files that cannot be read at all are removed. Exit code 13
    when damage is left (a dry run that found some, a snapshot with nothing to keep and no
    --forget, a removal Object Lock refused).
    """
    ctx = cli_context()
    repo = open_repo(ctx, load_index=True)
    options = RepairSnapshotsOptions(
        snapshots=snapshot_refs, forget=forget, dry_run=dry_run, read_data=read_data
    )
    with CliProgress(ctx) as progress:
        r = repair_snapshots_op(repo, options, progress=progress)
    for sid, why in r.newer:
        warn(ctx, f"snapshots/{sid.hex()}", f"left alone: {why}")
    if ctx.json:
        for x in r.damaged:
            emit(ctx, "snapshot_repair", **_fields(x))
        emit(
            ctx,
            "summary",
            checked=r.checked,
            damaged=len(r.damaged),
            repaired=sum(x.new_id is not None for x in r.damaged),
            removed=sum(x.removed for x in r.damaged),
            damage_left=r.damage_left,
            trees_written=r.trees_written,
            dry_run=dry_run,
            requests=r.requests,
        )
    else:
        _say_repairs(ctx, r)
    return ExitCode.DAMAGED if r.damage_left else ExitCode.OK


def _fields(x: SnapshotRepairReport) -> dict[str, object]:
    return {
        "snapshot_id": x.id,
        "status": x.status,
        "problem": x.problem,
        "time": x.time,
        "hostname": x.hostname,
        "paths": x.paths,
        "dropped": [{"path": d.path, "kind": d.kind, "reason": d.reason} for d in x.dropped],
        "new_snapshot_id": x.new_id,
        "removed": x.removed,
        "locked_until": x.locked_until or None,  # null: not locked
    }


def _say_repairs(ctx: CliContext, r: RepairSnapshotsResult) -> None:
    for x in r.damaged:
        _say_one(ctx, x, dry_run=r.dry_run)
    if not r.damaged:
        say(ctx, f"{plural(r.checked, 'snapshot')} checked: nothing is damaged")
        return
    repaired = sum(x.status in ("repaired", "cached", "rewritten") for x in r.damaged)
    removed = sum(x.removed for x in r.damaged)
    verb = "would be repaired" if r.dry_run else "repaired"
    damaged = f"{len(r.damaged)} of {plural(r.checked, 'snapshot')} damaged"
    say(ctx, f"{damaged}: {repaired} {verb}, {removed} removed")


def _say_one(ctx: CliContext, x: SnapshotRepairReport, *, dry_run: bool) -> None:
    if x.status in ("cached", "rewritten"):
        fate = "would be written again" if dry_run else "written again"
        say(
            ctx,
            f"snapshot {x.id.short}: the stored file cannot be read ({x.problem}): {fate} "
            "from this host's intact cached copy",
        )
        return
    if x.status == "unreadable":
        fate = "would be removed" if dry_run else "removed"
        if x.locked_until:
            fate = "not removed yet: Object Lock holds it"
        say(ctx, f"snapshot {x.id.short}: the file cannot be read ({x.problem}): {fate}")
        return
    when = f"{x.time.astimezone():%Y-%m-%d %H:%M:%S}" if x.time else ""
    say(ctx, f"snapshot {x.id.short} of {x.hostname} at {when} ({', '.join(x.paths)}):")
    verbs = {"file": "left out file", "dir": "emptied directory"}
    if dry_run:
        verbs = {"file": "would leave out file", "dir": "would empty directory"}
    limit = None if ctx.verbose else SHOWN_DROPPED
    for d in x.dropped[:limit]:
        say(ctx, f"  {verbs[d.kind]} {d.path}: {d.reason}")
    if limit is not None and len(x.dropped) > limit:
        say(ctx, f"  … and {len(x.dropped) - limit} more (-v lists all)")
    if x.status == "unrepairable":
        say(ctx, f"  {x.problem}: nothing can be kept")
    elif x.new_id is not None:
        say(ctx, f"  saved as snapshot {x.new_id.short} (tag repaired)")
    if x.removed:
        say(ctx, "  the damaged original is removed")
    elif x.locked_until:
        say(ctx, "  the damaged original stays: Object Lock holds it; forget it later")
    elif not dry_run:
        say(ctx, "  the damaged original stays: `s3vault repair snapshots --forget` removes it")
