"""Stage 1, scan: list directories in name order and turn lstat results into tree nodes."""

from __future__ import annotations

import errno
import grp
import os
import pwd
import stat
from functools import lru_cache

from s3vault.format.tree import Node, NodeType
from s3vault.ids import ObjectId

_TYPES = {
    stat.S_IFREG: NodeType.FILE,
    stat.S_IFDIR: NodeType.DIR,
    stat.S_IFLNK: NodeType.SYMLINK,
    stat.S_IFIFO: NodeType.FIFO,
    stat.S_IFCHR: NodeType.CHARDEV,
    stat.S_IFBLK: NodeType.BLOCKDEV,
    stat.S_IFSOCK: NodeType.SOCKET,
}


def read_problem(exc: OSError, what: str) -> str:
    """What a backup's warning says of an entry it could not read: one that is gone, or was
    replaced by another type since it was listed (a directory swapped for a link: readlink's
    EINVAL), is said as the race it is; the rest as ``what: reason`` ("cannot read metadata:
    Invalid argument" read as a fault, and a deleted file was "cannot read: No such file or
    directory" in one run and "vanished" in another: an attack pass, 2026-12-07)."""
    if exc.errno == errno.ENOENT:
        return "vanished before it could be read"
    if exc.errno in (errno.EINVAL, errno.ENOTDIR):
        return "changed type while being read (replaced since it was listed)"
    return f"{what}: {exc.strerror or exc}"


def node_type(st: os.stat_result) -> NodeType:
    """The node type for an lstat result."""
    return _TYPES.get(stat.S_IFMT(st.st_mode), NodeType.FILE)


@lru_cache(maxsize=1024)
def user_name(uid: int) -> str:
    """The name of a uid, or empty."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return ""


@lru_cache(maxsize=1024)
def group_name(gid: int) -> str:
    """The name of a gid, or empty."""
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return ""


def read_xattrs(path: bytes | int) -> tuple[tuple[bytes, bytes], ...]:
    """Extended attributes of a path (not following symlinks) or of an open file; empty where
    unsupported."""
    follow = isinstance(path, int)  # a descriptor: nothing to follow (and the flag is refused)
    try:
        names = os.listxattr(path, follow_symlinks=follow)
    except OSError:
        return ()
    out = []
    for name in sorted(names, key=os.fsencode):  # the name's own bytes: one that is no UTF-8
        try:  # stopped the backup with an internal error (an attack pass, 2026-12-07)
            out.append((os.fsencode(name), os.getxattr(path, name, follow_symlinks=follow)))
        except OSError as exc:
            if exc.errno not in (errno.ENODATA, errno.ENOTSUP, errno.EPERM, errno.EACCES):
                raise
    return tuple(out)


def metadata_node(
    path: bytes | int,
    name: bytes,
    st: os.stat_result,
    *,
    content: tuple[ObjectId, ...] = (),
    content_hash: ObjectId | None = None,
    size: int | None = None,
    with_atime: bool = False,
) -> Node:
    """The node for an lstat result, with a file's content when given (built once: frozen
    dataclasses are slow to copy). ``path`` may be an open descriptor of a file or directory.

    The access time is recorded only ``with_atime`` (``backup --with-atime``), as in restic:
    reading a file moves it, so recording it would make trees new that did not change; a node
    without one (0) is restored with its mtime as atime."""
    ntype = node_type(st)
    link_target = (
        os.readlink(path) if ntype is NodeType.SYMLINK and isinstance(path, bytes) else None
    )
    return Node(
        name=name,
        type=ntype,
        mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        user=user_name(st.st_uid),
        group=group_name(st.st_gid),
        mtime_ns=st.st_mtime_ns,
        atime_ns=st.st_atime_ns if with_atime else 0,
        ctime_ns=st.st_ctime_ns,
        inode=st.st_ino,
        device=st.st_dev,
        links=st.st_nlink,
        size=(st.st_size if size is None else size) if ntype is NodeType.FILE else 0,
        content=content,
        content_hash=content_hash,
        link_target=link_target,
        rdev=st.st_rdev if ntype in (NodeType.CHARDEV, NodeType.BLOCKDEV) else 0,
        xattrs=read_xattrs(path) if ntype is not NodeType.SYMLINK else (),
    )


DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class MovedError(OSError):
    """A directory was replaced or moved while it was being walked."""


def open_dir(io: bytes, ident: tuple[int, int]) -> int:
    """Open a directory without following a symlink, and check it is the one listed.

    Raises:
        OSError: it cannot be opened; MovedError: another directory is there now.
    """
    fd = os.open(io, DIR_FLAGS)
    st = os.fstat(fd)
    # any other directory is one put in its place, even on another file system: a device that
    # changed is no proof of a mount, since a link swapped in for a component above the last
    # (which O_NOFOLLOW does not guard) may lead to one (an automount triggered by this open
    # is said as replaced, too; --one-file-system leaves automount points out)
    if (st.st_dev, st.st_ino) != ident:
        os.close(fd)
        msg = "replaced while the backup was running"
        raise MovedError(msg)
    return fd


def list_names(
    path: bytes, ident: tuple[int, int], *, stat_up_to: int
) -> tuple[list[bytes], list[tuple[bytes, os.stat_result | OSError]] | None]:
    """The names in a directory, sorted, and, if there are no more than ``stat_up_to``, their
    entries as ``list_dir`` gives them (one opening for both); a bigger directory is shared
    out by name and each part stat'ed where it is taken (``stat_names``; archiver/
    dirworker.py). ``ident`` as for ``list_dir``.

    Raises:
        OSError: the directory itself cannot be listed; MovedError: another one is there.
    """
    fd = open_dir(path, ident)
    try:
        names = sorted(os.fsencode(name) for name in os.listdir(fd))
        return names, _stat_in(fd, names) if len(names) <= stat_up_to else None
    finally:
        os.close(fd)


def stat_names(
    path: bytes, ident: tuple[int, int], names: list[bytes]
) -> list[tuple[bytes, os.stat_result | OSError]]:
    """``list_dir``'s entries of these names of the directory (a part of ``list_names``),
    stat'ed relative to the directory opened as ``list_dir`` opens it.

    Raises:
        OSError: the directory itself cannot be opened; MovedError: another one is there.
    """
    fd = open_dir(path, ident)
    try:
        return _stat_in(fd, names)
    finally:
        os.close(fd)


def _stat_in(fd: int, names: list[bytes]) -> list[tuple[bytes, os.stat_result | OSError]]:
    out: list[tuple[bytes, os.stat_result | OSError]] = []
    for name in names:
        try:
            out.append((name, os.stat(name, dir_fd=fd, follow_symlinks=False)))
        except OSError as exc:
            out.append((name, exc))
    return out


def list_dir(
    path: bytes, ident: tuple[int, int] | None = None
) -> list[tuple[bytes, os.stat_result | OSError]]:
    """Entries of a directory sorted by name, each with its lstat result (or the error).
    ``ident``: the (device, inode) its parent's listing saw: the directory is opened without
    following a symlink and must still be that one (restic opens with O_NOFOLLOW). A user who
    swapped a directory for a link to a root-only one between the two had its files stored
    under the user's path; the entries are then stat'ed relative to the descriptor.

    Raises:
        OSError: the directory itself cannot be listed; MovedError: another one is there.
    """
    out: list[tuple[bytes, os.stat_result | OSError]] = []
    fd = None if ident is None else open_dir(path, ident)
    try:
        with os.scandir(path if fd is None else fd) as it:
            for entry in it:
                try:
                    out.append((os.fsencode(entry.name), entry.stat(follow_symlinks=False)))
                except OSError as exc:
                    out.append((os.fsencode(entry.name), exc))
    finally:
        if fd is not None:
            os.close(fd)
    out.sort(key=lambda item: item[0])
    return out
