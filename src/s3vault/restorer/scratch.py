"""Scratch directories that a restore fills and that are thrown away afterwards (restore-test).

``remove_tree`` removes a directory however deep it is, with no recursion and two descriptors
open at a time: each directory met is first moved up to the top of the tree being removed
(a rename within one file system), then emptied of everything that is not a directory and
removed. So every directory is handled once, by a short name, and a tree 10,000 levels deep
(far past PATH_MAX, and past Python 3.11's recursive ``shutil.rmtree``) goes like a flat one.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import stat
from collections.abc import Iterator

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC


def _empty(top: int, name: str, hoisted: list[str], numbers: Iterator[int]) -> None:
    """Remove everything in ``top/name`` but its directories, which move up to ``top``."""
    fd = os.open(name, _DIR_FLAGS, dir_fd=top)
    try:
        with os.scandir(fd) as listing:
            entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in listing]
        for child, is_dir in entries:
            if is_dir:
                moved = f".s3vault-rm-{os.getpid()}-{next(numbers)}"
                os.rename(child, moved, src_dir_fd=fd, dst_dir_fd=top)
                hoisted.append(moved)
            else:
                os.unlink(child, dir_fd=fd)
    finally:
        os.close(fd)


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Remove ``path`` and everything below it, best effort (what cannot be removed stays)."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
            return
        top = os.open(path, _DIR_FLAGS)
    except OSError:
        return
    numbers = itertools.count()
    try:
        with os.scandir(top) as listing:
            pending = [entry.name for entry in listing]
        while pending:
            name = pending.pop()
            try:
                if stat.S_ISDIR(os.stat(name, dir_fd=top, follow_symlinks=False).st_mode):
                    _empty(top, name, pending, numbers)
                    os.rmdir(name, dir_fd=top)
                else:
                    os.unlink(name, dir_fd=top)
            except OSError:
                continue
    finally:
        os.close(top)
    with contextlib.suppress(OSError):
        os.rmdir(path)
