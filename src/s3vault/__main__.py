"""The s3vault command (its console script) and ``python -m s3vault``.

The command line is loaded here, so that a host too short of memory to load it (``ulimit -v``
below about 44 MiB: a compiled library cannot be mapped, or an import runs out) gets the
command's one line and exit 1, as it would later on, instead of a traceback; so does a Ctrl-C,
SIGTERM or SIGHUP while it loads (the first 0.2 s or so): ``Fatal: interrupted``, exit 130, as
later on (a SIGTERM there ended the process by the signal: exit 143 and no word).
"""

import errno
import json
import os
import signal
import sys
from types import FrameType
from typing import NoReturn


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # as Ctrl-C; the command line installs its own handlers later


signal.signal(signal.SIGTERM, _stop)
if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # nohup's stays
    signal.signal(signal.SIGHUP, _stop)


def _said(message: str, code: int) -> str:
    """An error's line as the command line writes it later on: ``Fatal: MESSAGE``, or with
    --json its error object (a plain line broke a parser of --json's stderr: an attack pass)."""
    if "--json" in sys.argv[1:]:
        return json.dumps({"message_type": "error", "message": message, "exit_code": code}) + "\n"
    return f"Fatal: {message}\n"


def _interrupted() -> NoReturn:
    """``Fatal: interrupted``, exit 130."""
    sys.stderr.write(_said("interrupted", 130))
    sys.exit(130)  # ExitCode.INTERRUPTED (s3vault.errors may be what was interrupted)


# What a command short of memory says, as bytes made before the command line loads: made
# after an import that ran out, the line itself could not be made, and the command ended with
# exit 1 and no word (1 in 15 runs at 40 MiB; CI, 2026-12-07).
_OUT_OF_MEMORY = b"Fatal: out of memory (address space limit): raise the limit or free memory\n"

# Below this address space limit (``ulimit -v``) the command line cannot load: at 32 MiB the
# attempt ended in 1 of 6 runs in the interpreter's own fatal error or a segmentation fault
# (exit 134, 139) instead of the line; at 44-52 MiB it loads and says the line itself, and
# the lightest command that reads a repository needs about 96 MiB.
LOAD_FLOOR = 44 << 20

try:  # first, and light: what says the command could not load, under a memory limit too
    from s3vault.errors import ExitCode, address_space_bytes, out_of_memory_message

    _OUT_OF_MEMORY = _said(out_of_memory_message(), ExitCode.FATAL).encode(errors="replace")
except KeyboardInterrupt:
    _interrupted()
except MemoryError:  # not even that loaded: the line as it is
    os.write(2, _OUT_OF_MEMORY)
    os._exit(1)  # ExitCode.FATAL


def main() -> None:
    """Run the command line."""
    limit = address_space_bytes()
    if limit is not None and 0 <= limit < LOAD_FLOOR:
        _out_of_memory()
    try:
        from s3vault.cli import main as command_line  # loaded here: the point of this module
    except KeyboardInterrupt:  # Ctrl-C while it loads (an attack pass: a traceback, exit -2)
        _interrupted()
    except Exception as exc:
        if _interrupt_in(exc):  # a class being made wraps it: "Error calling __set_name__"
            _interrupted()
        _load_failed(exc)
    try:
        command_line()
    except MemoryError:  # its own error handling ran out too (its line could not be made)
        _out_of_memory()


def _interrupt_in(exc: BaseException | None) -> bool:
    """Whether a KeyboardInterrupt is in the exception's chain (its causes and contexts)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _load_failed(exc: Exception) -> NoReturn:
    """The command line did not load: short of memory (one line, exit 1), or a bug (raised)."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOMEM:
        # the import system's own listing of a package's directory (an attack pass at 32 MiB)
        _out_of_memory()
    if isinstance(exc, (MemoryError, ImportError, SystemError)):
        # an import short of memory: a library that cannot be mapped, a MemoryError, or (a
        # clean clone's run at 28 MiB) a SystemError from an allocation that failed in C
        reason = str(exc).lower()
        mapped = "failed to map segment" in reason or "cannot allocate memory" in reason
        if not (isinstance(exc, ImportError) and not mapped) and not (
            isinstance(exc, SystemError) and address_space_bytes() == -1
        ):
            _out_of_memory()
    raise exc


def _out_of_memory() -> NoReturn:
    """The one line, then exit 1 at once: one write of bytes made at the start, and no
    interpreter teardown, where one more allocation that fails gave a traceback after the
    line (a whole-suite run at 32 MiB, 2026-12-07)."""
    try:
        os.write(2, _OUT_OF_MEMORY)
    finally:
        os._exit(ExitCode.FATAL)


if __name__ == "__main__":
    main()
