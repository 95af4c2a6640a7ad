"""Where restored files go. FilesystemSink writes a directory tree safely:

- directories are created one component at a time; an existing symlink (or file) where a
  directory belongs is removed, never followed;
- files are opened with O_NOFOLLOW, so a symlink placed at a file's path is never written through;
- symlinks are created last, after every file and directory below the target exists, so a
  snapshot cannot plant ``evil -> /outside`` and then write ``evil/file``;
- metadata (mode, owner when root, xattrs, times) is applied after the content, directories
  deepest first so their mtimes survive.
"""

from __future__ import annotations

import errno
import os
import stat
import threading

from s3vault.errors import RestoreError
from s3vault.format.tree import Node, NodeType

_WRITE_FLAGS = os.O_WRONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
HOLE_BLOCK = 64 * 1024
_ZERO_BLOCK = bytes(HOLE_BLOCK)
_ZERO_PROBE = bytes(4096)
# Files kept open between the blobs written into them (a file spread over many packs would
# otherwise cost an open and a close per blob); beyond this, a write opens and closes.
MAX_OPEN_FILES = 256


def data_runs(data: bytes) -> list[tuple[int, int]]:
    """(start, end) ranges of ``data`` to write; aligned 64 KiB blocks of zeros are left out."""
    if len(data) < HOLE_BLOCK:
        return [] if data.count(0) == len(data) else [(0, len(data))]
    first = data.find(_ZERO_PROBE)
    if first == -1:  # no 4 KiB of zeros anywhere: nothing can be a hole
        return [(0, len(data))]
    runs: list[tuple[int, int]] = []
    start = 0 if first >= HOLE_BLOCK else -1
    for pos in range(first // HOLE_BLOCK * HOLE_BLOCK, len(data), HOLE_BLOCK):
        block = data[pos : pos + HOLE_BLOCK]
        zero = block == _ZERO_BLOCK[: len(block)]
        if zero and start >= 0:
            runs.append((start, pos))
            start = -1
        elif not zero and start < 0:
            start = pos
    if start >= 0:
        runs.append((start, len(data)))
    return runs


def _os_error(exc: OSError, what: str, path: bytes) -> RestoreError:
    shown = os.fsdecode(path)
    if exc.errno == errno.ENOSPC:
        return RestoreError(f"no space left on device while writing {shown}")
    return RestoreError(f"{what} {shown}: {exc.strerror or exc}")


def _clear(path: bytes) -> None:
    """Remove whatever non-directory sits at path (a symlink is removed, not followed)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        msg = f"a directory is in the way of {os.fsdecode(path)}"
        raise RestoreError(msg)
    os.unlink(path)


class FilesystemSink:
    """Writes restored content and metadata into a target directory."""

    def __init__(self, *, owners: bool | None = None) -> None:
        self._owners = os.geteuid() == 0 if owners is None else owners
        self._open: dict[bytes, int] = {}
        self._created: set[bytes] = set()
        self._open_lock = threading.Lock()  # guards both, and makes creation happen once

    def make_dir(self, path: bytes) -> None:
        """Ensure a real directory exists at path (never through a symlink).

        Raises:
            RestoreError: it cannot be created.
        """
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            st = os.lstat(path)
            if stat.S_ISDIR(st.st_mode):
                return
            os.unlink(path)  # a symlink or file where the snapshot has a directory
            os.mkdir(path, 0o700)
        except OSError as exc:
            raise _os_error(exc, "cannot create directory", path) from None

    def create_file(self, path: bytes, size: int) -> None:
        """Create (or replace) a regular file of ``size`` bytes, all holes, now. A file that
        gets content is created by its first write instead (see write()).

        Raises:
            RestoreError: it cannot be created.
        """
        with self._open_lock:
            if path not in self._created:
                os.close(self._create(path, size))

    def _create(self, path: bytes, size: int) -> int:
        """Create path (holding the lock) and return a descriptor for writing it."""
        try:
            try:
                fd = os.open(path, _WRITE_FLAGS | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # never followed: O_EXCL refuses a symlink too
                _clear(path)
                fd = os.open(path, _WRITE_FLAGS | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                if size:
                    os.ftruncate(fd, size)
            except OSError:
                os.close(fd)
                raise
        except OSError as exc:
            raise _os_error(exc, "cannot create file", path) from None
        self._created.add(path)
        return fd

    def write(self, path: bytes, size: int, offset: int, data: bytes) -> None:
        """Write a blob at an offset into a file of ``size`` bytes; runs of zeros stay holes.

        The first write creates the file at its full size, all holes, so zero blocks need no
        write; writes into one file may come from several threads at once.

        Raises:
            RestoreError: the file cannot be created or written (disk full names the file).
        """
        runs = data_runs(data)
        if not runs:
            return
        fd, kept = self._fd(path, size)
        try:
            whole = memoryview(data)
            for start, end in runs:
                view, pos = whole[start:end], offset + start
                while view:
                    n = os.pwrite(fd, view, pos)
                    view, pos = view[n:], pos + n
        except OSError as exc:
            raise _os_error(exc, "cannot write", path) from None
        finally:
            if not kept:
                os.close(fd)

    def _fd(self, path: bytes, size: int) -> tuple[int, bool]:
        """A descriptor for writing path, and whether it is kept open for later writes."""
        with self._open_lock:
            fd = self._open.get(path)
            if fd is not None:
                return fd, True
            if path in self._created:
                try:
                    fd = os.open(path, _WRITE_FLAGS)
                except OSError as exc:
                    raise _os_error(exc, "cannot write", path) from None
            else:
                fd = self._create(path, size)
            if len(self._open) < MAX_OPEN_FILES:
                self._open[path] = fd
                return fd, True
        return fd, False

    def finish_file(self, path: bytes, size: int) -> None:
        """Every write into path has returned: release its descriptor, and create the file
        if no write did (its content was all zeros).

        Raises:
            RestoreError: it cannot be created.
        """
        with self._open_lock:
            fd = self._open.pop(path, None)
        if fd is not None:
            os.close(fd)
        else:
            self.create_file(path, size)

    def close_all(self) -> None:
        """Release every descriptor (the restore ended, or stopped)."""
        with self._open_lock:
            fds, self._open = list(self._open.values()), {}
        for fd in fds:
            os.close(fd)

    def make_other(self, path: bytes, node: Node) -> str:
        """Create a symlink, FIFO or device node; returns a warning or empty."""
        try:
            _clear(path)
            if node.type is NodeType.SYMLINK:
                os.symlink(node.link_target or b"", path)
            elif node.type is NodeType.FIFO:
                os.mkfifo(path, 0o600)
            elif node.type in (NodeType.CHARDEV, NodeType.BLOCKDEV):
                if not self._owners:
                    return "device nodes are only restored as root"
                kind = stat.S_IFCHR if node.type is NodeType.CHARDEV else stat.S_IFBLK
                os.mknod(path, kind | 0o600, node.rdev)
            else:
                return f"{node.type.value} entries are not restored"
        except OSError as exc:
            return f"cannot create {node.type.value}: {exc.strerror}"
        return ""

    def link(self, path: bytes, existing: bytes) -> None:
        """Create a hard link to a file restored earlier in this run.

        Raises:
            RestoreError: the link cannot be made.
        """
        try:
            _clear(path)
            os.link(existing, path, follow_symlinks=False)
        except OSError as exc:
            raise _os_error(exc, "cannot create hard link", path) from None

    def set_metadata(self, path: bytes, node: Node) -> str:
        """Apply owner, mode, xattrs and times; returns a warning or empty."""
        is_link = node.type is NodeType.SYMLINK
        try:
            if self._owners:
                os.chown(path, node.uid, node.gid, follow_symlinks=False)
            if not is_link:
                for name, value in node.xattrs:
                    try:
                        os.setxattr(path, name, value, follow_symlinks=False)
                    except OSError as exc:
                        if exc.errno not in (errno.ENOTSUP, errno.EPERM):
                            raise
                os.chmod(path, node.mode)
            atime = node.atime_ns or node.mtime_ns
            os.utime(path, ns=(atime, node.mtime_ns), follow_symlinks=False)
        except OSError as exc:
            return f"cannot set metadata: {exc.strerror}"
        return ""
