"""mount: the snapshots of a repository as a read-only FUSE file system, as restic's ``mount``.

The layout and the reading are ``s3vault.fusefs`` (the view, usable and tested without FUSE);
this op checks the mount point, loads the binding first (so a missing one fails in one line
before anything is read), lists the snapshots and serves until unmounted (SIGINT, SIGTERM,
``umount``), listing them again (with a fresh index) when the top directories are looked at
after a while.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field

from s3vault.errors import UsageError
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.fusefs.adapter import load_binding, serve
from s3vault.fusefs.content import DEFAULT_CACHE_BYTES
from s3vault.fusefs.view import SnapshotView
from s3vault.ids import ObjectId
from s3vault.ops.snapshots import SnapshotFilter
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import list_snapshots


@dataclass(frozen=True, slots=True, kw_only=True)
class MountOptions:
    """Where to mount; ``allow_other`` lets other users in (``user_allow_other`` in
    /etc/fuse.conf when not root); ``cache_bytes`` bounds the decrypted blobs kept."""

    mountpoint: str
    allow_other: bool = False
    cache_bytes: int = DEFAULT_CACHE_BYTES
    select: SnapshotFilter = field(default_factory=SnapshotFilter)  # which snapshots to show


@dataclass(frozen=True, slots=True, kw_only=True)
class MountResult:
    """What was served: ``snapshots`` shown; blobs and trees that could not be read (their
    files and directories gave EIO)."""

    snapshots: int
    unreadable_blobs: int
    unreadable_trees: int
    removed: int = 0  # blobs and trees a prune beside the mount removed (forgotten snapshots)


def _check_mountpoint(where: str) -> None:
    """Refuse a mount point that is not an existing directory, saying why.

    Raises:
        UsageError: it is missing, not a directory, a mount whose server is gone (a
            killed mount leaves ENOTCONN: "not a directory: create it first" sent the
            operator the wrong way), or a mount point already (a second mount over a live
            one hid it).
    """
    try:
        os.statvfs(where)  # asks a FUSE server (a stat may answer from the kernel's cache)
        st = os.stat(where)
    except OSError as exc:
        if exc.errno == errno.ENOTCONN:
            real = os.path.realpath(where)  # fusermount3 takes no symlink to a mount point
            msg = (
                f"mount point {where} is a mount whose server is gone (a mount that was "
                f"killed): unmount it first (`fusermount3 -u {real}`, or `umount -l {real}` "
                "as root), then mount again"
            )
        elif exc.errno == errno.ENOENT:
            msg = f"mount point {where} does not exist: create it first (mkdir)"
        else:
            msg = f"mount point {where} cannot be used: {exc.strerror}"
        raise UsageError(msg) from None
    if not stat.S_ISDIR(st.st_mode):
        msg = f"mount point {where} is not a directory: give an empty directory"
        raise UsageError(msg)
    if os.path.ismount(where):
        msg = (
            f"mount point {where} has a file system mounted on it already (another mount?): "
            "give another directory, or unmount that one first"
        )
        raise UsageError(msg)


def mount(
    repo: Repository,
    options: MountOptions,
    *,
    on_ready: Callable[[int], None] | None = None,
) -> MountResult:
    """Serve the repository's snapshots at ``options.mountpoint`` until it is unmounted;
    ``on_ready(snapshots)`` is called once the mount is in place.

    Raises:
        UsageError: the mount point is not an existing directory.
        MountError: FUSE, libfuse3 or the binding is missing, or the mount failed.
    """
    repo = repo.current()  # what this process stored since the handle's index was read
    _check_mountpoint(options.mountpoint)
    binding = load_binding()
    snapshots = options.select.chosen(list_snapshots(repo))

    def reload() -> tuple[Repository, list[tuple[ObjectId, SnapshotFile]]]:
        fresh = repo.with_index(repo.read_index())  # what new snapshots need is in it
        return fresh, options.select.chosen(list_snapshots(fresh))

    view = SnapshotView(repo, snapshots, cache_bytes=options.cache_bytes, reload=reload)
    ready = None if on_ready is None else (lambda: on_ready(len(snapshots)))
    try:
        serve(binding, view, options.mountpoint, allow_other=options.allow_other, on_ready=ready)
    finally:
        view.close()
    return MountResult(
        snapshots=view.snapshots,
        unreadable_blobs=len(view.blobs.failed),
        unreadable_trees=len(view.unreadable),
        removed=len(view.blobs.removed) + len(view.removed),
    )
