"""Named crash points for the crash-safety tests (design.md §10).

``crash_point(name)`` kills this process with SIGKILL when the environment variable
``S3VAULT_TEST_CRASH_AT`` names it (``name`` or ``name:N`` for its N-th passage). Nothing else
reads that variable, and without it the call is a dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import threading

_ENV = "S3VAULT_TEST_CRASH_AT"
_counts: dict[str, int] = {}
_lock = threading.Lock()


def crash_point(name: str) -> None:
    """Die here if the test hook asks for it."""
    target = os.environ.get(_ENV)
    if not target:
        return
    wanted, _, nth = target.partition(":")
    if wanted != name:
        return
    with _lock:
        _counts[name] = _counts.get(name, 0) + 1
        passage = _counts[name]
    if passage >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
