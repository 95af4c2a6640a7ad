"""The rules that moved out of the CLI into the library: the retention codec, profile merging,
the lease refresh rule, the Object Lock margin, the S3 URL of account administration, and
the metrics' publication, a profile's routine (run) and the severity of exit codes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from s3vault import (
    BackupOptions,
    ForgetOptions,
    KeepDuration,
    MetricsTarget,
    Policy,
    Profile,
    UsageError,
    iam_policy,
    lease_for,
    object_lock_policy,
    publish_metrics,
    routine,
    worst_exit_code,
)


def _profile(values: dict[str, object] | None = None, **tables: dict[str, object]) -> Profile:
    return Profile(name="web", source=Path("/etc/s3vault.toml"), values=values or {}, tables=tables)


def test_policy_from_options_reads_flags_and_profile_tables_alike() -> None:
    flags = Policy.from_options(
        {"keep_last": 3, "keep_within": KeepDuration.parse("7d"), "keep_tags": [("a", "b")]}
    )
    table = Policy.from_options({"keep_last": 3, "keep_within": "7d", "keep_tags": ["a,b"]})
    assert flags == table == Policy(last=3, within=KeepDuration(0, 0, 7, 0), tags=(("a", "b"),))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"keep_daily": True}, "keep_daily: a whole number"),
        ({"keep_within": 7}, 'keep_within: a duration in quotes, such as "7d"'),
        ({"keep_last": -1}, "a negative count"),
    ],
)
def test_policy_from_options_refuses_what_restic_reads_otherwise(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        Policy.from_options(values, source="profile web [retention]")


def test_forget_takes_the_profile_retention_only_without_rules_or_ids() -> None:
    profile = _profile(retention={"keep_daily": 7, "group_by": "host"})
    taken = ForgetOptions().with_profile(profile)
    assert taken.policy == Policy(daily=7) and taken.group_by == ("host",)
    given = ForgetOptions(policy=Policy(last=1))
    assert given.with_profile(profile) is given
    named = ForgetOptions(snapshot_ids=("abcd",))
    assert named.with_profile(profile) is named
    with pytest.raises(UsageError, match="not both"):
        ForgetOptions(policy=Policy(last=1), snapshot_ids=("abcd",)).check()


def test_backup_merges_the_profile() -> None:
    profile = _profile(
        {
            "paths": ["/etc", "/srv"],
            "tags": ["daily,web", "prod"],
            "excludes": ["*.tmp"],
            "exclude_files": ["/etc/s3vault/excludes"],
            "host": "web1",
            "one_file_system": True,
        }
    )
    merged = BackupOptions(tags=("manual", "web"), excludes=("cache",)).with_profile(profile)
    assert merged.paths == ("/etc", "/srv")
    assert merged.tags == ("manual", "web", "daily", "prod")
    assert merged.excludes == ("cache", "*.tmp")
    assert merged.exclude_files == (Path("/etc/s3vault/excludes"),)
    assert (merged.host, merged.one_file_system, merged.exclude_caches) == ("web1", True, False)
    mine = BackupOptions(paths=("/home",), host="db1").with_profile(profile)
    assert (mine.paths, mine.host) == (("/home",), "db1")
    assert BackupOptions(paths=("/x",)).with_profile(None).paths == ("/x",)


def test_the_lease_is_refreshed_every_sixth_of_its_ttl() -> None:
    lease = lease_for(1800.0, wait=60.0)
    assert (lease.ttl, lease.refresh_every, lease.wait) == (1800.0, 300.0, 60.0)
    assert lease.safe_for == 1350.0


def test_object_lock_period_comes_from_the_policy_with_a_quarter_margin() -> None:
    derived = object_lock_policy("governance", Policy(within=KeepDuration(0, 0, 8, 0)))
    assert (derived.mode, derived.period, derived.margin) == ("GOVERNANCE", 8 * 86400, 2 * 86400)
    given = object_lock_policy("compliance", Policy(), timedelta(days=4))
    assert (given.mode, given.period, given.margin) == ("COMPLIANCE", 4 * 86400, 86400)
    with pytest.raises(UsageError):
        object_lock_policy("governance", Policy(last=3))  # nothing about time


def test_iam_policy_needs_an_s3_repository_with_a_bucket() -> None:
    doc = iam_policy("s3://backups/web1", "auditor")
    assert "arn:aws:s3:::backups" in str(doc)
    with pytest.raises(UsageError, match="iam-policy needs an s3:// repository"):
        iam_policy("/srv/repo", "auditor")
    with pytest.raises(UsageError, match="no bucket"):
        iam_policy("s3://", "auditor")


def test_metrics_go_to_the_textfile_and_a_failure_is_reported_not_raised(
    tmp_path: Path,
) -> None:
    path = tmp_path / "metrics" / "s3vault.prom"
    labels = {"command": "backup", "profile": "", "repository": "/srv/repo"}
    problems = publish_metrics(
        MetricsTarget(file=str(path)),
        labels=labels,
        values={"bytes_added": 10.0},
        exit_code=0,
        duration=1.5,
        now=1000.0,
    )
    assert problems == []
    text = path.read_text()
    assert 's3vault_bytes_added{command="backup",host="' in text
    assert "s3vault_last_success_timestamp_seconds" in text
    (tmp_path / "file").write_text("")
    problems = publish_metrics(
        MetricsTarget(file=str(tmp_path / "file" / "m.prom")),
        labels=labels,
        values={},
        exit_code=1,
        duration=0.0,
        now=1000.0,
    )
    assert [item for item, _ in problems] == ["metrics file"]


def test_a_routine_is_backup_then_what_the_profile_asks_for() -> None:
    assert routine.steps(_profile(), "h1") == [["backup"], ["verify"]]
    full = _profile(
        {"host": "web-1"},
        retention={"keep_daily": 7, "prune": True},
        verify={"read_data_subset": "5%"},
        restore_test={"sample": 20, "rto_target": "1h"},
    )
    assert routine.steps(full, "h1") == [
        ["backup"],
        ["forget", "--prune"],
        ["verify", "--read-data-subset", "5%"],
        ["restore-test", "--host", "web-1", "--sample", "20", "--rto-target", "1h"],
    ]
    # the drill restores this host's snapshot when the profile names no host
    drill = routine.steps(_profile(restore_test={"sample_percent": 2.5}), "h1")[-1]
    assert drill == ["restore-test", "--host", "h1", "--sample-percent", "2.5"]
    assert routine.steps(_profile(retention={"keep_last": 1}), "h1")[1] == ["forget"]


def test_the_after_hook_follows_success_and_on_failure_the_rest() -> None:
    hooks = {"before": "b", "after": "a", "on_failure": "f"}
    profile = _profile(hooks=hooks)
    assert routine.before_hook(profile) == routine.Hook("before", "b")
    assert routine.final_hook(profile, 0) == routine.Hook("after", "a")
    assert routine.final_hook(profile, 3) == routine.Hook("after", "a")
    for code in (1, 2, 10, 11, 12, 13, 14, 130):
        assert routine.final_hook(profile, code) == routine.Hook("on_failure", "f")
    assert routine.final_hook(_profile(hooks={"after": "a"}), 13) is None
    assert routine.before_hook(_profile()) is None


def test_the_worst_exit_code_of_several() -> None:
    assert worst_exit_code([]) == 0
    assert worst_exit_code([0, 3, 0]) == 3
    assert worst_exit_code([3, 11, 13]) == 13
    assert worst_exit_code([14, 13]) == 14
    assert worst_exit_code([1, 12, 2]) == 1
    assert worst_exit_code([1, 130]) == 130
    assert worst_exit_code([0, 99]) == 99  # an unknown code counts as fatal
    assert worst_exit_code([99, 130]) == 130


def test_a_failed_backup_ends_the_routine_and_a_partial_one_goes_on() -> None:
    assert routine.goes_on(["backup"], 0) and routine.goes_on(["backup"], 3)
    for code in (1, 2, 10, 11, 12, 13, 14, 130):
        assert not routine.goes_on(["backup"], code)
    assert routine.goes_on(["forget", "--prune"], 11)  # later steps: the worst code is kept
    assert routine.goes_on(["verify"], 13)
    assert not routine.goes_on(["verify"], 130)
