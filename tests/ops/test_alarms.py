"""The alarm plan of setup-alarms (cloud/alarms.py) without a server: names stay within
CloudWatch's 255 characters and unique for hosts and repositories with long or odd names;
ages outside what CloudWatch evaluates are refused."""

from __future__ import annotations

import pytest

from s3vault.cloud.alarms import AlarmSettings, check_age, plan_alarms
from s3vault.errors import UsageError


def settings(**changes: object) -> AlarmSettings:
    base: dict[str, object] = {
        "namespace": "NS",
        "repository": "s3://bucket/fleet",
        "sns_topic": "arn:aws:sns:us-east-1:123456789012:ops",
        "hosts": (("web1", "-"),),
        "max_backup_age": 26 * 3600,
        "max_prune_age": 7 * 86400,
        "rto_target": 4 * 3600,
    }
    return AlarmSettings(**{**base, **changes})  # type: ignore[arg-type]


def test_alarm_names_stay_unique_and_within_cloudwatch_limits() -> None:
    long_repo = "s3://bucket/" + "deep/" * 60 + "repo"
    hosts = (("h" * 200 + "1", "web"), ("h" * 200 + "2", "web"), ("ünïcode host", "-"))
    alarms = plan_alarms(settings(repository=long_repo, hosts=hosts, max_growth_per_day=1))
    names = [a.name for a in alarms]
    assert len(names) == len(set(names)) == 3 * 3 + 6
    assert all(len(n) <= 255 for n in names)
    assert all(dict(a.dimensions)["Repository"] == long_repo for a in alarms)  # never cut


def test_growth_alarm_only_with_a_projection() -> None:
    scenarios = [a.scenario for a in plan_alarms(settings())]
    assert "repository-growth" not in scenarios
    assert scenarios.count("backup-missed") == 1 and "prune-overdue" in scenarios


@pytest.mark.parametrize("seconds", [0, 1800, 5400, 7 * 86400 + 3600])
def test_ages_cloudwatch_cannot_evaluate_are_refused(seconds: int) -> None:
    with pytest.raises(UsageError, match="whole number of hours from 1h to 7d"):
        check_age(seconds, "--max-backup-age")


def test_the_longest_age_is_seven_days_of_hourly_periods() -> None:
    (missed,) = [a for a in plan_alarms(settings(max_backup_age=7 * 86400)) if "missed" in a.name]
    assert (missed.period, missed.evaluation_periods) == (3600, 168)
    assert missed.request("NS", "arn")["DatapointsToAlarm"] == 168
