"""A CPU timeline of each process of a command, installed by bench/scaling.py --trace.

Copied as ``sitecustomize`` into a directory on PYTHONPATH, so it loads at interpreter start
before anything else; it does nothing unless ``S3VAULT_CPU_TRACE`` names a log file. It then
appends one line per event: ``pid wall cpu event``, where ``wall`` is seconds since the
command started (``S3VAULT_CPU_T0``, a ``time.monotonic()`` of the caller: forked workers share
it) and ``cpu`` the process's own CPU seconds so far (user + system, all its threads), and an
event is

- ``start``: the interpreter starts (the parent command);
- ``> NAME`` / ``< NAME``: a step starts / ends (the functions in ``STEPS``, wrapped as their
  module is imported; forked workers log too);
- ``task1``: a worker process starts its first task (the serial head ends there);
- ``exit``: the interpreter's end (workers: the end of their main function).

The product never reads these variables; only the benchmark sets them.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

from stephooks import append_line, install

LOG = os.environ.get("S3VAULT_CPU_TRACE")
T0 = float(os.environ.get("S3VAULT_CPU_T0") or time.monotonic())
STEPS: dict[str, tuple[str, ...]] = {
    "s3vault.crypto.kdf": ("derive_kek",),
    "s3vault.ops.session": ("open_repository",),
    "s3vault.repository.repository": ("Repository.open", "Repository.read_index"),
    "s3vault.ops.backup": ("_parent", "_load_index", "_backup"),
    "s3vault.archiver.parallel": (
        "ParallelArchiver.run",
        "ParallelArchiver._fork",
        "ParallelArchiver._plan",
        "ParallelArchiver._serve",
    ),
    "s3vault.archiver.pipeline": ("Archiver.run",),
    "s3vault.archiver.commit": ("commit",),
    "s3vault.archiver.workerproc": ("worker_main",),
    "s3vault.archiver.dirworker": ("DirWorker.process",),
    "s3vault.repository.writer": ("BlobWriter.flush",),
    "s3vault.ops.restore": ("_restore",),
    "s3vault.restorer.plan": ("plan_restore",),
    "s3vault.restorer.restorer": (
        "Restorer.run",
        "Restorer._make_dirs",
        "Restorer._start_files",
        "Restorer._fetch_all",
        "Restorer._finish",
    ),
    "s3vault.restorer.parallel": ("_RangeWriter.work",),
    "s3vault.workerpool": ("WorkerPool._fork", "WorkerPool.run", "_worker_main"),
}
QUIET = {"DirWorker.process", "_RangeWriter.work"}  # many calls: only the first is logged
_seen: set[str] = set()


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def log(event: str) -> None:
    at = time.monotonic() - T0
    line = f"{os.getpid():>7} {at:8.4f} {_cpu():8.4f} {event}\n"
    assert LOG is not None
    append_line(LOG, line)


def _wrap(name: str, fn: Any) -> Any:
    main = name in ("worker_main", "_worker_main")

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if name in QUIET:
            if name not in _seen:
                _seen.add(name)
                log("task1")
            return fn(*args, **kwargs)
        if main:
            _seen.clear()  # a forked worker: its own first task
            log("fork")
        log(f"> {name}")
        try:
            return fn(*args, **kwargs)
        finally:
            log(f"< {name}")
            if main:
                log("exit")

    return wrapper


if LOG:
    install(STEPS, _wrap)
    import atexit

    atexit.register(log, "exit")
    log("start")
