"""The command's standard streams: what a cron job, a closed descriptor or a reader that goes
away does to them.

- A standard descriptor closed at start (``>&-``, ``<&-``) is opened on /dev/null, so that no
  file the command opens later becomes descriptor 1 (a pack written to by ``print``), and
  Python's ``sys.stdout`` is not None (every command ended in an internal error).
- A write to stdout or stderr that fails (``| head -1``, a full disk) stops the output, not the
  work, once the command changes the repository: the descriptor is pointed at /dev/null and
  the command finishes, records its audit record and metrics, and exits with the work's code
  (a backup piped into ``head -1`` had saved its snapshot and left no audit record, exit 1, no
  message). A command that only shows something ends there (``ls | head -1``: exit 1, quiet).
- Output that must reach someone (the recovery key, shown once) asks ``lost`` afterwards.
- Every write to stdout and stderr is written whole. Under ``PYTHONUNBUFFERED=1`` (usual in
  container images) Python's stdout has no buffer: a write that a signal (a stop and continue,
  a debugger) or a non-blocking pipe cuts short took only part of its bytes and said so in a
  count no caller read. `dump | ...` then lost a megabyte at each stop, exit 0; the content hash
  it had checked was of the bytes it meant to write. A non-blocking descriptor is waited on:
  `backup --stdin` from a non-blocking pipe saved its first 64 KiB, exit 0.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import io
import os
import select
import sys
from collections.abc import Callable
from typing import Any, TextIO

from s3vault import S3VaultError

CLOSED_AT_START: set[int] = set()


class _Guarded:
    """A text stream whose failed write ends its output, not the command."""

    def __init__(self, stream: TextIO, fd: int) -> None:
        self._stream = stream
        self._fd = fd
        self.failure: OSError | None = None

    def write(self, text: str) -> int:
        if self.failure is None:
            try:
                return self._stream.write(text)
            except OSError as exc:
                self._lose(exc)
        else:
            self._stopped()
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def write_bytes(self, data: bytes) -> None:
        """Bytes to the stream's binary buffer, under the same rule as text (``write_stdout``)."""
        if self.failure is None:
            try:
                self._stream.flush()
                self._stream.buffer.write(data)
                self._stream.buffer.flush()
            except OSError as exc:
                self._lose(exc)
        else:
            self._stopped()

    def flush(self) -> None:
        if self.failure is None:
            try:
                self._stream.flush()
            except OSError as exc:
                self._lose(exc)  # (later flushes are quiet: the interpreter's at its exit too)

    def _lose(self, exc: OSError) -> None:
        self.failure = exc
        _to_devnull(self._fd)
        with contextlib.suppress(OSError):
            self._stream.flush()  # what it still holds goes to /dev/null, not to a traceback
        self._stopped()

    def _stopped(self) -> None:
        """A command that only shows something has nothing left to do once its stdout is lost:
        `ls | head -1` ends at once, quietly as click ends it (exit 1), or saying what failed;
        at every write, not the first only (click's echo tries an empty write first and
        swallows what that raises: `cat config >/dev/full` then printed nothing, exit 0)."""
        exc = self.failure
        if exc is None or self._fd != 1 or _changing():
            return
        if exc.errno == errno.EPIPE:
            raise BrokenPipeError(exc.errno, exc.strerror)
        msg = f"cannot write to standard output: {exc.strerror or exc}"
        raise S3VaultError(msg)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def write_stdout(data: bytes) -> None:
    """Bytes to standard output (cat's pack, report's page) as text is written there: a full
    disk says "cannot write to standard output", not an internal error (the raw buffer
    bypassed the rule)."""
    out = sys.stdout
    if isinstance(out, _Guarded):
        out.write_bytes(data)
    else:
        out.buffer.write(data)
        out.buffer.flush()


_changing: Callable[[], bool] = lambda: False  # noqa: E731 - until a command says otherwise


def keep_working_when(changing: Callable[[], bool]) -> None:
    """From when ``changing()`` (the command has begun to change the repository: an audited
    operation) a lost stdout stops the output only, not the command."""
    global _changing  # noqa: PLW0603 - one command per process
    _changing = changing


def changing() -> bool:
    """Whether the command has begun to change the repository (``keep_working_when``): a lost
    stdout then stops the output only."""
    return _changing()


def keep_working() -> None:
    """From now on a lost stdout stops the output, not the command (``run``: its headers come
    before the backup it runs changes anything)."""
    keep_working_when(lambda: True)


class _Whole(io.RawIOBase):
    """A standard descriptor that is read and written whole: the rest of a short write is sent
    again, and a descriptor that would block (a non-blocking pipe a parent left) is waited on
    instead of a write taking part of its bytes, or a read taken for the end of the input."""

    def __init__(self, fd: int, *, reading: bool) -> None:
        self._fd = fd
        self._reading = reading
        self._ended = False  # the input said it ended (a terminal's ^D): asked no more

    def fileno(self) -> int:
        return self._fd

    def readable(self) -> bool:
        return self._reading

    def writable(self) -> bool:
        return not self._reading

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def seekable(self) -> bool:  # a regular file (`dump --archive zip > f.zip` seeks back)
        try:
            os.lseek(self._fd, 0, os.SEEK_CUR)
        except OSError:
            return False
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return os.lseek(self._fd, offset, whence)

    def tell(self) -> int:
        return os.lseek(self._fd, 0, os.SEEK_CUR)

    def readinto(self, buffer: Any) -> int:
        while not self._ended:
            try:
                got = os.readv(self._fd, [buffer])
            except BlockingIOError:
                select.select([self._fd], [], [])
                continue
            self._ended = got == 0 and len(buffer) > 0
            return got
        return 0  # a terminal would wait for a second ^D: backup --stdin took two

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        done = 0
        try:
            while done < len(view):
                if _STOPPING and not _writable(self._fd):
                    _to_devnull(self._fd)  # ending: no reader is waited for (its last line)
                    continue
                try:
                    done += os.write(
                        self._fd, view[done : done + _PIPE_BUF] if _STOPPING else view[done:]
                    )
                except BlockingIOError:
                    select.select([], [self._fd], [])
        except (KeyboardInterrupt, SystemExit):
            # A signal ended the command while a reader that reads nothing held this write:
            # what is left goes to /dev/null. The buffer above keeps what it could not write
            # and flushes it again on the way out, where it would block for good with the
            # signals that could end it ignored (`ls | stalled` outlived SIGTERM and SIGINT).
            stopping()
            _to_devnull(self._fd)
            raise
        return done


_STOPPING = False  # a signal is ending the command (stopping)
_PIPE_BUF = 4096  # written at once to a pipe that select calls writable: never blocks
STOP_WAIT = 1.0  # seconds a reader may take to make room, once the command is ending


def stopping() -> None:
    """A signal is ending the command: from now on a write waits at most STOP_WAIT for its
    reader, then its output goes to /dev/null. `dump > fifo 2>&1` into a reader that reads
    nothing said "interrupted" into the same full pipe and waited there for a second signal."""
    global _STOPPING  # noqa: PLW0603 - one command per process
    _STOPPING = True


def _writable(fd: int) -> bool:
    try:
        return bool(select.select([], [fd], [], STOP_WAIT)[1])
    except (OSError, ValueError):
        return True  # (the write says what is wrong)


def _to_devnull(fd: int) -> None:
    """Point descriptor ``fd`` at /dev/null: its output ends, quietly."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)


def _escaped(exc: UnicodeError) -> tuple[bytes, int]:
    """The error handler ``s3vault-escape``: what surrogateescape writes for the odd bytes of
    a name (its bytes), and for any other character the encoding cannot spell its UTF-8 bytes
    as ``\\xNN`` (LC_ALL=C without UTF-8 mode: Python's own surrogateescape ended `ls` of a
    file named café in an internal error; it is shown caf\\xc3\\xa9, the bytes of its name,
    which is how this locale reads the name and how `find` takes it)."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = bytearray()
    for char in exc.object[exc.start : exc.end]:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(code - 0xDC00)
        else:  # its UTF-8 bytes, each \xNN: the bytes this locale's find matches (é: \xc3\xa9)
            out += b"".join(b"\\x%02x" % byte for byte in char.encode("utf-8", "surrogatepass"))
    return bytes(out), exc.end


codecs.register_error("s3vault-escape", _escaped)
_ERRORS = {"strict": "backslashreplace", "surrogateescape": "s3vault-escape"}


def _on(stream: TextIO, fd: int) -> bool:
    """Whether ``stream`` is Python's own text stream on descriptor ``fd`` (not a capture)."""
    if not isinstance(stream, io.TextIOWrapper):
        return False
    binary = stream.buffer
    raw = binary.raw if isinstance(binary, io.BufferedReader | io.BufferedWriter) else binary
    return isinstance(raw, io.FileIO) and raw.fileno() == fd


def _whole(stream: io.TextIOWrapper, fd: int) -> TextIO:
    """``stream`` (sys.stdin, sys.stdout or sys.stderr) again, on a descriptor read and written
    whole: buffered as it was (stdout and stderr unbuffered under ``python -u``), with the same
    encoding, errors and line buffering."""
    if fd != 0:
        stream.flush()
    raw = _Whole(fd, reading=fd == 0)
    binary: Any = raw  # unbuffered, as Python's own stdout and stderr under -u
    if fd == 0:
        binary = io.BufferedReader(raw)
    elif isinstance(stream.buffer, io.BufferedWriter):
        binary = io.BufferedWriter(raw)
    return io.TextIOWrapper(
        binary,
        encoding=stream.encoding,
        # a name the encoding cannot spell (café under PYTHONIOENCODING=ascii) is shown
        # escaped, as odd bytes are, instead of ending the command in an internal error
        errors=_ERRORS.get(stream.errors or "strict", stream.errors) if fd else stream.errors,
        newline="\n",  # as Python's own on POSIX: lines split at, and written with, "\n"
        line_buffering=stream.line_buffering,
        write_through=binary is raw or stream.write_through,
    )


def install() -> None:
    """Open closed standard descriptors on /dev/null and guard stdout and stderr (once)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            devnull = os.open(os.devnull, os.O_RDWR)
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)
            CLOSED_AT_START.add(fd)
    if sys.stdin is None:
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own stdin
    if _on(sys.stdin, 0):
        sys.stdin = _whole(sys.stdin, 0)  # type: ignore[arg-type]  # _on: a TextIOWrapper
    for fd, name in ((1, "stdout"), (2, "stderr")):
        stream = getattr(sys, name)
        if isinstance(stream, _Guarded):
            continue
        if stream is None:
            stream = _whole(open(fd, "w", closefd=False), fd)  # noqa: SIM115
        elif _on(stream, fd):
            stream = _whole(stream, fd)
        elif isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            # a name the encoding cannot spell (café under PYTHONIOENCODING=ascii) is shown
            # escaped, as odd bytes are, instead of ending the command in an internal error
            stream.reconfigure(errors="backslashreplace")
        setattr(sys, name, _Guarded(stream, fd))


def lost(fd: int = 1) -> OSError | str | None:
    """Why output written to stdout (1) or stderr (2) may have reached no one: it was closed
    at start, or a write failed; None if neither (after a flush)."""
    stream = sys.stdout if fd == 1 else sys.stderr
    with contextlib.suppress(Exception):
        stream.flush()
    if fd in CLOSED_AT_START:
        return "it was closed when the command started"
    failure = getattr(stream, "failure", None)
    return failure if isinstance(failure, OSError) else None
