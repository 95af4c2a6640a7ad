"""Simulated time for tests of the real CLI against the moto S3 servers: instead of sleeping,
a test moves one offset that the store's clock (moto's object times, Object Lock checks and
Date header, all in this process) and the host clock of every CLI process started afterwards
(``s3vault.clock.SystemClock``, the one place s3vault reads wall time; set in the processes
the fork server forks, tests/cliserver.py) both follow. Store and host stay in step, as two
real clocks do while time passes.

Without the fork server (``S3VAULT_TEST_FRESH_PROCESS=1``) the console script cannot be told
the offset: ``advance`` then sleeps for real, and the test runs in real time.

A repository in a local directory has the file system's clock as its store clock, and more:
the deletion record holds the store's time of each mark inside its (encrypted) content, and
moving file times back made a repository that no real history produces (a prune then lost the
marks of the one before, seen in test_prune's mid-delete crash point). ``age_directory``
therefore lets the time pass for real: a wait costs no CPU, only wall time.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from pathlib import Path

from s3vault.clock import SystemClock


@dataclass
class StoreClockOffset:
    """Seconds added to the moto servers' clock of this process (0 outside time travel)."""

    seconds: float = 0.0


MOTO = StoreClockOffset()
_installed = False


def install_moto_clock() -> None:
    """Make moto's S3 object times, Object Lock checks and Date header follow ``MOTO``."""
    global _installed  # noqa: PLW0603 - patched once per process
    if _installed:
        return
    from moto.core import responses as core_responses
    from moto.s3 import models as s3_models

    real = s3_models.utcnow

    def utcnow() -> datetime.datetime:
        return real() + datetime.timedelta(seconds=MOTO.seconds)

    s3_models.utcnow = utcnow  # type: ignore[assignment]
    core_responses.utcnow = utcnow  # type: ignore[assignment]
    _installed = True


def moto_date_time_string(timestamp: float | None = None) -> str:
    """The HTTP Date header of a response, by the moto clock."""
    from email.utils import formatdate

    when = SystemClock().now().timestamp() + MOTO.seconds if timestamp is None else timestamp
    return formatdate(when, usegmt=True)


class TimeTravel:
    """One test's simulated time (see the module docstring)."""

    def __init__(self, *, simulated: bool) -> None:
        self.simulated = simulated
        self.offset = 0.0

    def now(self) -> float:
        """Now by the simulated clocks (seconds since the epoch)."""
        return SystemClock().now().timestamp() + self.offset

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass for the store and for the CLI processes started after."""
        if seconds <= 0:
            return
        if not self.simulated:
            time.sleep(seconds)
            return
        self.offset += seconds
        MOTO.seconds = self.offset

    def close(self) -> None:
        """Back to the real time (the moto servers outlive the test)."""
        MOTO.seconds = 0.0


def age_directory(root: Path | str, seconds: float) -> None:
    """Let ``seconds`` pass for the repository at ``root`` on the local file system (for real:
    see the module docstring). Call it only while no command runs on ``root``."""
    del root  # the store's clock is the file system's: nothing to move but time itself
    time.sleep(seconds)
