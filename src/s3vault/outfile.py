"""Files an operator names for output (``--metrics-file``, ``report --html``, ``dump --target``).

A regular file (or a new one) is written to a temporary file beside it and renamed into place:
a reader never sees half of it, and a write that fails (a full disk, a file size limit) leaves
the old file as it was and no temporary file behind. Anything else at that path is written in
place and never replaced: ``--metrics-file /dev/null`` turns the metrics off, a FIFO feeds its
reader. A rename over them replaced the device node with a regular file (``/dev/null`` itself,
when run as root) and left a lock file in /dev.
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


def special(path: Path) -> bool:
    """Whether ``path`` is something other than a regular file or nothing (a device, a FIFO,
    a socket; through symbolic links): written in place, never replaced, never read back."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


@contextlib.contextmanager
def output_file(path: Path) -> Iterator[BinaryIO]:
    """``path`` open for writing, as the module docstring says: a regular file appears whole
    when the block ends without an exception, or not at all.

    Raises:
        OSError: it cannot be written (the caller names the path).
    """
    if special(path):
        with path.open("wb") as out:
            yield out
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as out:
            yield out
        tmp.replace(path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()  # (gone once renamed)


def write_output(path: Path, data: bytes) -> None:
    """``data`` as the whole of ``path`` (``output_file``).

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
