"""s3vault ls."""

from __future__ import annotations

import click

from s3vault import SnapshotFilter, TagList, ls_dirs, snapshot_entry
from s3vault.cli.options import cli_context, global_options, latest_filters
from s3vault.cli.render import (
    Unreadable,
    emit,
    go_file_mode,
    go_permissions,
    json_name,
    line,
    long_entry,
    node_iso,
    printable,
    restic_type,
    snapshot_json,
)
from s3vault.cli.session import open_repo


@click.command()
@global_options
@click.argument("snapshot")
@click.argument("dirs", nargs=-1, metavar="[DIR]...")
@click.option("-l", "--long", "long_", is_flag=True, help="Show mode, owner, size and time")
@click.option(
    "--recursive", is_flag=True, help="With DIRs: also what is below their subdirectories"
)
@latest_filters
def ls(
    snapshot: str,
    dirs: tuple[str, ...],
    long_: bool,
    recursive: bool,
    hosts: tuple[str, ...],
    tags: tuple[TagList, ...],
    paths: tuple[str, ...],
) -> int:
    """List files in SNAPSHOT (an id prefix, latest or latest~N): all of them, or, as restic,
    each DIR given and what it holds (--recursive: everything below it), each entry once, in
    the tree's order. A DIR that is not in the snapshot stops the listing (exit 2; restic
    lists the others without a word). --host, --tag and --path choose which snapshot latest
    means."""
    ctx = cli_context()
    repo = open_repo(ctx, snapshots_ahead=True)
    unreadable = Unreadable(ctx)
    select = SnapshotFilter(hosts=hosts, tags=tags, paths=paths)
    sid, entries = ls_dirs(
        repo, snapshot, dirs, recursive=recursive, on_error=unreadable, select=select
    )
    if ctx.json:
        # restic's first line: the snapshot's own fields (time, tree, paths, hostname, ...)
        fields = snapshot_json(snapshot_entry(repo, sid))
        emit(ctx, "snapshot", **fields, snapshot_id=sid.hex(), struct_type="snapshot")
    for e in entries:
        n = e.node
        if ctx.json:
            mtime = node_iso(n.mtime_ns)
            emit(
                ctx,
                "node",
                path=json_name(e.raw),  # restic's: the name itself (render.json_name)
                name=json_name(n.name),
                type=restic_type(n),  # restic's names: a block device is "dev"
                mode=go_file_mode(n),  # restic's: Go's os.FileMode
                uid=n.uid,
                gid=n.gid,
                size=n.size,
                mtime=mtime,
                link_target=json_name(n.link_target) if n.link_target is not None else None,
                # restic's too: Go's mode string, and the access time (the modification
                # time where the backup recorded none, as restic has it) and change time
                permissions=go_permissions(n),
                atime=node_iso(n.atime_ns) if n.atime_ns else mtime,
                ctime=node_iso(n.ctime_ns),
                struct_type="node",  # restic's: jq 'select(.struct_type == "node")'
            )
        elif long_:
            line(ctx, long_entry(e.path, n))
        else:
            line(ctx, printable(e.path))
    return unreadable.exit_code()
