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
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from s3vault.repository.lease import pid_alive

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


SCRATCH_PREFIX = "s3vault-drill-"
_SCRATCH_NAME = re.compile(rf"{SCRATCH_PREFIX}(\d+)-[\w]+")


def new_scratch(*, keep: bool = False) -> Path:
    """A new scratch directory in the system's temporary directory, named by this process's
    id (``keep``: one the user keeps, named so that no sweep takes it), once the scratch
    directories of drills whose process has ended are removed (``sweep_scratch``)."""
    sweep_scratch(Path(tempfile.gettempdir()))
    mine = "kept" if keep else str(os.getpid())
    return Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{mine}-"))


def sweep_scratch(where: Path) -> list[str]:
    """Remove the scratch directories in ``where`` that a drill of this user left when it was
    SIGKILLed (the OOM killer, a systemd stop timeout): each holds a restored copy of a
    snapshot in plain text, and later drills left them all in place (three killed drills
    left 266 MB: an attack pass, 2026-12-07). Only a directory named by a process id that
    no live process of this host has (``lease.pid_alive``: a zombie counts as ended), owned
    by this user, is removed; best effort. Returns the names removed."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(where))
    except OSError:
        return removed
    for entry in entries:
        match = _SCRATCH_NAME.fullmatch(entry.name)
        if match is None or pid_alive(int(match[1])):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid():
            remove_tree(entry.path)
            removed.append(entry.name)
    return removed
