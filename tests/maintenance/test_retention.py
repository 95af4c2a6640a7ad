"""The retention policy is a pure function of (snapshots, policy, now)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.errors import UsageError
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId
from s3vault.maintenance.retention import Policy, apply_policy

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def snap(
    n: int, when: datetime, host: str = "h1", tags: tuple[str, ...] = ()
) -> tuple[ObjectId, SnapshotFile]:
    return (
        ObjectId(n.to_bytes(32, "big")),
        SnapshotFile(
            time=when, tree=ObjectId(bytes(32)), paths=("/srv",), hostname=host, tags=tags
        ),
    )


def hourly_for(days: int, host: str = "h1") -> list[tuple[ObjectId, SnapshotFile]]:
    return [snap(i, NOW - timedelta(hours=i), host) for i in range(days * 24)]


def test_daily_weekly_monthly_keep_the_newest_of_each_period() -> None:
    snaps = hourly_for(70)
    plan = apply_policy(snaps, Policy(daily=7, weekly=4, monthly=3), NOW)
    kept = sorted((d.snapshot.time for d in plan.keep), reverse=True)
    days = {t.date() for t in kept}
    assert len([d for d in plan.keep if any("daily" in r for r in d.reasons)]) == 7
    assert NOW.date() in days  # the newest snapshot of today
    assert all(
        d.snapshot.time == max(s.time for _, s in snaps if s.time.date() == d.snapshot.time.date())
        for d in plan.keep
        if any("daily" in r for r in d.reasons)
    )
    assert len(plan.keep) <= 7 + 4 + 3
    assert len(plan.keep) + len(plan.remove) == len(snaps)


def test_keep_within_and_tags() -> None:
    snaps = [*hourly_for(3), snap(999, NOW - timedelta(days=30), tags=("release",))]
    plan = apply_policy(snaps, Policy(within=timedelta(hours=5), tags=("release",)), NOW)
    kept = {d.id for d in plan.keep}
    assert len(kept) == 7  # hours 0..5 inclusive, and the tagged one
    assert ObjectId((999).to_bytes(32, "big")) in kept


def test_groups_are_decided_separately() -> None:
    snaps = hourly_for(1, "a") + [snap(1000 + i, NOW - timedelta(hours=i), "b") for i in range(5)]
    plan = apply_policy(snaps, Policy(last=2), NOW)
    assert sorted(d.snapshot.hostname for d in plan.keep) == ["a", "a", "b", "b"]


def test_a_policy_removing_a_whole_group_is_refused() -> None:
    snaps = [snap(1, NOW - timedelta(days=400))]
    with pytest.raises(UsageError, match="remove all 1 snapshot"):  # a typo: restic #4568
        apply_policy(snaps, Policy(tags=("relase",)), NOW)
    plan = apply_policy(snaps, Policy(tags=("relase",)), NOW, allow_remove_all=True)
    assert len(plan.remove) == 1
    with pytest.raises(UsageError, match="no --keep"):
        apply_policy(snaps, Policy(), NOW)


@given(
    ages=st.lists(st.integers(min_value=0, max_value=400 * 24), min_size=1, max_size=60),
    last=st.integers(0, 5),
    daily=st.integers(0, 10),
    weekly=st.integers(0, 6),
    monthly=st.integers(0, 13),
)
def test_policy_properties(
    ages: list[int], last: int, daily: int, weekly: int, monthly: int
) -> None:
    snaps = [snap(i, NOW - timedelta(hours=h)) for i, h in enumerate(ages)]
    policy = Policy(last=last or 1, daily=daily, weekly=weekly, monthly=monthly)
    plan = apply_policy(snaps, policy, NOW)
    assert {d.id for d in plan.decisions} == {sid for sid, _ in snaps}  # a partition
    assert all(bool(d.reasons) == d.keep for d in plan.decisions)
    newest = max(snaps, key=lambda s: (s[1].time, s[0]))[0]
    assert newest in {d.id for d in plan.keep}  # the newest always survives
    assert apply_policy(snaps, policy, NOW).decisions == plan.decisions  # pure
    assert len(plan.keep) <= (last or 1) + daily + weekly + monthly
