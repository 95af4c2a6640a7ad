"""The s3vault command (its console script) and ``python -m s3vault``.

The command line is loaded here, so that a host too short of memory to load it (``ulimit -v``
below about 45 MiB: a compiled library cannot be mapped, or an import runs out) gets the
command's one line and exit 1, as it would later on, instead of a traceback; so does a Ctrl-C
while it loads (the first 0.2 s or so): ``Fatal: interrupted``, exit 130, as later on.
"""

import sys
from typing import NoReturn


def _interrupted() -> NoReturn:
    print("Fatal: interrupted", file=sys.stderr)  # noqa: T201
    sys.exit(130)  # ExitCode.INTERRUPTED (s3vault.errors may be what was interrupted)


try:  # first, and light: what says the command could not load, under a memory limit too
    from s3vault.errors import ExitCode, address_space_limit, out_of_memory_message
except KeyboardInterrupt:
    _interrupted()


def main() -> None:
    """Run the command line."""
    try:
        from s3vault.cli import main as command_line  # loaded here: the point of this module
    except KeyboardInterrupt:  # Ctrl-C while it loads (an attack pass: a traceback, exit -2)
        _interrupted()
    except (MemoryError, ImportError, SystemError) as exc:
        # an import short of memory: a library that cannot be mapped, a MemoryError, or (a
        # clean clone's run at 28 MiB) a SystemError from an allocation that failed in C
        reason = str(exc).lower()
        mapped = "failed to map segment" in reason or "cannot allocate memory" in reason
        if isinstance(exc, ImportError) and not mapped:
            raise
        if isinstance(exc, SystemError) and address_space_limit() == "no limit":
            raise
        print(f"Fatal: {out_of_memory_message()}", file=sys.stderr)  # noqa: T201
        sys.exit(ExitCode.FATAL)
    command_line()


if __name__ == "__main__":
    main()
