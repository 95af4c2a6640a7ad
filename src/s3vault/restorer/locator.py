"""Locator: where each planned entry lives under the restore target, and how to reach it.

A plan addresses every entry as ``Entry(parent, name)``: ``parent`` is the number of its
directory in the plan's directory list (``ROOT`` for the target itself), and directories come
before everything inside them. Every entry is reached through a descriptor of its directory,
opened one component at a time with O_NOFOLLOW from the target (the target itself by its path,
which may be a symlink of the user's): a user who can write into the target and swaps a
restored directory for a symlink while the restore runs cannot redirect what is written below
it (with paths used as they are, root's files went through such a link: an attack pass,
2026-12-06; restic 0.14 follows it too), and the depth of a tree is limited by nothing but the
file system. A small LRU cache of directory descriptors makes a walk down a chain cost one
``openat`` per level; measured on the bench corpus, the restore's CPU is the same as by path.
Paths are built only for messages (``path``).

Thread safety: ``at`` may be called from any thread. Each caller gets its own descriptor (a
duplicate) that stays valid until its block ends, so another thread's eviction never closes it.
"""

from __future__ import annotations

import os
import resource
import threading
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

ROOT = -1  # the restore target itself
PATH_LIMIT = 3072  # bytes: each directory keeps its path for messages up to this length
CACHED_DIRS = 128  # directories kept open, at most (a quarter of ``ulimit -n`` if less)


def descriptor_share(most: int) -> int:
    """``most``, or a quarter of the descriptors this process may open when that is less:
    what a restore keeps open of one kind (directories on the way here, written files in
    sinks.py), so that both, the packs it reads, its pipes and threads fit under ``ulimit -n``
    (an attack pass: with 128 directories kept open a restore failed under `ulimit -n 128`,
    `--jobs 1` too)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return most
    return min(most, soft // 4)


_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC  # the target may be a symlink: the user's
_DIR_FLAGS = _ROOT_FLAGS | os.O_NOFOLLOW  # below it, a symlink is never a way through
# A directory its owner may search and write but not read (mode 0333, a drop box): every call
# the restore makes on it is relative to a descriptor, which O_PATH opens with search
# permission alone (Linux). A second restore into such a target said "cannot create file:
# Permission denied" and exited 3 where the first succeeded and restic does (an attack pass,
# 2026-12-07).
_SEARCH_ONLY = getattr(os, "O_PATH", 0)


def _open_dir_at(name: bytes, flags: int, dir_fd: int | None = None) -> int:
    """``os.open`` of a directory, for search and *at calls only where it may not be read."""
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except PermissionError:
        if not _SEARCH_ONLY:
            raise
        return os.open(name, flags | _SEARCH_ONLY, dir_fd=dir_fd)  # O_PATH: no read mode


@dataclass(frozen=True, slots=True)
class Entry:
    """Where one restored entry goes: its directory's number (or ROOT) and its name."""

    parent: int
    name: bytes


class Locator:
    """Resolves entries under one target; ``dirs[i]`` is the Entry of directory number i."""

    def __init__(self, target: bytes, dirs: Sequence[Entry]) -> None:
        self._target = target
        self._dirs = dirs
        # Each directory's full path while it is short enough to be used as it is.
        self._paths: list[bytes | None] = []
        for entry in dirs:
            self._paths.append(self._join(entry))
        self._fds: OrderedDict[int, int] = OrderedDict()
        self._most = max(2, descriptor_share(CACHED_DIRS))  # the one opened and its parent
        self._lock = threading.Lock()

    def _base(self, parent: int) -> bytes | None:
        return self._target if parent == ROOT else self._paths[parent]

    def _join(self, entry: Entry) -> bytes | None:
        base = self._base(entry.parent)
        if base is None or len(base) + 1 + len(entry.name) >= PATH_LIMIT:
            return None
        return base + b"/" + entry.name

    @property
    def target(self) -> bytes:
        """The target directory."""
        return self._target

    def path(self, entry: Entry) -> bytes:
        """The entry's full path (for messages; it may be longer than the OS accepts)."""
        short = self._join(entry)
        if short is not None:
            return short
        parts = [entry.name]
        number = entry.parent
        while number != ROOT and self._paths[number] is None:
            parts.append(self._dirs[number].name)
            number = self._dirs[number].parent
        parts.append(self._base(number) or b"")
        return b"/".join(reversed(parts))

    def at(self, entry: Entry) -> AbstractContextManager[tuple[int | None, bytes]]:
        """``(dir_fd, name)`` for os calls on the entry, in a ``with`` block: a descriptor of
        its directory (valid inside the block) and its name.

        Raises:
            OSError: (on entering) a directory on the way cannot be opened (missing, or not a
                directory: a symlink is never followed).
        """
        return _InDir(self, entry)

    def dup_dir(self, number: int) -> int:
        """A new descriptor of directory ``number`` (or ROOT), the caller's to close.

        Raises:
            OSError: a directory on the way cannot be opened.
        """
        with self._lock:
            return os.dup(self._open_dir(number))

    def _open_dir(self, number: int) -> int:
        """A cached descriptor of directory ``number`` (the lock is held)."""
        chain: list[int] = []
        while (fd := self._fds.get(number)) is None:
            if number == ROOT:  # the target by its path; everything below by descriptor
                fd = self._keep(number, _open_dir_at(self._target, _ROOT_FLAGS))
                break
            chain.append(number)
            number = self._dirs[number].parent
        self._fds.move_to_end(number)
        for below in reversed(chain):
            fd = self._keep(below, _open_dir_at(self._dirs[below].name, _DIR_FLAGS, dir_fd=fd))
        return fd

    def _keep(self, number: int, fd: int) -> int:
        self._fds[number] = fd
        if len(self._fds) > self._most:  # the oldest: never the one just opened or its parent,
            oldest = next(n for n in self._fds if n != ROOT)  # nor the target (opened by path
            os.close(self._fds.pop(oldest))  # once: again, its path could lead elsewhere)
        return fd

    def close(self) -> None:
        """Release every cached descriptor."""
        with self._lock:
            fds, self._fds = list(self._fds.values()), OrderedDict()
        for fd in fds:
            os.close(fd)


class _InDir(AbstractContextManager[tuple[int | None, bytes]]):
    __slots__ = ("_entry", "_fd", "_locator")

    def __init__(self, locator: Locator, entry: Entry) -> None:
        self._locator, self._entry, self._fd = locator, entry, -1

    def __enter__(self) -> tuple[int | None, bytes]:
        self._fd = self._locator.dup_dir(self._entry.parent)
        return self._fd, self._entry.name

    def __exit__(self, *_exc: object) -> None:
        os.close(self._fd)
