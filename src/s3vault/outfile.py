"""Files an operator names for output (``--metrics-file``, ``report --html``, ``dump --target``).

Two ways of writing one, both through symbolic links, neither over a device:

- **Replaced whole** (``output_file``: metrics, the report, which a reader may open at any
  moment): written to a temporary file beside the file a link leads to, with the old file's
  mode (and owner, where the process may set it), then renamed over it: a reader never sees
  half of it, and a write that fails (a full disk) leaves the old file and no temporary file.
- **Written in place** (``output_file(..., in_place=True)``: ``dump --target``, as a shell's
  ``>`` writes): the file keeps its inode, mode, owner and hard links, and needs no room for a
  second copy; a dump that fails removes a file it created, and leaves one it overwrote
  incomplete (the error says why).

Anything but a regular file (a device such as /dev/null, a FIFO, a socket), and any path
through /dev or /proc (``/dev/stdout`` is a link to ``/proc/self/fd/1``; not /dev/shm, a
filesystem for files), is written in place
and never replaced, read or locked: ``--metrics-file /dev/null`` turns the metrics off, a FIFO
feeds its reader. A rename over them replaced the device node with a regular file
(``/dev/null`` itself, when run as root) and left a lock file in /dev.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from s3vault.errors import S3VaultError, UsageError

# A path that cannot name a file to write (a bad argument, exit 2), not a failure to write it
_BAD_PATH = (errno.ENOENT, errno.ENOTDIR, errno.EISDIR)
_SYSTEM = ("/dev/", "/proc/")  # descriptors and devices: written in place, whatever they are
# ... except /dev/shm: POSIX shared memory, an ordinary tmpfs where files live (a textfile
# directory there was never made, and its writers were not locked against each other)
_FILES_UNDER_DEV = ("/dev/shm/",)  # noqa: S108 - a prefix compared, no file made


def special(path: Path) -> bool:
    """Whether ``path`` is to be written in place and never replaced, read or locked: not a
    regular file (through links: a device, a FIFO, a socket), or a path through /dev or /proc
    (/dev/stdout, /proc/self/fd/1, which name a descriptor whatever it is open on)."""
    if _through_system(path):
        return True
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _through_system(path: Path) -> bool:
    absolute = os.path.abspath(path)
    if _system(absolute):
        return True
    with contextlib.suppress(OSError):
        return _system(os.path.join(os.path.dirname(absolute), os.readlink(path)))
    return False


def _system(absolute: str) -> bool:
    return absolute.startswith(_SYSTEM) and not absolute.startswith(_FILES_UNDER_DEV)


@contextlib.contextmanager
def output_file(path: Path, *, in_place: bool = False) -> Iterator[BinaryIO]:
    """``path`` open for writing, as the module docstring says: replaced whole when the block
    ends without an exception (or, ``in_place``, written where it is).

    Raises:
        OSError: it cannot be written (the caller names the path; ``cannot_write``).
    """
    if special(path):
        with path.open("wb") as out:
            yield out
        return
    if in_place:
        with _in_place(path) as out:
            yield out
        return
    real = resolved(path)  # a link stays a link: the file it leads to is replaced
    # a name of its own (a killed run's file under the same process id, PID 1 in a container,
    # would stop every later one), created anew: never through a link planted under that name
    tmp = real.with_name(f".{real.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        with os.fdopen(fd, "wb") as out:
            _like(out.fileno(), real)
            yield out
        tmp.replace(real)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()  # (gone once renamed)


def resolved(path: Path) -> Path:
    """The file ``path`` leads to through its links (itself if it is none; one a dangling
    link names, to be created).

    Raises:
        OSError: the links go round in a loop (ELOOP), as a shell's > says.
    """
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise
    return Path(os.path.realpath(path))


def _like(fd: int, old: Path) -> None:
    """Give the new file the old one's mode and, where the process may, its owner."""
    try:
        st = old.stat()
    except OSError:
        return  # a new file: the default mode (0644 less the umask)
    with contextlib.suppress(OSError):
        os.fchown(fd, st.st_uid, st.st_gid)
    os.fchmod(fd, stat.S_IMODE(st.st_mode))


@contextlib.contextmanager
def _in_place(path: Path) -> Iterator[BinaryIO]:
    target = resolved(path)  # through a link: the file this run may create is the link's
    existed = target.exists()
    with path.open("wb") as out:  # (a failure here has made nothing)
        try:
            yield out
        except BaseException:
            if not existed:  # one it overwrote stays, incomplete: the error says why
                with contextlib.suppress(OSError):
                    target.unlink()
            raise


def write_output(path: Path, data: bytes) -> None:
    """``data`` as the whole of ``path`` (``output_file``, replaced whole).

    Raises:
        OSError: it cannot be written.
    """
    with output_file(path) as out:
        out.write(data)


def cannot_write(path: Path | str, exc: OSError) -> S3VaultError:
    """The one-line error for an output file that could not be written: a usage error (exit 2)
    for a path that names no place to write (a missing directory, a directory), else a
    failure (exit 1: a full disk, a file size limit, no permission)."""
    kind = UsageError if exc.errno in _BAD_PATH else S3VaultError
    return kind(f"cannot write {path}: {exc.strerror or exc}")
