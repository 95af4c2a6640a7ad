"""The claim-object lease for stores without atomic create-only writes or If-Match (Swift):
one holder at a time, takeover only when stale, holders that stop in time, unlock."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3vault.backend.base import Guarantees
from s3vault.errors import LeaseHeldError, LeaseLostError
from s3vault.ops.prune import prune
from s3vault.ops.unlock import unlock
from s3vault.repository.claims import CLAIMS, ClaimLease
from s3vault.repository.lease import LeaseSettings, lease_class
from tests.maintenance.harness import World

SETTINGS = LeaseSettings(ttl=1800, refresh_every=300, settle=0.05)
NOT_ATOMIC = Guarantees(atomic_create=False, compare_and_swap=False)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path, guarantees=NOT_ATOMIC)


def claims(world: World) -> list[str]:
    return sorted(i.name for i in world.backend.list(CLAIMS))


def test_stores_without_atomic_writes_get_the_claim_lease(world: World) -> None:
    assert lease_class(world.open()) is ClaimLease
    assert lease_class(World(world.tmp / "other").open()).__name__ == "Lease"
    world.write("a")
    world.backup()
    result = prune(world.open(), lease=SETTINGS, clock=world.clock)
    assert "claim objects" in result.protocol
    assert claims(world) == []  # released


def test_a_second_holder_is_refused_with_exit_code_11_naming_the_first(world: World) -> None:
    first = ClaimLease.acquire(
        world.open(), "prune", SETTINGS, clock=world.clock, sleep=world.advance
    )
    with pytest.raises(LeaseHeldError, match=r"prune by .* \(pid \d+\)") as info:
        ClaimLease.acquire(world.open(), "prune", SETTINGS, clock=world.clock, sleep=world.advance)
    assert info.value.exit_code == 11
    assert len(claims(world)) == 1  # the loser withdrew its claim
    first.release()
    assert claims(world) == []
    ClaimLease.acquire(
        world.open(), "prune", SETTINGS, clock=world.clock, sleep=world.advance
    ).release()


def test_two_contenders_in_the_same_second_have_exactly_one_winner(world: World) -> None:
    """B claims while A waits to look (the same store second, so only the random holder
    orders them): whichever is first in the listing wins, the other withdraws."""
    outcome: dict[str, object] = {}

    def a_sleeps(seconds: float) -> None:
        if "b" not in outcome:  # B arrives during A's first settle, same T
            try:
                outcome["b"] = ClaimLease.acquire(
                    world.open(), "prune", SETTINGS, clock=world.clock, sleep=world.advance
                )
            except LeaseHeldError as exc:
                outcome["b"] = exc
        world.advance(seconds)

    try:
        outcome["a"] = ClaimLease.acquire(
            world.open(), "prune", SETTINGS, clock=world.clock, sleep=a_sleeps
        )
    except LeaseHeldError as exc:
        outcome["a"] = exc
    winners = [k for k, v in outcome.items() if isinstance(v, ClaimLease)]
    assert len(winners) == 1, outcome
    assert len(claims(world)) == 1


def test_a_stale_claim_is_passed_over_and_its_holder_never_comes_back(world: World) -> None:
    old = ClaimLease.acquire(
        world.open(), "prune", SETTINGS, clock=world.clock, sleep=world.advance
    )
    world.advance(SETTINGS.ttl + 1)  # suspended: no refresh for a whole TTL
    new = ClaimLease.acquire(
        world.open(), "prune", SETTINGS, clock=world.clock, sleep=world.advance
    )
    with pytest.raises(LeaseLostError):
        old.check()
    with pytest.raises(LeaseLostError):
        old.refresh()  # it must not revive its claim: it would be first in the order again
    new.refresh()
    new.check()
    old.release()  # must not remove the new holder's claim
    assert len(claims(world)) == 1
    new.release()
    assert claims(world) == []


def test_refresh_replaces_the_claim_and_a_removed_claim_means_lost(world: World) -> None:
    lease = ClaimLease.acquire(
        world.open(), "prune", SETTINGS, clock=world.clock, sleep=world.advance
    )
    (before,) = claims(world)
    world.advance(SETTINGS.refresh_every)
    lease.refresh()
    (after,) = claims(world)
    assert after != before and after.split(".")[0] == before.split(".")[0]  # same place in line
    assert unlock(world.open(), remove_all=True).removed
    with pytest.raises(LeaseLostError, match="removed"):
        lease.refresh()


def test_unlock_removes_only_stale_claims(world: World) -> None:
    held = ClaimLease.acquire(
        world.open(), "prune", SETTINGS, clock=world.clock, sleep=world.advance
    )
    r = unlock(world.open())
    assert r.found and "prune by" in r.found and not r.removed
    world.advance(SETTINGS.ttl + 1)
    assert unlock(world.open()).removed
    assert claims(world) == []
    del held
