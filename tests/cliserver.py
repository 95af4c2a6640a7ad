"""A fork server for the real ``s3vault`` entry point: every command is still a process of its
own, forked from a parent that has already imported s3vault (about 0.4 s of CPU per command
saved; the suite runs more than a thousand commands).

The server is started once per test process (``CliServer``), as a fresh interpreter whose
``sys.path`` starts with the console script's directory, as the ``s3vault`` script's does. It
imports every command and every module of s3vault (``_preload``) and nothing of the tests,
parses botocore's service models for S3 once and shares them with every command (the parsed
JSON files, the same for every command: tests/botomodels.py), and never
starts a thread, so that a fork is safe.

For each request (argv, environment, working directory, and the three standard streams passed
as file descriptors) it forks a child that takes those streams as fds 0, 1 and 2, that
environment and that directory, and runs what the console script runs: ``sys.exit(main())``,
ending as the interpreter's exit does (thread joins, atexit, buffered output flushed; not its
teardown of every module: ``_exit``). The exit
status goes back to the caller as ``subprocess`` reports it (``-9`` when SIGKILL ended it),
so crash points, SIGTERM and exit codes behave as with a fresh process.
``S3VAULT_TEST_FRESH_PROCESS=1`` makes ``run_cli`` start the console script instead, for a
check that both agree.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import NoReturn

BIN = Path(sys.executable).parent
S3VAULT = str(BIN / "s3vault")
_HEADER = struct.Struct("!I")


# The client -----------------------------------------------------------------------------------


class CliServer:
    """A running fork server and the client side of its protocol (thread-safe)."""

    def __init__(self, workdir: Path) -> None:
        self._socket = str(workdir / "cli.sock")
        self._log = workdir / "cliserver.log"
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-P", __file__, self._socket],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        assert self._proc.stdout is not None
        ready = self._proc.stdout.readline()
        if ready != b"ready\n":
            self._proc.kill()
            self._proc.wait()
            msg = f"the CLI fork server did not start: {self._log.read_text()[-2000:]}"
            raise RuntimeError(msg)

    def run(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        cwd: str | None = None,
        input: bytes | None = None,
        timeout: float | None = None,
        kill_after: float | None = None,
        clock_offset: float = 0.0,
        user: int | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """``subprocess.run([s3vault, *argv], capture_output=True, ...)``, forked from the
        server. ``input`` None: the child inherits this process's standard input, as with
        ``subprocess.run``. Raises ``subprocess.TimeoutExpired`` (after killing the child)
        when it runs longer than ``timeout``. ``kill_after``: SIGKILL it after that many
        seconds and return what it did (-9, or its own exit status if it ended first).
        ``clock_offset``: seconds the child's ``SystemClock`` is ahead of the real time
        (tests/timetravel.py). ``user``: the child runs as this user id (and the group id
        of the same number, no supplementary groups), as ``setpriv --reuid=U --regid=U
        --clear-groups`` would start it; the server must be root."""
        limit = kill_after if kill_after is not None else timeout
        deadline = None if limit is None else time.monotonic() + limit
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        if input is None:
            in_r, in_w = os.dup(0), -1
        else:
            in_r, in_w = os.pipe()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(self._socket)
            request = json.dumps(
                {
                    "argv": argv,
                    "env": env,
                    "cwd": cwd or os.getcwd(),
                    "clock": clock_offset,
                    "user": user,
                }
            ).encode()
            socket.send_fds(conn, [_HEADER.pack(len(request)) + request], [in_r, out_w, err_w])
        finally:
            for fd in (in_r, out_w, err_w):
                os.close(fd)
        with conn, conn.makefile("rb") as reply:
            pid = int(json.loads(reply.readline())["pid"])
            out, err, killed = _communicate(
                in_w, input or b"", out_r, err_r, deadline, lambda: _kill(pid)
            )
            status = json.loads(reply.readline())
        if killed and kill_after is None:
            raise subprocess.TimeoutExpired([S3VAULT, *argv], limit or 0.0, out, err)
        return subprocess.CompletedProcess([S3VAULT, *argv], status["returncode"], out, err)

    def shim_dir(self) -> Path:
        """A directory holding an executable ``s3vault`` that runs each command through this
        server (tests/clishim.py): put it first in PATH for shell scripts."""
        directory = Path(self._socket).parent / "bin"
        shim = directory / "s3vault"
        if not shim.exists():
            directory.mkdir(exist_ok=True)
            tests = str(Path(__file__).parent)
            shim.write_text(
                f"#!{sys.executable} -IS\nimport sys\nsys.path.insert(0, {tests!r})\n"
                f"from clishim import main\nmain({self._socket!r})\n"
            )
            shim.chmod(0o755)
        return directory

    def close(self) -> None:
        """Stop the server (children still running finish on their own)."""
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        Path(self._socket).unlink(missing_ok=True)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _communicate(
    in_w: int,
    data: bytes,
    out_r: int,
    err_r: int,
    deadline: float | None,
    on_deadline: Callable[[], None],
) -> tuple[bytes, bytes, bool]:
    """Write ``data`` to the child's stdin (then close it) while reading its stdout and stderr
    to their end, as ``Popen.communicate`` does; call ``on_deadline`` (a kill) once if the
    deadline passes first. Closes the three fds. Returns (stdout, stderr, deadline passed)."""
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    open_fds = {out_r, err_r}
    sel = selectors.DefaultSelector()
    for fd in chunks:
        sel.register(fd, selectors.EVENT_READ)
    view = memoryview(data)
    if in_w >= 0:
        open_fds.add(in_w)
        os.set_blocking(in_w, False)
        sel.register(in_w, selectors.EVENT_WRITE)
    passed = False
    try:
        while sel.get_map():
            wait = None if deadline is None or passed else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                on_deadline()
                passed = True
                continue
            for key, _ in sel.select(wait):
                fd = int(key.fd)
                if fd == in_w:
                    try:
                        view = view[os.write(fd, view[:65536]) :]
                    except BrokenPipeError:
                        view = view[:0]
                    done = not view
                else:
                    chunk = os.read(fd, 65536)
                    chunks[fd].append(chunk)
                    done = not chunk
                if done:
                    sel.unregister(fd)
                    os.close(fd)
                    open_fds.discard(fd)
    finally:
        sel.close()
        for fd in open_fds:
            os.close(fd)
    return b"".join(chunks[out_r]), b"".join(chunks[err_r]), passed


def run_s3vault(
    server: CliServer | None,
    argv: list[str],
    *,
    env: dict[str, str],
    kill_after: float | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``s3vault ARGV`` with its output captured, from the fork server or (None) as the
    console script; ``kill_after``: as ``CliServer.run``."""
    if server is not None:
        return server.run(argv, env=env, kill_after=kill_after)
    proc = subprocess.Popen(
        [S3VAULT, *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = proc.communicate(timeout=kill_after)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


# The server -----------------------------------------------------------------------------------


def _share_botocore_models() -> None:
    """Every botocore Loader shares one cache of parsed data files (tests/botomodels.py,
    run from its file: the server imports nothing of the tests), filled here once for the
    clients the commands make (S3, STS), before any fork."""
    import runpy

    import boto3

    runpy.run_path(str(Path(__file__).with_name("botomodels.py")))["share_parsed_models"]()
    session = boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1"
    )
    for service in ("s3", "sts"):
        session.client(service)  # type: ignore[call-overload]


def _preload() -> None:
    """Import once what the commands import: every command (the console script imports only
    the one it runs, s3vault/cli/commands/__init__.py), every module of s3vault, and what
    they import on first use (click's suggestions, rich's emoji table, cryptography's OpenSSL
    backend, multiprocessing's fork start), so that no child pays for an import. A child
    running as another user (``CliServer.run``'s ``user``) may not be able to read the
    standard library at all (here it lives under /root): the modules such children import
    on first use (encodings, importlib.readers) are imported here too."""
    import difflib  # noqa: F401
    import encodings.ascii
    import encodings.latin_1  # noqa: F401
    import importlib.readers
    import multiprocessing.popen_fork  # noqa: F401
    import pkgutil

    import cryptography.hazmat.backends.openssl  # noqa: F401
    import rich._emoji_codes  # noqa: F401

    import s3vault
    from s3vault.cli import cli

    for name in cli.commands:
        cli.commands[name]  # loads it
    for module in pkgutil.walk_packages(s3vault.__path__, "s3vault."):
        if module.name != "s3vault.__main__":  # that one runs the command line
            importlib.import_module(module.name)


def _child(fds: list[int], request: dict[str, object]) -> None:
    """In the forked child (the server's sockets closed): become the command's process, then
    run the console script's code. Never returns: it ends as the interpreter's own exit
    would (``_exit``)."""
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    os.closerange(3, 1 << 16)  # as subprocess's close_fds
    os.environ.clear()
    os.environ.update(request["env"])  # type: ignore[arg-type]
    time.tzset()  # the zone a fresh process would read from TZ (the server read its own)
    os.chdir(str(request["cwd"]))
    if request.get("user") is not None:  # as setpriv: groups, then group, then user
        os.setgroups([])
        os.setgid(int(request["user"]))  # type: ignore[call-overload]
        os.setuid(int(request["user"]))  # type: ignore[call-overload]
    sys.argv = [S3VAULT, *request["argv"]]  # type: ignore[misc]
    if request.get("clock"):
        _shift_clock(float(request["clock"]))  # type: ignore[arg-type]
    lowkdf = sys.modules.get("sitecustomize")  # tests/lowkdf_site, when it lowered the costs
    if hasattr(lowkdf, "real_presets_asked") and lowkdf.real_presets_asked(os.environ):
        lowkdf.use_real_presets()
    from s3vault.cli import main

    try:
        code = main()
    except SystemExit as stop:
        code = stop.code
    _exit(code)  # an exception other than SystemExit takes the interpreter's own way out


def _exit(code: object) -> NoReturn:
    """End the command's process as CPython's exit does (``Py_FinalizeEx``): join the
    threads that are not daemons, run the atexit functions, flush standard output and error
    (status 120 when that fails), and take SystemExit's code as the interpreter would; but
    skip its teardown of every module. That teardown decrements every object the child
    inherited from the server, so it copied nearly every page of the server's heap (the
    fork's copy-on-write): 25-30 % of a small command's CPU (measured with
    S3VAULT_TEST_CMDLOG: ``snapshots`` 76 → 56 ms, ``backup`` 102 → 81 ms)."""
    threading._shutdown()  # type: ignore[attr-defined]  # what the interpreter's exit calls
    atexit._run_exitfuncs()
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = 120
    os._exit(status)


def _shift_clock(seconds: float) -> None:
    """This process's wall clock runs ``seconds`` ahead (simulated time: tests/timetravel.py).
    ``SystemClock`` is the only reader of wall time in s3vault (ruff TID251)."""
    from datetime import timedelta

    from s3vault.clock import SystemClock

    real = SystemClock.now

    def now(self: SystemClock) -> datetime:
        return real(self) + timedelta(seconds=seconds)

    SystemClock.now = now  # type: ignore[method-assign]


def _receive(conn: socket.socket) -> tuple[list[int], dict[str, object]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 3)
    while len(data) < _HEADER.size:
        data += conn.recv(65536)
    (size,) = _HEADER.unpack_from(data)
    body = data[_HEADER.size :]
    while len(body) < size:
        more = conn.recv(size - len(body))
        if not more:
            raise ConnectionError("short request")
        body += more
    return fds, json.loads(body)


def _log_cost(path: str, argv: list[str], wall: float, usage: os.struct_rusage) -> None:
    """One line of the command log (``S3VAULT_TEST_CMDLOG=FILE``, for finding where the
    suite's time goes): the command's argv, its wall seconds and its CPU seconds."""
    line = {"argv": argv, "wall": wall, "user": usage.ru_utime, "sys": usage.ru_stime}
    with open(path, "a") as f:
        f.write(json.dumps(line) + "\n")


def _serve(path: str) -> None:
    """Accept requests and fork a child for each; report each child's exit status.

    Before each fork every object the server holds is moved to the collector's permanent
    generation (``gc.freeze``): the child's collections, above all the full ones of the
    interpreter's exit, then never walk the server's objects, whose pages a walk would copy
    one by one. That walk cost about 0.17 s of CPU per command, five times the work of a
    small command; the child still exits through the interpreter's own exit."""
    _preload()
    _share_botocore_models()
    assert threading.active_count() == 1, "a thread would not survive a fork"
    server_pid = os.getpid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    waiting: dict[int, socket.socket] = {}  # child pid → the caller's connection
    started: dict[int, tuple[float, list[str]]] = {}  # child pid → (start, argv), for the log
    cmdlog = os.environ.get("S3VAULT_TEST_CMDLOG")  # a file: one JSON line per command's cost
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    print("ready", flush=True)
    while not stopping:
        for key, _ in sel.select():
            if key.fileobj is listener:
                conn, _ = listener.accept()
                fds, request = _receive(conn)
                gc.freeze()  # see _serve's docstring: the child's exit then copies no pages
                pid = os.fork()
                if pid == 0:
                    for c in [conn, listener, *waiting.values()]:
                        c.close()
                    sel.close()
                    os.close(wake_r)
                    os.close(wake_w)
                    _child(fds, request)
                for fd in fds:
                    os.close(fd)
                conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
                waiting[pid] = conn
                started[pid] = (time.monotonic(), request["argv"])  # type: ignore[assignment]
            else:
                os.read(wake_r, 4096)
        while waiting:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
            if pid == 0:
                break
            conn = waiting.pop(pid)
            start, argv = started.pop(pid)
            if cmdlog:
                _log_cost(cmdlog, argv, time.monotonic() - start, usage)
            code = os.waitstatus_to_exitcode(status)
            with contextlib.suppress(OSError):  # the caller gave up (a timeout)
                conn.sendall(json.dumps({"returncode": code}).encode() + b"\n")
            conn.close()
    assert os.getpid() == server_pid
    Path(path).unlink(missing_ok=True)


if __name__ == "__main__":
    sys.path.insert(0, str(BIN))  # as the console script's own directory comes first
    _serve(sys.argv[1])
