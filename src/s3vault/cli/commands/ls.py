"""s3vault ls."""

from __future__ import annotations

import stat
from datetime import UTC, datetime

import click

from s3vault import NodeType, SnapshotFilter, TagList, ls_dirs
from s3vault.cli.options import cli_context, global_options, latest_filters
from s3vault.cli.render import Unreadable, emit, line, printable
from s3vault.cli.session import open_repo

_TYPE_CHAR = {
    NodeType.DIR: "d",
    NodeType.SYMLINK: "l",
    NodeType.FIFO: "p",
    NodeType.CHARDEV: "c",
    NodeType.BLOCKDEV: "b",
    NodeType.SOCKET: "s",
}


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
        emit(
            ctx,
            "snapshot",
            id=sid.hex(),
            short_id=sid.short,
            snapshot_id=sid.hex(),
            struct_type="snapshot",
        )
    for e in entries:
        n = e.node
        mtime = _when(n.mtime_ns)
        if ctx.json:
            emit(
                ctx,
                "node",
                path=e.path,
                name=n.display_name,
                type=n.type.value,
                mode=n.mode,
                uid=n.uid,
                gid=n.gid,
                size=n.size,
                mtime=mtime.isoformat() if mtime else None,
                link_target=n.link_target,
                struct_type="node",  # restic's: jq 'select(.struct_type == "node")'
            )
        elif long_:
            mode = _TYPE_CHAR.get(n.type, "-") + stat.filemode(n.mode & 0o7777)[1:]
            owner = printable(f"{n.user or n.uid}/{n.group or n.gid}")
            target = n.link_target.decode(errors="backslashreplace") if n.link_target else ""
            link = f" -> {printable(target)}" if target else ""
            when = f"{mtime.astimezone():%Y-%m-%d %H:%M:%S}" if mtime else "?" * 19
            line(ctx, f"{mode} {owner:>12} {n.size:>12} {when} {printable(e.path)}{link}")
        else:
            line(ctx, printable(e.path))
    return unreadable.exit_code()


def _when(mtime_ns: int) -> datetime | None:
    """A node's time, or None where a date cannot say it (a forged or damaged node's 2^80 ns:
    `ls -l` and `ls --json` ended in an internal error on it)."""
    try:
        return datetime.fromtimestamp(mtime_ns / 1e9, UTC)
    except (ValueError, OverflowError, OSError):
        return None
