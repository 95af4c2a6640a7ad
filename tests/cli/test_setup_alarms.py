"""setup-alarms against moto's CloudWatch and SNS in server mode (issue 18): the alarms are
read back with their metrics, dimensions, thresholds, periods, TreatMissingData and actions;
a second run changes nothing; --dry-run writes nothing; bad input is one line, exit 2, and
no alarm. The metrics they watch are put by real runs (backup, prune) of the same CLI."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import boto3

from tests.cli.test_s3 import s3_env
from tests.conftest import RunCli, write_file

NS = "S3vault/Alarms"
INIT = ("init", "--kdf-cost", "minimum", "--no-recovery-key", "-q")


def alarms_by_scenario(cw: Any) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for page in cw.get_paginator("describe_alarms").paginate():
        for alarm in page["MetricAlarms"]:
            scenario = alarm["AlarmName"].split(" ")[0].removeprefix("s3vault-")
            out.setdefault(scenario, []).append(alarm)
    return out


def dims(alarm: dict[str, Any]) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in alarm["Dimensions"]}


def test_setup_alarms_on_the_metrics_real_runs_put(
    s3_bucket: str, s3_server: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = s3_env(cli_env, s3_server)
    repo = str(tmp_path / "repo")
    ns = ("-r", repo, "--cloudwatch-namespace", NS)
    assert run_cli("-r", repo, *INIT, env=env).code == 0
    write_file(tmp_path / "src" / "a.txt", b"x" * 5000)
    assert run_cli(*ns, "backup", "-q", str(tmp_path / "src"), env=env).code == 0
    assert run_cli(*ns, "prune", "-q", env=env).code == 0
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    # the repository's figures, put a second time under the Repository dimension alone
    by_repo = {
        m["MetricName"]
        for m in cw.list_metrics(Namespace=NS, Dimensions=[{"Name": "Repository", "Value": repo}])[
            "Metrics"
        ]
        if len(m["Dimensions"]) == 1
    }
    assert {"bytes_added", "repository_bytes", "last_prune_timestamp_seconds"} <= by_repo
    topic = boto3.client("sns", region_name="us-east-1").create_topic(Name="ops")["TopicArn"]
    args = (*ns, "setup-alarms", "--sns-topic", topic, "--host", "silent-1")
    done = run_cli(*args, "--max-growth-per-day", "1G", env=env)
    assert done.code == 0, done.stderr
    *lines, summary = done.stdout.splitlines()
    assert len(lines) == 12, done.stdout  # 3 per host (this one, silent-1) + 6 for the repository
    assert all(line.startswith("created ") for line in lines), done.stdout
    assert summary == f"12 alarms notifying {topic}: 12 created"
    alarms = alarms_by_scenario(cw)
    here = socket.gethostname()
    missed = {dims(a)["Host"]: a for a in alarms["backup-missed"]}
    assert set(missed) == {here, "silent-1"}
    for alarm in alarms["backup-missed"]:
        assert dims(alarm) == {
            "Command": "backup",
            "Host": dims(alarm)["Host"],
            "Profile": "-",
            "Repository": repo,
        }
        assert (alarm["MetricName"], alarm["Statistic"], alarm["Period"]) == (
            "success",
            "Maximum",
            3600,
        )
        assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 26
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1.0)
        assert alarm["TreatMissingData"] == "breaching"  # a silent host alarms
        assert alarm["AlarmActions"] == alarm["OKActions"] == [topic]
    (failed,) = [a for a in alarms["backup-failed"] if dims(a)["Host"] == here]
    assert (failed["Statistic"], failed["Threshold"], failed["TreatMissingData"]) == (
        "Minimum",
        1.0,
        "ignore",
    )
    (partial,) = [a for a in alarms["backup-partial"] if dims(a)["Host"] == here]
    assert (
        partial["MetricName"],
        partial["Statistic"],
        partial["ComparisonOperator"],
        partial["Threshold"],
        partial["TreatMissingData"],
    ) == ("partial", "Maximum", "GreaterThanOrEqualToThreshold", 1.0, "ignore")
    expected = {
        "restore-test-failed": ("restore_test_passed", "Minimum", 1.0, "LessThanThreshold", 1),
        "restore-test-slow": (
            "restore_test_projected_rto_seconds",
            "Maximum",
            4 * 3600.0,
            "GreaterThanThreshold",
            1,
        ),
        "verify-damage": ("verify_problems", "Maximum", 0.0, "GreaterThanThreshold", 1),
        "verify-coverage-behind": ("verify_proven_ratio", "Maximum", 1.0, "LessThanThreshold", 2),
        "prune-overdue": (
            "last_prune_timestamp_seconds",
            "SampleCount",
            1.0,
            "LessThanThreshold",
            7 * 24,
        ),
        "repository-growth": ("bytes_added", "Sum", float(1 << 30), "GreaterThanThreshold", 1),
    }
    for scenario, (metric, statistic, threshold, comparison, periods) in expected.items():
        (alarm,) = alarms[scenario]
        assert dims(alarm) == {"Repository": repo}, scenario
        got = (
            alarm["MetricName"],
            alarm["Statistic"],
            alarm["Threshold"],
            alarm["ComparisonOperator"],
            alarm["EvaluationPeriods"],
        )
        assert got == (metric, statistic, threshold, comparison, periods), scenario
        assert alarm["AlarmActions"] == [topic]
    assert alarms["prune-overdue"][0]["TreatMissingData"] == "breaching"
    assert alarms["repository-growth"][0]["Period"] == 86400
    assert alarms["verify-coverage-behind"][0]["Period"] == 86400

    again = run_cli("--json", *args, "--max-growth-per-day", "1G", env=env)
    assert again.code == 0
    objects = [json.loads(line) for line in again.stdout.splitlines()]
    assert len(objects) == 12
    assert {(o["message_type"], o["state"]) for o in objects} == {("alarm", "unchanged")}
    plan = run_cli(*args, "--max-growth-per-day", "1G", "--max-backup-age", "2d", "-n", env=env)
    assert plan.code == 0, plan.stderr
    would = [line for line in plan.stdout.splitlines() if line.startswith("would be updated")]
    assert len(would) == 2 and all("backup-missed" in line for line in would), plan.stdout
    assert "each of 48 periods of 1 h" in would[0]
    assert plan.stdout.splitlines()[-1].endswith(": 10 unchanged, 2 would be updated")
    assert alarms_by_scenario(cw)["backup-missed"][0]["EvaluationPeriods"] == 26  # dry run
    changed = run_cli(*args, "--max-growth-per-day", "1G", "--max-backup-age", "2d", env=env)
    assert changed.code == 0
    assert {a["EvaluationPeriods"] for a in alarms_by_scenario(cw)["backup-missed"]} == {48}


def test_setup_alarms_refuses_bad_input_with_one_line(
    s3_bucket: str, s3_server: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = s3_env(cli_env, s3_server)
    topic = boto3.client("sns", region_name="us-east-1").create_topic(Name="ops")["TopicArn"]
    base = ("-r", str(tmp_path / "repo"), "--cloudwatch-namespace", NS, "setup-alarms")
    for extra, message in (
        (("--sns-topic", "ops"), "is not an SNS topic ARN"),
        (("--sns-topic", topic + "-gone"), "does not exist"),
        (("--sns-topic", topic.replace("us-east-1", "eu-west-1")), "--s3-region eu-west-1"),
        (("--sns-topic", topic, "--max-backup-age", "90min"), "whole number of hours"),
        (("--sns-topic", topic, "--max-prune-age", "8d"), "at most 7 days"),
        (("--sns-topic", topic, "--rto-target", "0"), "--rto-target"),
    ):
        done = run_cli(*base, *extra, env=env)
        assert done.code == 2, (extra, done.stderr)
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, extra
    no_ns = run_cli("-r", str(tmp_path / "repo"), "setup-alarms", "--sns-topic", topic, env=env)
    assert no_ns.code == 2 and "--cloudwatch-namespace" in no_ns.stderr
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    assert cw.describe_alarms()["MetricAlarms"] == []
