"""s3vault snapshots."""

from __future__ import annotations

import click
from rich.table import Table

from s3vault import SnapshotFilter, TagList
from s3vault import snapshots as snapshots_op
from s3vault.cli.options import cli_context, global_options, tag_filter
from s3vault.cli.render import emit, human_bytes, to_jsonable
from s3vault.cli.session import open_repo


@click.command()
@global_options
@click.option("-H", "--host", "hosts", multiple=True, help="Only snapshots of this host")
@tag_filter
@click.option("--path", "paths", multiple=True, help="Only snapshots of this path")
def snapshots(hosts: tuple[str, ...], tags: tuple[TagList, ...], paths: tuple[str, ...]) -> int:
    """List snapshots."""
    ctx = cli_context()
    repo = open_repo(ctx, load_index=False, snapshots_ahead=True)
    entries = snapshots_op(repo, SnapshotFilter(hosts=hosts, tags=tags, paths=paths))
    if ctx.json:
        emit(
            ctx,
            "snapshots",
            snapshots=[
                {"id": e.id.hex(), "short_id": e.id.short, **to_jsonable(e.snapshot)}
                for e in entries
            ],
        )
        return 0
    table = Table(box=None, pad_edge=False)
    for column in ("ID", "Time", "Host", "Tags", "Paths", "Size"):
        # tags and paths one per line; paths keep room on an 80-column terminal (or pipe)
        wraps = column in ("Tags", "Paths")
        width = {"Tags": 16, "Paths": 24}.get(column)
        table.add_column(column, overflow="fold", no_wrap=not wraps, min_width=width)
    for e in entries:
        s = e.snapshot
        flag = " (incomplete)" if s.incomplete else ""
        table.add_row(
            e.id.short,
            s.time.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            s.hostname,
            "\n".join(s.tags),
            "\n".join(s.paths) + flag,
            human_bytes(s.summary.total_bytes_processed),
        )
    if not ctx.quiet:
        ctx.out.print(table)
        ctx.out.print(f"{len(entries)} snapshot{'' if len(entries) == 1 else 's'}")
    return 0
