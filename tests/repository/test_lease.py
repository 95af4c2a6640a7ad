"""The maintenance lease: one holder, takeover only when stale, holders that stop in time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from s3vault.errors import LeaseHeldError, LeaseLostError
from s3vault.ops.unlock import unlock
from s3vault.repository.lease import LEASE_NAME, Lease, LeaseSettings
from tests.maintenance.harness import World

SETTINGS = LeaseSettings(ttl=1800, refresh_every=300)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_a_second_holder_is_refused_with_exit_code_11_naming_the_first(world: World) -> None:
    first = Lease.acquire(world.open(), "prune", SETTINGS, clock=world.clock)
    with pytest.raises(LeaseHeldError, match=r"prune by .* \(pid \d+\)") as info:
        Lease.acquire(world.open(), "prune", SETTINGS, clock=world.clock)
    assert info.value.exit_code == 11
    first.release()
    Lease.acquire(world.open(), "prune", SETTINGS, clock=world.clock).release()


def test_a_stale_lease_is_taken_over_and_its_old_holder_stops(world: World) -> None:
    old = Lease.acquire(world.open(), "prune", SETTINGS, clock=world.clock)
    world.advance(SETTINGS.ttl + 1)  # the holder was suspended: no refresh for a whole TTL
    new = Lease.acquire(world.open(), "prune", SETTINGS, clock=world.clock)
    with pytest.raises(LeaseLostError):
        old.check()  # its own clock says it is too late to act
    with pytest.raises(LeaseLostError):
        old.refresh()  # and the compare-and-swap says someone else holds it
    new.refresh()
    new.check()
    old.release()  # must not remove the new holder's lease
    assert world.backend.stat(LEASE_NAME)
    new.release()


def test_a_holder_that_cannot_refresh_in_time_stops_before_the_lease_could_be_taken(
    world: World,
) -> None:
    lease = Lease.acquire(world.open(), "prune", SETTINGS, clock=world.clock)
    world.advance(SETTINGS.safe_for - 1)
    lease.check()
    world.advance(2)
    with pytest.raises(LeaseLostError, match="stopped before changing anything"):
        lease.check()
    # still nobody else could have taken it: it is not stale yet by the store's clock
    with pytest.raises(LeaseHeldError):
        Lease.acquire(world.open(), "prune", SETTINGS, clock=world.clock)


def test_waiting_for_the_lease_with_retry_lock(world: World) -> None:
    held = Lease.acquire(world.open(), "prune", SETTINGS, clock=world.clock)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        world.advance(seconds)

    waiting = LeaseSettings(ttl=1800, refresh_every=300, wait=7200)
    got = Lease.acquire(world.open(), "prune", waiting, clock=world.clock, sleep=sleep)
    assert sum(waits) > SETTINGS.ttl  # it waited until the holder's lease went stale
    assert got.waited == pytest.approx(sum(waits))
    got.release()
    held.release()


def test_a_dead_holder_on_the_same_host_is_replaced_at_once(world: World) -> None:
    lease = Lease.acquire(world.open(), "prune", SETTINGS, clock=world.clock)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    pid = int(dead.stdout)
    import dataclasses

    record = dataclasses.replace(lease._record, pid=pid)
    repo = world.open()
    from s3vault.format.envelope import SealedKind

    world.backend.replace_for_test(
        LEASE_NAME, repo.sealer.seal_file(SealedKind.LOCK, record.encode())
    )
    Lease.acquire(world.open(), "prune", SETTINGS, clock=world.clock).release()


def test_unlock_removes_only_stale_leases(world: World) -> None:
    held = Lease.acquire(world.open(), "prune", SETTINGS, clock=world.clock)
    r = unlock(world.open())
    assert r.found and not r.removed
    world.advance(SETTINGS.ttl + 1)
    assert unlock(world.open()).removed
    assert list(world.backend.list("locks/")) == []
    held2 = Lease.acquire(world.open(), "prune", SETTINGS, clock=world.clock)
    assert unlock(world.open(), remove_all=True).removed
    del held, held2
    assert timedelta(seconds=SETTINGS.safe_for) == timedelta(minutes=22.5)


def test_a_holder_killed_but_not_yet_reaped_is_gone_for_the_lease_and_unlock(
    world: World,
) -> None:
    """A zombie (killed, its parent has not reaped it yet) holds nothing: the lease is taken
    over at once and unlock removes it (both were refused until the parent reaped it)."""
    lease = Lease.acquire(world.open(), "prune", SETTINGS, clock=world.clock)
    zombie = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        zombie.kill()
        stat, deadline = Path(f"/proc/{zombie.pid}/stat"), time.monotonic() + 30
        while stat.read_bytes().rsplit(b")", 1)[1][1:2] != b"Z":  # dead, not reaped
            assert time.monotonic() < deadline
        import dataclasses

        from s3vault.format.envelope import SealedKind

        record = dataclasses.replace(lease._record, pid=zombie.pid)
        repo = world.open()
        seal = repo.sealer.seal_file(SealedKind.LOCK, record.encode())
        world.backend.replace_for_test(LEASE_NAME, seal)
        assert unlock(world.open()).removed  # its holder is gone
        world.backend.replace_for_test(LEASE_NAME, seal)
        Lease.acquire(world.open(), "prune", SETTINGS, clock=world.clock).release()
    finally:
        zombie.wait()


def test_a_number_no_process_id_can_be_is_no_live_process() -> None:
    """A forged lease's (or a scratch directory's) 2^31 made os.kill raise OverflowError:
    an internal error. It is no live process; this one is."""
    from s3vault.repository.lease import pid_alive

    for pid in (0, -1, 1 << 31, 10**20):
        assert not pid_alive(pid), pid
    assert pid_alive(os.getpid())
