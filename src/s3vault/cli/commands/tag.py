"""s3vault tag."""

from __future__ import annotations

import click

from s3vault import TagList, TagOptions, TagResult
from s3vault import tag as tag_op
from s3vault.cli.context import CliContext
from s3vault.cli.options import cli_context, global_options, snapshot_filters
from s3vault.cli.progress import CliProgress
from s3vault.cli.render import emit, say
from s3vault.cli.session import open_repo


@click.command()
@global_options
@click.argument("snapshot_ids", nargs=-1, metavar="[SNAPSHOT_ID]...")
@click.option("--add", "add", multiple=True, metavar="TAG[,TAG...]", help="Add these tags")
@click.option("--remove", "remove", multiple=True, metavar="TAG[,TAG...]", help="Remove these tags")
@click.option(
    "--set",
    "set_tags",
    multiple=True,
    metavar="TAG[,TAG...]",
    help="Replace every tag with these (--set '' removes them all)",
)
@snapshot_filters
def tag(
    snapshot_ids: tuple[str, ...],
    add: tuple[str, ...],
    remove: tuple[str, ...],
    set_tags: tuple[str, ...],
    hosts: tuple[str, ...],
    tags: tuple[TagList, ...],
    paths: tuple[str, ...],
) -> int:
    """Add, remove or set the tags of snapshots.

    SNAPSHOT_ID (a full id, a unique prefix, latest or latest~N) names the snapshots to change;
    without one, every snapshot the filters select changes (all of them without filters, as in
    restic). Commas split tags: --add a,b adds a and b.

    A changed snapshot is a new snapshot file with a new id; its `original` field names the
    snapshot it replaces, which is removed once the new one is stored. Snapshots that already
    have the tags asked for are left as they are. Refused (exit 2, nothing changed) when
    Object Lock holds a snapshot that would change.

    \b
    Examples:
      s3vault tag --add keep-forever 1a2b3c4d
      s3vault tag --host web1 --tag nightly --remove nightly --add weekly
      s3vault tag --set '' latest
    """
    ctx = cli_context()
    options = TagOptions(
        snapshot_ids=snapshot_ids,
        hosts=hosts,
        tags=tags,
        paths=paths,
        add=add,
        remove=remove,
        set_tags=set_tags or None,
    )
    options.check()
    repo = open_repo(ctx, load_index=False)
    with CliProgress(ctx) as progress:  # says so while it waits for a prune's lease
        result = tag_op(repo, options, progress=progress)
    _render(ctx, result, _unchanged_words(options))
    return 0


def _unchanged_words(options: TagOptions) -> str:
    """What the snapshots left as they are already were: `tag --remove z` said "5 snapshots
    already had them" of snapshots that had not z (an attack pass, 2026-12-08)."""
    if options.remove and not options.add and options.set_tags is None:
        return "already lacked them"
    if options.add and options.remove:
        return "already were as asked"
    return "already had them"


def _spell(tags: tuple[str, ...]) -> str:
    return ", ".join(tags) if tags else "(none)"


def _count(n: int) -> str:
    return f"{n} snapshot" if n == 1 else f"{n} snapshots"


def _render(ctx: CliContext, r: TagResult, unchanged: str) -> None:
    if ctx.json:
        for c in r.changed:
            emit(
                ctx,
                "tag_change",
                snapshot_id=c.original_id,
                new_snapshot_id=c.new_id,
                time=c.time,
                hostname=c.hostname,
                paths=c.paths,
                old_tags=c.old_tags,
                tags=c.new_tags,
                resumed=c.resumed,
            )
        emit(
            ctx,
            "summary",
            changed_snapshots=len(r.changed),
            unchanged_snapshots=len(r.unchanged),
            requests=r.requests,
        )
        return
    for c in r.changed:
        note = (
            " (stored by an earlier, interrupted run; the original is now removed)"
            if c.resumed
            else ""
        )
        say(
            ctx,
            f"snapshot {c.original_id.short} is now {c.new_id.short}: tags "
            f"{_spell(c.new_tags)} (were {_spell(c.old_tags)}){note}",
        )
    text = f"changed the tags of {_count(len(r.changed))}"
    if r.unchanged:
        text += f"; {_count(len(r.unchanged))} {unchanged}"
    say(ctx, text)
