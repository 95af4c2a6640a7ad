"""A stage log of a process's memory, installed by bench/rss_breakdown.py --stages.

Copied as ``sitecustomize`` into a directory on PYTHONPATH, so it loads at interpreter start
before anything else; it does nothing unless ``S3VAULT_RSS_STAGES`` names a log file. It then
appends one line per event: ``pid seconds event VmRSS VmHWM`` (MiB), where an event is

- ``import NAME``: a top-level package, or a package of s3vault's two levels down, is about
  to be imported (Python's ``import`` audit event), logged when VmRSS grew by 1 MiB or more
  since the last line;
- ``> NAME`` / ``< NAME``: a step of a backup starts / ends (the functions in ``STEPS``, wrapped
  as their module is imported; forked workers log too);
- ``exit``: the interpreter's end (workers: the end of ``worker_main``).
"""

from __future__ import annotations

import functools
import os
import sys
import time
from typing import Any

from stephooks import append_line, install

LOG = os.environ.get("S3VAULT_RSS_STAGES")
T0 = time.monotonic()  # system-wide: forked workers share it
STEPS: dict[str, tuple[str, ...]] = {
    "s3vault.crypto.kdf": ("derive_kek",),
    "s3vault.ops.session": ("open_repository",),
    "s3vault.repository.repository": ("Repository.open", "Repository.read_index"),
    "s3vault.ops.backup": ("backup", "_parent", "_load_index"),
    "s3vault.archiver.parallel": ("ParallelArchiver.run", "ParallelArchiver._fork"),
    "s3vault.archiver.pipeline": ("Archiver.run",),
    "s3vault.archiver.commit": ("commit",),
    "s3vault.archiver.workerproc": ("worker_main",),
    "s3vault.repository.writer": ("BlobWriter.flush",),
}
_last = [0]


def _mem() -> tuple[int, int]:
    rss = hwm = 0
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


def log(event: str, force: bool = True) -> None:
    rss, hwm = _mem()
    if not force and rss - _last[0] < 1024:
        return
    _last[0] = rss
    at = time.monotonic() - T0
    line = f"{os.getpid():>7} {at:7.3f} {event:44} {rss / 1024:6.1f} {hwm / 1024:6.1f}\n"
    assert LOG is not None
    append_line(LOG, line)


def _wrap(name: str, fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        log(f"> {name}")
        try:
            return fn(*args, **kwargs)
        finally:
            log(f"< {name}")

    return wrapper


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "import":
        return
    name = args[0]
    parts = name.split(".")
    if name in sys.modules or (len(parts) > 1 and not (parts[0] == "s3vault" and len(parts) <= 3)):
        return
    log(f"import {name}", force=False)


if LOG:
    install(STEPS, _wrap)
    sys.addaudithook(_audit)
    import atexit

    atexit.register(log, "exit")
    log("start")
