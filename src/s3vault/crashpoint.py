"""Named crash points for the crash-safety tests (design.md §10).

``crash_point(name)`` kills this process with SIGKILL when the environment variable
``S3VAULT_TEST_CRASH_AT`` names it (``name`` or ``name:N`` for its N-th passage), and stops it
with SIGSTOP (a suspended laptop, a paused VM) when ``S3VAULT_TEST_STOP_AT`` does; the test
continues it with SIGCONT. Nothing else reads these variables, and without them the call is
two dictionary lookups.
"""

from __future__ import annotations

import os
import signal
import threading

_ACTIONS = {"S3VAULT_TEST_CRASH_AT": signal.SIGKILL, "S3VAULT_TEST_STOP_AT": signal.SIGSTOP}
_counts: dict[str, int] = {}
_lock = threading.Lock()


def crash_point(name: str) -> None:
    """Die (or stop) here if the test hook asks for it."""
    for env, sig in _ACTIONS.items():
        target = os.environ.get(env)
        if not target:
            continue
        wanted, _, nth = target.partition(":")
        if wanted != name:
            continue
        with _lock:
            key = f"{env}:{name}"
            _counts[key] = _counts.get(key, 0) + 1
            passage = _counts[key]
        if passage == int(nth or 1):
            # to this thread: the process's stop (or end) comes before its next step. Sent
            # to the process, another thread took it, and this one went on through some
            # system calls first (a restore's chown and chmod ran past its stop point)
            signal.pthread_kill(threading.get_ident(), sig)
