"""s3vault snapshots."""

from __future__ import annotations

import click
from rich.table import Table

from s3vault import (
    SnapshotEntry,
    SnapshotFilter,
    SnapshotGroup,
    TagList,
    group_snapshots,
    split_group_by,
)
from s3vault import snapshots as snapshots_op
from s3vault.cli.options import cli_context, global_options, tag_filter
from s3vault.cli.render import (
    cells,
    emit_array,
    human_bytes,
    print_table,
    printable,
    snapshot_json,
)
from s3vault.cli.session import open_repo


@click.command()
@global_options
@click.option("-H", "--host", "hosts", multiple=True, help="Only snapshots of this host")
@tag_filter
@click.option("--path", "paths", multiple=True, help="Only snapshots of this path")
@click.option(
    "--latest",
    type=int,
    metavar="N",
    help="Only the newest N snapshots of each host and paths (0: all, as restic's default)",
)
@click.option(
    "-g",
    "--group-by",
    default="",
    metavar="KEYS",
    help="Show the snapshots in groups: any of host, paths, tags (comma-separated)",
)
@click.option("-c", "--compact", is_flag=True, help="Fewer columns: ID, time, host, tags")
@click.argument("snapshot_ids", nargs=-1, metavar="[ID|latest]...")
def snapshots(
    snapshot_ids: tuple[str, ...],
    hosts: tuple[str, ...],
    tags: tuple[TagList, ...],
    paths: tuple[str, ...],
    latest: int | None,
    group_by: str,
    compact: bool,
) -> int:
    """List snapshots (only those named: id prefixes, latest, latest~N, as restic's)."""
    ctx = cli_context()
    ctx.stdout_array = True
    keys = split_group_by(group_by)
    latest = None if latest == 0 else latest  # restic's 0: no limit
    repo = open_repo(ctx, load_index=False, snapshots_ahead=True)
    filt = SnapshotFilter(hosts=hosts, tags=tags, paths=paths)
    if keys:  # restic groups first, then keeps each group's latest
        groups = group_snapshots(snapshots_op(repo, filt, ids=snapshot_ids), keys, latest=latest)
        entries = [e for g in groups for e in g.entries]
    else:
        groups, entries = [], snapshots_op(repo, filt, latest=latest, ids=snapshot_ids)
    if ctx.json:  # restic's shapes: an array of snapshots, or of groups when grouping
        if not keys:
            emit_array([snapshot_json(e) for e in entries])
        else:
            emit_array([_json_group(g, keys) for g in groups])
        return 0
    if not keys:
        print_table(ctx, _table(entries, compact))
    for group in groups:
        ctx.out.print(f"snapshots for ({_describe(group, keys)}):", markup=False)
        print_table(ctx, _table(list(group.entries), compact))
    ctx.out.print(f"{len(entries)} snapshot{'' if len(entries) == 1 else 's'}")
    return 0


def _json_group(group: SnapshotGroup, keys: tuple[str, ...]) -> dict[str, object]:
    """restic's group: the key (hostname "", paths and tags null when not grouped by them)."""
    by_paths = any(k.startswith("path") for k in keys)
    by_tags = any(k.startswith("tag") for k in keys)
    key = {
        "hostname": group.host,
        "paths": list(group.paths) if by_paths else None,
        "tags": list(group.tags) if by_tags and group.tags else None,  # untagged: null
    }
    return {"group_key": key, "snapshots": [snapshot_json(e) for e in group.entries]}


def _describe(group: SnapshotGroup, keys: tuple[str, ...]) -> str:
    words = []
    if any(k.startswith("host") for k in keys):
        words.append(f"host [{printable(group.host)}]")
    if any(k.startswith("path") for k in keys):
        words.append(f"paths [{printable(', '.join(group.paths))}]")
    if any(k.startswith("tag") for k in keys):
        words.append(f"tags [{printable(', '.join(group.tags))}]")
    return ", ".join(words)


def _table(entries: list[SnapshotEntry], compact: bool) -> Table:
    columns = (
        ("ID", "Time", "Host", "Tags")
        if compact
        else ("ID", "Time", "Host", "Tags", "Paths", "Size")
    )
    table = Table(box=None, pad_edge=False)
    for column in columns:
        # tags and paths one per line; paths keep room on an 80-column terminal (or pipe)
        wraps = column in ("Tags", "Paths")
        width = {"Tags": 16, "Paths": 24}.get(column)
        table.add_column(column, overflow="fold", no_wrap=not wraps, min_width=width)
    for e in entries:
        s = e.snapshot
        # under its time, the snapshot's: after the last path it read as that path's
        flag = "\n(incomplete)" if s.incomplete else ""
        row = [
            e.id.short,
            s.time.astimezone().strftime("%Y-%m-%d %H:%M:%S") + flag,
            printable(s.hostname),
            "\n".join(printable(t) for t in s.tags),
        ]
        if not compact:
            paths = "\n".join(printable(p) for p in s.paths)
            row += [paths, human_bytes(s.summary.total_bytes_processed)]
        table.add_row(*cells(*row))
    return table
