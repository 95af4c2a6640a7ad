"""The ``s3vault`` that shell scripts in the tests find first in PATH (the docs test's
sandboxes): it asks the fork server (tests/cliserver.py) for the command and waits for it, so
that each ``s3vault`` line of a page costs a fork of a process that has imported s3vault
already, not an interpreter start and the imports (about 0.4 s of CPU each).

The command is the real entry point in a process of its own, as with the console script: it
gets this process's argv, environment, working directory and its three standard streams
themselves (the shell's pipes, files and here-documents), and this process exits with its
exit status; one killed by a signal makes this one die by the same signal, and SIGTERM,
SIGINT, SIGHUP and SIGQUIT sent here are passed on to it. ``CliServer.shim_dir`` writes the
executable; this module imports only the standard library's smallest parts, as the
interpreter runs it with ``-IS``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys

_HEADER = struct.Struct("!I")  # as tests/cliserver.py's
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)


def main(socket_path: str) -> None:
    """Run ``s3vault sys.argv[1:]`` through the server at ``socket_path``; never returns."""
    request = json.dumps(
        {"argv": sys.argv[1:], "env": dict(os.environ), "cwd": os.getcwd(), "clock": 0.0}
    ).encode()
    fds = [fd if _is_open(fd) else os.open(os.devnull, os.O_RDWR) for fd in (0, 1, 2)]
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(socket_path)
    socket.send_fds(conn, [_HEADER.pack(len(request)) + request], fds)
    reply = conn.makefile("rb")
    pid = int(json.loads(reply.readline())["pid"])

    def forward(signum: int, _frame: object) -> None:
        try:  # noqa: SIM105 - contextlib would be one import more at every start
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in _FORWARDED:
        signal.signal(signum, forward)
    line = reply.readline()
    code = int(json.loads(line)["returncode"]) if line else 1
    if code < 0:  # killed by a signal: so is this process, as the shell expects
        for signum in _FORWARDED:
            signal.signal(signum, signal.SIG_DFL)
        if -code not in (signal.SIGKILL, signal.SIGSTOP):  # the two that cannot be caught
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.stdout.flush()
    os._exit(code if code >= 0 else 128 - code)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True
