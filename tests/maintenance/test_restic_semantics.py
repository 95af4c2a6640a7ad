"""restic 0.14's meaning of the spellings users bring along, as plain cases: durations, the
retention rules' corner cases, tag lists, and the stored policy of older releases. Each case
here was first observed on restic 0.14.0 (test_restic_forget.py checks the policy against the
real binary on generated timelines)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from s3vault.errors import UsageError
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId
from s3vault.maintenance.immutability import lock_period
from s3vault.maintenance.retention import KeepDuration, Policy, apply_policy
from s3vault.tags import flatten, has_tags, matches, split_tags, tag_lists

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def snap(n: int, when: datetime, tags: tuple[str, ...] = ()) -> tuple[ObjectId, SnapshotFile]:
    return (
        ObjectId(n.to_bytes(32, "big")),
        SnapshotFile(time=when, tree=ObjectId(bytes(32)), paths=("/srv",), hostname="h", tags=tags),
    )


def kept(snaps: list[tuple[ObjectId, SnapshotFile]], policy: Policy) -> list[datetime]:
    plan = apply_policy(snaps, policy, NOW, allow_remove_all=True)
    return [d.snapshot.time for d in plan.keep if d.snapshot is not None]


# --- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6m", KeepDuration(months=6)),  # months, as in restic: not minutes
        ("1y2m3d4h", KeepDuration(1, 2, 3, 4)),
        ("36h", KeepDuration(hours=36)),
        (" 7d ", KeepDuration(days=7)),  # restic trims
        ("07d", KeepDuration(days=7)),
        ("0y3d", KeepDuration(days=3)),
    ],
)
def test_restic_durations_are_read_as_restic_reads_them(text: str, expected: KeepDuration) -> None:
    assert KeepDuration.parse(text) == expected
    assert KeepDuration.parse(str(expected)) == expected  # the spelling shown round-trips


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("30min", "no minutes"),  # restic: "no number found"
        ("1w", "a week is 7d"),  # restic: invalid unit
        ("3D", "unknown unit 'D'"),
        ("1.5d", "not a duration"),
        ("7", "not a duration"),
        ("+3d", "not a duration"),
        ("", "empty"),
        ("1h30m", "30m1h"),  # restic reads 30 months and 1 hour: refused, spelling given
        ("2d1y", "1y2d"),  # any order in restic; one spelling here
        ("1d1d", "reads it as 1d"),  # restic: the later one wins
        ("-2d", "negative"),  # restic: keeps nothing
        ("0d", "keeps nothing"),  # restic: the rule is off
        ("99999999999d", "too large"),  # restic panics
        ("\uff11d", "not a duration"),  # a fullwidth digit: restic panics
    ],
)
def test_what_restic_rejects_or_reads_otherwise_is_refused(text: str, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        KeepDuration.parse(text)


@pytest.mark.parametrize(
    ("start", "duration", "expected"),
    [
        # Go's AddDate: February 31 is March 2 (2020 is a leap year)
        (datetime(2020, 3, 31, 10, tzinfo=UTC), KeepDuration(months=1), datetime(2020, 3, 2, 10)),
        (datetime(2021, 3, 31, 10, tzinfo=UTC), KeepDuration(months=1), datetime(2021, 3, 3, 10)),
        (datetime(2020, 2, 29, tzinfo=UTC), KeepDuration(years=1), datetime(2019, 3, 1)),
        (
            datetime(2020, 1, 15, 5, tzinfo=UTC),
            KeepDuration(0, 13, 20, 6),
            datetime(2018, 11, 24, 23),
        ),
    ],
)
def test_durations_count_back_on_the_calendar_as_go_does(
    start: datetime, duration: KeepDuration, expected: datetime
) -> None:
    assert duration.before(start) == expected.replace(tzinfo=UTC)


def test_a_duration_before_year_one_reaches_every_snapshot() -> None:
    assert KeepDuration(years=3000).before(datetime(2020, 1, 1, tzinfo=UTC)) is None


# --- the rules' corner cases -----------------------------------------------------------------


def days(*numbers: int) -> list[tuple[ObjectId, SnapshotFile]]:
    return [snap(d, datetime(2020, 1, d, 10, tzinfo=UTC)) for d in numbers]


def test_keep_within_counts_back_from_the_latest_snapshot_not_from_now() -> None:
    """Backups stopped in 2020: restic still keeps the last 3 days of them (a window counted
    from now would keep nothing and remove everything)."""
    assert kept(days(*range(1, 11)), Policy(within=KeepDuration(days=3))) == [
        datetime(2020, 1, d, 10, tzinfo=UTC) for d in (10, 9, 8)
    ]  # strictly newer: the 7th, exactly 3 days before the 10th, goes


def test_a_snapshot_in_the_future_does_not_move_the_window() -> None:
    future = snap(99, datetime(2099, 1, 1, tzinfo=UTC))
    times = kept([*days(1, 2, 3, 4, 5), future], Policy(within=KeepDuration(days=2)))
    assert times == [datetime(2099, 1, 1, tzinfo=UTC)] + [
        datetime(2020, 1, d, 10, tzinfo=UTC) for d in (5, 4)
    ]
    only_future = [
        snap(1, datetime(2099, 1, 1, tzinfo=UTC)),
        snap(2, datetime(2098, 1, 1, tzinfo=UTC)),
    ]
    assert len(kept(only_future, Policy(within=KeepDuration(days=1)))) == 2


def test_buckets_are_in_each_snapshots_time_zone_and_compared_with_the_last_kept() -> None:
    """restic compares a snapshot's hour with the last kept one's, in the zone each recorded:
    10:30Z, 11:20+01:00 (10:20Z), 10:10Z are three "hours" (10, 11, 10) for --keep-hourly 3."""
    plus1 = timezone(timedelta(hours=1))
    snaps = [
        snap(1, datetime(2020, 1, 1, 10, 30, tzinfo=UTC)),
        snap(2, datetime(2020, 1, 1, 11, 20, tzinfo=plus1)),
        snap(3, datetime(2020, 1, 1, 10, 10, tzinfo=UTC)),
        snap(4, datetime(2020, 1, 1, 9, 10, tzinfo=UTC)),
    ]
    assert [t.hour for t in kept(snaps, Policy(hourly=3))] == [10, 11, 10]
    assert len(kept(snaps, Policy(within_hourly=KeepDuration(days=1)))) == 4


def test_within_rules_keep_one_per_period_without_a_count() -> None:
    hourly = [snap(h, datetime(2020, 1, 1, h, tzinfo=UTC)) for h in range(1, 24)]
    times = kept(hourly, Policy(last=1, within_daily=KeepDuration(days=5)))
    assert times == [datetime(2020, 1, 1, 23, tzinfo=UTC)]  # one day: one snapshot


def test_keep_tag_lists_are_and_within_and_or_between() -> None:
    snaps = [
        snap(1, datetime(2020, 1, 1, tzinfo=UTC), ("a", "b")),
        snap(2, datetime(2020, 1, 2, tzinfo=UTC), ("a",)),
        snap(3, datetime(2020, 1, 3, tzinfo=UTC), ("b",)),
        snap(4, datetime(2020, 1, 4, tzinfo=UTC)),
        snap(5, datetime(2020, 1, 5, tzinfo=UTC), ("a,b",)),  # one tag with a comma (old data)
    ]

    def kept_days(*tags: str) -> list[int]:
        return sorted(t.day for t in kept(snaps, Policy(tags=tags)))

    assert kept_days("a,b") == [1]
    assert kept_days("a", "b") == [1, 2, 3]
    assert kept_days("") == [4]  # --keep-tag '': the untagged
    assert kept_days("a,") == []


def test_group_by_takes_restics_words() -> None:
    snaps = [
        snap(1, datetime(2020, 1, 1, tzinfo=UTC), ("a",)),
        snap(2, datetime(2020, 1, 2, tzinfo=UTC)),
    ]
    for words, groups in [
        (("host", "paths"), 1),
        (("hosts", "path"), 1),
        (("tag",), 2),
        (("",), 1),
        ((), 1),
    ]:
        plan = apply_policy(snaps, Policy(last=1), NOW, group_by=words)
        assert len(plan.keep) == groups, words
    with pytest.raises(UsageError, match="unknown --group-by"):
        apply_policy(snaps, Policy(last=1), NOW, group_by=("hostname",))


def test_negative_counts_are_refused() -> None:
    """restic 0.14 ignores --keep-last -1 (and removes everything if nothing else keeps);
    restic 0.15+ reads it as 'all'."""
    with pytest.raises(UsageError, match="negative"):
        apply_policy(days(1), Policy(last=-1), NOW)
    with pytest.raises(UsageError, match="keeps nothing"):  # built without parse()
        apply_policy(days(1), Policy(within=KeepDuration(days=-2)), NOW)


# --- the stored policy -----------------------------------------------------------------------


def test_policy_round_trips_through_the_config() -> None:
    policy = Policy(
        daily=7,
        within=KeepDuration(months=6),
        within_weekly=KeepDuration(years=1),
        tags=("a,b", "c"),
    )
    stored = policy.to_dict()
    assert stored["within"] == "6m"
    assert stored["tags"] == [["a", "b"], ["c"]]
    assert Policy.from_dict(stored) == policy


def test_a_policy_stored_by_an_older_release_keeps_its_meaning() -> None:
    """Older releases stored within in seconds (a minutes-based duration) and single tags
    (a tag with a comma was one tag): seconds are read as whole hours, rounded up (never
    keeping less), single tags literally."""
    old = {"last": 2, "within": 360.0, "tags": ["release", "a,b"]}
    policy = Policy.from_dict(old)
    assert policy.within == KeepDuration(hours=1)
    assert policy.tags == (("release",), ("a,b",))
    assert Policy.from_dict({"within": 8 * 86400.0 + 1}).within == KeepDuration(days=8, hours=1)
    assert Policy(within=timedelta(days=7)).within == KeepDuration(days=7)


def test_the_object_lock_period_follows_restic_durations() -> None:
    """The lock a new snapshot gets is the longest window its policy keeps it for (a month as
    31 days, a year as 366: never shorter than the calendar)."""
    assert lock_period(Policy(within=KeepDuration(days=2, hours=3))) == timedelta(days=2, hours=3)
    assert lock_period(Policy(daily=3, within_weekly=KeepDuration(months=6))) == timedelta(186)
    assert lock_period(Policy(within_yearly=KeepDuration(years=2))) == timedelta(days=732)


# --- tag lists -------------------------------------------------------------------------------


def test_tag_lists_split_and_match_as_restic() -> None:
    assert split_tags(" a , b ") == ("a", "b")
    assert split_tags("") == ("",)
    assert tag_lists(["a,b", ("c,d",)]) == (("a", "b"), ("c,d",))
    assert flatten(tag_lists(["a,b", "b", "", "c,"])) == ("a", "b", "c")
    assert has_tags(("a", "b"), ("a", "b")) and not has_tags(("a",), ("a", "b"))
    assert has_tags((), ("",)) and not has_tags(("x",), ("",))
    assert matches(("x",), ()) and matches(("b",), (("a",), ("b",)))
