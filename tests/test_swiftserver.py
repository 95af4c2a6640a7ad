"""The Swift fixture's readiness probe (tests/swiftserver.py): a daemon that died at start is
said at once, so the fixture starts the four again on fresh ports instead of waiting 90 s."""

from __future__ import annotations

import subprocess
import sys

from tests.s3server import free_port
from tests.swiftserver import _wait_serving


def test_a_daemon_that_died_at_start_is_named_at_once() -> None:
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])
    dead.wait()
    why = _wait_serving(f"https://127.0.0.1:{free_port()}", [dead])  # nothing listens there
    assert why == f"{sys.executable} died"  # else: "not serving after 90 s"
