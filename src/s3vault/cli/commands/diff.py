"""s3vault diff."""

from __future__ import annotations

import dataclasses

import click

from s3vault import BlobTally, DiffStatistics, DiffStats, NodeType, resolve_pair
from s3vault import diff as diff_op
from s3vault.cli.options import cli_context, global_options
from s3vault.cli.render import Unreadable, emit, human_bytes, json_name, printable, show
from s3vault.cli.session import open_repo


@click.command()
@global_options
@click.argument("first", metavar="SNAPSHOT1")
@click.argument("second", metavar="SNAPSHOT2")
@click.option("--metadata", is_flag=True, help="Also list entries whose metadata alone changed (U)")
def diff(first: str, second: str, metadata: bool) -> int:
    """What changed from SNAPSHOT1 to SNAPSHOT2 (ids, id prefixes, latest, latest~N; restic's
    SNAPSHOT:PATH compares that directory of each): + added, - removed, M content changed, T
    type changed, U metadata changed (with --metadata)."""
    ctx = cli_context()
    repo = open_repo(ctx, load_index=True)
    a, b = resolve_pair(repo, first, second)
    if not ctx.json:
        show(ctx, f"comparing snapshot {printable(a.shown)} to {printable(b.shown)}:")
    stats, statistics, tally = DiffStats(), DiffStatistics(), BlobTally()
    unreadable = Unreadable(ctx)
    changes = diff_op(
        repo,
        a.tree,
        b.tree,
        metadata=metadata,
        on_error=unreadable,
        snapshots=(a.id, b.id),
        tally=tally if ctx.json else None,
    )
    for change in changes:
        stats.count(change)
        statistics.count(change)
        node = change.new or change.old
        assert node is not None
        # a directory's path ends with "/", as restic's (its users' scripts tell them so)
        path = change.path + "/" if node.type is NodeType.DIR else change.path
        if ctx.json:  # the names themselves, as restic's and as ls --json and find --json
            raw = change.raw_path + b"/" if node.type is NodeType.DIR else change.raw_path
            emit(ctx, "change", modifier=change.kind, path=json_name(raw), type=node.type.value)
        else:
            show(ctx, f"{change.kind:<5} {printable(path)}")
    if ctx.json:
        emit(
            ctx,
            "summary",
            first_snapshot_id=a.id,
            second_snapshot_id=b.id,
            **dataclasses.asdict(stats),
        )
        tally.count(repo, statistics.added, statistics.removed)
        emit(  # restic's, for its users' scripts (jq 'select(.message_type == "statistics")')
            ctx,
            "statistics",
            source_snapshot=a.id,  # the full ids, as everywhere in s3vault's JSON
            target_snapshot=b.id,
            **dataclasses.asdict(statistics),
        )
        return unreadable.exit_code()
    show(
        ctx,
        f"\n{stats.added} added ({human_bytes(stats.bytes_added)}), {stats.removed} removed "
        f"({human_bytes(stats.bytes_removed)}), {stats.modified} changed "
        f"({human_bytes(stats.bytes_modified)} now), {stats.type_changed} of another type"
        + (f", {stats.metadata} metadata only" if metadata else ""),
    )
    return unreadable.exit_code()
