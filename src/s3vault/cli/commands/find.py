"""s3vault find."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from s3vault import FindOptions, Node, SnapshotFilter, TagList
from s3vault import find as find_op
from s3vault.cli.options import Timestamp, cli_context, global_options, tag_filter
from s3vault.cli.render import Unreadable, emit, human_bytes, plural, printable, show
from s3vault.cli.session import open_repo


def _mtime(node: Node) -> str:
    return datetime.fromtimestamp(node.mtime_ns / 1e9, UTC).isoformat()


@click.command()
@global_options
@click.argument("patterns", nargs=-1, required=True, metavar="PATTERN...")
@click.option(
    "-s",
    "--snapshot",
    "refs",
    multiple=True,
    metavar="ID",
    help="Only this snapshot (an id prefix, latest or latest~N; repeatable)",
)
@click.option("-H", "--host", "hosts", multiple=True, help="Only snapshots of this host")
@tag_filter
@click.option("--path", "paths", multiple=True, help="Only snapshots of this path")
@click.option("-i", "--ignore-case", is_flag=True, help="Match regardless of case")
@click.option(
    "-O", "--oldest", type=Timestamp(), help="Only entries modified at or after this time"
)
@click.option("-N", "--newest", type=Timestamp(), help="Only entries modified at or before it")
def find(
    patterns: tuple[str, ...],
    refs: tuple[str, ...],
    hosts: tuple[str, ...],
    tags: tuple[TagList, ...],
    paths: tuple[str, ...],
    ignore_case: bool,
    oldest: datetime | None,
    newest: datetime | None,
) -> int:
    """Find files by PATTERN in snapshots: a glob on the name (*.conf), or on the whole path
    if it has a / (/etc/*/nginx.conf). --oldest and --newest (a date, or a date and time in
    local time, as restic's) keep the entries modified in that period."""
    ctx = cli_context()
    repo = open_repo(ctx, load_index=True)
    options = FindOptions(
        patterns=patterns,
        snapshots=refs,
        filter=SnapshotFilter(hosts=hosts, tags=tags, paths=paths),
        ignore_case=ignore_case,
        oldest=oldest,
        newest=newest,
    )
    snapshots = matches = 0
    unreadable = Unreadable(ctx)
    for result in find_op(repo, options, on_error=unreadable):
        snap = result.snapshot
        snapshots += 1
        matches += len(result.matches)
        if ctx.json:
            emit(
                ctx,
                "matches",
                snapshot_id=snap.id,
                time=snap.snapshot.time,
                hostname=snap.snapshot.hostname,
                matches=[
                    {
                        "path": m.path,
                        "type": m.node.type.value,
                        "size": m.node.size,
                        "mtime": _mtime(m.node),
                    }
                    for m in result.matches
                ],
            )
            continue
        when = snap.snapshot.time.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        show(ctx, f"snapshot {snap.id.short} of {printable(snap.snapshot.hostname)} at {when}:")
        for m in result.matches:
            size = human_bytes(m.node.size)
            show(ctx, f"  {printable(m.path)}  ({m.node.type.value}, {size})")
    if ctx.json:
        emit(ctx, "summary", snapshots=snapshots, matches=matches)
    else:
        show(ctx, f"{plural(matches, 'match', 'matches')} in {plural(snapshots, 'snapshot')}")
    return unreadable.exit_code()
