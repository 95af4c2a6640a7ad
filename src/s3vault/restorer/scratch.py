"""Scratch directories that a restore fills and that are thrown away afterwards (restore-test).

``remove_tree`` removes a directory however deep it is, with no recursion and two descriptors
open at a time: each directory met is first moved up to the top of the tree being removed
(a rename within one file system), then emptied of everything that is not a directory and
removed. So every directory is handled once, by a short name, and a tree 10,000 levels deep
(far past PATH_MAX, and past Python 3.11's recursive ``shutil.rmtree``) goes like a flat one.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from s3vault.errors import RestoreError

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
                _let_in(child, fd)  # a directory moves only where its owner may write it
                moved = f".s3vault-rm-{os.getpid()}-{next(numbers)}"
                os.rename(child, moved, src_dir_fd=fd, dst_dir_fd=top)
                hoisted.append(moved)
            else:
                os.unlink(child, dir_fd=fd)
    finally:
        os.close(fd)


def _let_in(name: str | os.PathLike[str], dir_fd: int | None = None) -> None:
    """Give the owner (this process: a drill removes what it restored) read, write and search
    on a directory already known to be one (not a link): a restored directory of mode 0555,
    0333 or 0000 stopped its removal as another user than root, and the drill's plain text
    stayed behind (an attack pass, 2026-12-07). Best effort."""
    with contextlib.suppress(OSError):
        os.chmod(name, 0o700, dir_fd=dir_fd)


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Remove ``path`` and everything below it, best effort (what cannot be removed stays):
    for a directory of this process's own, whatever the modes below it (``_let_in``)."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
            return
        _let_in(path)
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
                    _let_in(name, top)
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
# A drill's scratch directory: the prefix, its process id (for the person who looks), a
# random part. ASCII only: \w took "é" (an attack pass, 2026-12-07).
_SCRATCH_NAME = re.compile(rf"{SCRATCH_PREFIX}[1-9][0-9]{{0,9}}-[A-Za-z0-9_]+")


class Scratch:
    """A drill's scratch directory, locked (``flock``) while the drill uses it: a sweep by
    another drill takes only directories no live drill holds, whatever process id namespace
    or host it runs in (a drill in a container sharing /tmp took a running drill's directory
    for a dead one's by its process id: an attack pass, 2026-12-07)."""

    def __init__(self, *, keep: bool = False) -> None:
        """Make one in the system's temporary directory, once the scratch directories of
        drills that were killed are removed (``sweep_scratch``); ``keep``: one the user
        keeps, named so that no sweep takes it (no lock)."""
        where = _temporary_directory()
        sweep_scratch(where)
        self._fd: int | None = None
        if keep:
            self.path = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}kept-", dir=where))
            return
        # made under a name no sweep takes, locked, then named: never seen unlocked
        made = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}new-", dir=where))
        self._fd = os.open(made, _DIR_FLAGS)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self.path = made.with_name(made.name.replace("-new-", f"-{os.getpid()}-", 1))
        os.rename(made, self.path)

    def close(self, *, remove: bool) -> None:
        """Remove the directory (``remove``) and let go of its lock."""
        if remove:
            remove_tree(self.path)  # not shutil.rmtree: recursive in Python 3.11
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _temporary_directory() -> Path:
    """The system's temporary directory, as $TMPDIR (or $TEMP, $TMP) names it.

    Raises:
        RestoreError: the one named cannot be used (missing, read-only): Python's
            ``tempfile`` went on to /tmp without a word, and a drill's plain text landed where
            the operator had not put it (an attack pass, 2026-12-07).
    """
    where = Path(tempfile.gettempdir())
    named = next((os.environ[v] for v in ("TMPDIR", "TEMP", "TMP") if os.environ.get(v)), "")
    if named and os.path.realpath(named) != os.path.realpath(where):
        msg = (
            f"the temporary directory {named} ($TMPDIR) cannot be used ({_unusable(named)}): "
            "point TMPDIR at one that can, or give --target"
        )
        raise RestoreError(msg)
    return where


def _unusable(directory: str) -> str:
    """Why ``tempfile`` passed over ``directory``: what a file written there meets, as
    ``tempfile`` tries it (a full disk was said as "missing, or this user may not write
    there": an attack pass, 2026-12-07)."""
    try:
        fd, name = tempfile.mkstemp(dir=directory)
    except OSError as exc:
        return exc.strerror or str(exc)
    try:
        os.write(fd, b"s3vault")
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(name)
    return "missing, or this user may not write there"


def sweep_scratch(where: Path) -> list[str]:
    """Remove the scratch directories in ``where`` that a drill of this user left when it was
    SIGKILLed (the OOM killer, a systemd stop timeout): each holds a restored copy of a
    snapshot in plain text, and later drills left them all in place (three killed drills
    left 266 MB: an attack pass, 2026-12-07). A directory is removed only when it is named
    as a drill names one, is a directory of this user's (not a link to one), and no drill
    holds its lock; best effort. Returns the names removed."""
    removed: list[str] = []
    try:
        entries = [e for e in os.scandir(where) if _SCRATCH_NAME.fullmatch(e.name)]
    except OSError:
        return removed
    for entry in entries:
        try:
            fd = os.open(entry.path, _DIR_FLAGS)  # O_NOFOLLOW: a link is never followed
        except OSError:
            continue
        try:
            if os.fstat(fd).st_uid != os.getuid():
                continue  # another user's
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a live drill holds it (or it cannot be locked: left alone)
        else:
            remove_tree(entry.path)
            removed.append(entry.name)
        finally:
            os.close(fd)
    return removed
