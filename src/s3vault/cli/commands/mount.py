"""s3vault mount: browse the snapshots as a read-only file system (FUSE)."""

from __future__ import annotations

import click

from s3vault import ExitCode, MountOptions, SnapshotFilter, TagList
from s3vault import mount as mount_op
from s3vault.cli.options import cli_context, global_options, snapshot_filters
from s3vault.cli.session import open_repo


@click.command()
@global_options
@click.argument("mountpoint", type=click.Path(file_okay=False))
@click.option(
    "--allow-other",
    is_flag=True,
    help="Let other users read the mount (needs user_allow_other in /etc/fuse.conf unless root)",
)
@snapshot_filters
def mount(
    mountpoint: str,
    allow_other: bool,
    hosts: tuple[str, ...],
    tags: tuple[TagList, ...],
    paths: tuple[str, ...],
) -> int:
    """Mount the snapshots at MOUNTPOINT, read-only, until Ctrl-C, SIGTERM or `umount`:
    snapshots/<time>/, hosts/<host>/<time>/, tags/<tag>/<time>/, ids/<id>/ and `latest`
    links. Files are read on demand, a few blobs at a time. Needs FUSE: the system package
    fuse3 and `pip install 's3vault[mount]'`.

    \b
    Examples:
      mkdir -p /mnt/backup && s3vault mount /mnt/backup
      cp /mnt/backup/snapshots/latest/etc/hosts /tmp/hosts.yesterday
      diff -r /mnt/backup/hosts/web1/latest/etc /etc
    """
    ctx = cli_context()
    repo = open_repo(ctx)

    def ready(snapshots: int) -> None:
        noun = "snapshot" if snapshots == 1 else "snapshots"
        ctx.err.print(
            f"{snapshots} {noun} mounted at {mountpoint} (read-only); "
            f"Ctrl-C or `umount {mountpoint}` unmounts",
            markup=False,
            highlight=False,
        )

    select = SnapshotFilter(hosts=hosts, tags=tags, paths=paths)
    options = MountOptions(mountpoint=mountpoint, allow_other=allow_other, select=select)
    result = mount_op(repo, options, on_ready=ready)
    if result.unreadable_blobs or result.unreadable_trees:
        ctx.err.print(
            f"unmounted; {result.unreadable_blobs} data blob(s) and {result.unreadable_trees} "
            "tree(s) could not be read (their files gave I/O errors): run `s3vault verify`",
            markup=False,
            highlight=False,
        )
        return ExitCode.DAMAGED
    if result.removed:
        ctx.err.print(
            f"unmounted {mountpoint}; {result.removed} blob(s) gone from the index while "
            "snapshots shown were forgotten and pruned beside the mount (their files gave I/O "
            "errors): not counted as damage",
            markup=False,
            highlight=False,
        )
        return ExitCode.OK
    ctx.err.print(f"unmounted {mountpoint}", markup=False, highlight=False)
    return ExitCode.OK
