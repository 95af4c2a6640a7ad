"""The library says when it waits (issue 17): the retry backend before each backoff and the
maintenance lease while another holder has it send ``waiting`` events (what, until when),
on simulated time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from s3vault.backend.memory import MemoryBackend
from s3vault.backend.retry import RetryBackend
from s3vault.errors import BackendUnavailableError, TransientBackendError
from s3vault.progress import NullProgress
from s3vault.repository.lease import Lease, LeaseSettings
from tests.backend.test_retry import SimulatedTime
from tests.maintenance.harness import World

WALL = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)


class Recorder(NullProgress):
    """Keeps the waiting events."""

    def __init__(self) -> None:
        self.waits: list[tuple[str, datetime]] = []

    def waiting(self, what: str, *, until: datetime) -> None:
        self.waits.append((what, until))


class Down(MemoryBackend):
    """A store that fails transiently ``fails`` times."""

    fails = 3

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if self.fails:
            self.fails -= 1
            raise TransientBackendError("503 Slow Down")
        return super().get(name, offset, length)


def test_retry_backend_says_what_it_waits_for_and_until_when() -> None:
    time, heard = SimulatedTime(), Recorder()
    inner = Down()
    inner.put("config", b"x")
    backend = RetryBackend(
        inner,
        deadline=300.0,
        sleep=time.sleep,
        monotonic=time.monotonic,
        progress=heard,
        now=lambda: WALL + timedelta(seconds=time.now),
    )
    assert backend.get("config") == b"x"
    assert len(heard.waits) == 3  # one before each backoff
    what, until = heard.waits[0]
    assert what.startswith("get config to succeed (attempt 1 failed: ")
    assert "503 Slow Down" in what
    assert until == WALL + timedelta(seconds=300)  # the call's deadline
    assert heard.waits[-1][1] == WALL + timedelta(seconds=300)  # the same deadline, later


def test_retry_backend_that_gives_up_said_it_was_waiting() -> None:
    time, heard = SimulatedTime(), Recorder()
    inner = Down()
    inner.fails = 10_000
    backend = RetryBackend(
        inner, deadline=30.0, sleep=time.sleep, monotonic=time.monotonic, progress=heard
    )
    with pytest.raises(BackendUnavailableError):
        backend.get("config")
    assert heard.waits
    assert all(w[0].startswith("get config to succeed") for w in heard.waits)


def test_lease_wait_says_who_holds_it_and_until_when(tmp_path: Path) -> None:
    world = World(tmp_path)
    settings = LeaseSettings(ttl=1800, refresh_every=300)
    held = Lease.acquire(world.open(), "prune", settings, clock=world.clock)
    heard = Recorder()
    start = world.clock.now()
    waiting = LeaseSettings(ttl=1800, refresh_every=300, wait=7200)
    got = Lease.acquire(
        world.open(), "prune", waiting, clock=world.clock, sleep=world.advance, progress=heard
    )
    assert heard.waits, "the wait was silent"
    what, until = heard.waits[0]
    assert what.startswith("the maintenance lease (prune by ")
    assert until == start + timedelta(seconds=7200)
    assert len({w for w, _ in heard.waits}) == 1  # the holder is asked once
    got.release()
    held.release()
