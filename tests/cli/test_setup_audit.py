"""setup-audit and doctor --audit against moto's CloudTrail, Config, GuardDuty and S3 on the
local test server (issue 18): each part only if asked, one line each, nothing changed by a
dry run or by a part that cannot be set up, a second run changes nothing and says so, and
doctor says ok / warning / wrong with the fix for each."""

from __future__ import annotations

import json
from pathlib import Path

import boto3

from tests.cli.test_s3 import s3_env
from tests.conftest import RunCli


def audit_checks(run_cli: RunCli, url: str, env: dict[str, str]) -> tuple[int, dict[str, dict]]:
    done = run_cli("-r", url, "--json", "doctor", "--audit", env=env)
    found = {}
    for line in done.stdout.splitlines():
        obj = json.loads(line)
        found[obj["item"]] = obj
    return done.code, found


def start_config_recorder() -> None:
    config = boto3.client("config", region_name="us-east-1")
    config.put_configuration_recorder(
        ConfigurationRecorder={
            "name": "default",
            "roleARN": "arn:aws:iam::123456789012:role/config",
            "recordingGroup": {"allSupported": True},
        }
    )
    config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "backups"})
    config.start_configuration_recorder(ConfigurationRecorderName="default")


def test_setup_audit_then_doctor(
    s3_bucket: str, s3_server: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = s3_env(cli_env, s3_server)
    # no repository needed (doctor's first item says there is none): the store's probe that
    # opening one runs would only make the test slower
    url = f"s3://{s3_bucket}/fleet"
    _code, found = audit_checks(run_cli, url, env)
    assert found["cloudtrail data events"]["state"] == "warning"
    assert "setup-audit --trail" in found["cloudtrail data events"]["fix"]
    assert found["config recorder"]["state"] == "warning"
    assert found["config rule: versioning"]["state"] == "warning"
    assert "config rule: Object Lock" not in found  # not used by this repository
    assert found["guardduty s3 protection"]["state"] == "warning"

    nothing = run_cli("-r", url, "setup-audit", env=env)
    assert nothing.code == 2 and "--config-rules" in nothing.stderr
    assert len(nothing.stderr.strip().splitlines()) == 1
    trails = boto3.client("cloudtrail", region_name="us-east-1")
    # no Config recorder: refused before anything is made (the trail asked for too)
    refused = run_cli("-r", url, "setup-audit", "--trail", "write-only", "--config-rules", env=env)
    assert refused.code == 1 and "records nothing in us-east-1" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert trails.describe_trails()["trailList"] == []

    start_config_recorder()
    everything = ("setup-audit", "--trail", "write-only", "--config-rules", "--guardduty")
    planned = run_cli("-r", url, *everything, "--dry-run", env=env)
    assert planned.code == 0, planned.stderr
    lines = planned.stdout.strip().splitlines()
    assert lines[0].startswith("log bucket backups-cloudtrail: would be created")
    assert lines[1].startswith("trail s3vault-backups: would be created")
    assert lines[-1] == "dry run: nothing changed" and len(lines) == 5
    assert trails.describe_trails()["trailList"] == []

    done = run_cli("-r", url, *everything, env=env)
    assert done.code == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 4, lines  # one line a part
    assert "write-only data events" in lines[1] and "logging started" in lines[1]
    selectors = trails.get_event_selectors(TrailName="s3vault-backups")["EventSelectors"]
    data = [s for s in selectors if s["DataResources"]]
    assert data == [
        {
            "ReadWriteType": "WriteOnly",
            "IncludeManagementEvents": False,
            "DataResources": [
                {"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::backups/fleet/"]}
            ],
        }
    ]
    assert trails.get_trail_status(Name="s3vault-backups")["IsLogging"] is True
    s3 = boto3.client("s3", region_name="us-east-1")
    policy = json.loads(s3.get_bucket_policy(Bucket="backups-cloudtrail")["Policy"])
    deny = next(s for s in policy["Statement"] if s["Sid"] == "S3VaultDenyDelete")
    assert deny["Effect"] == "Deny" and "s3:DeleteObjectVersion" in deny["Action"]
    rules = boto3.client("config", region_name="us-east-1").describe_config_rules()["ConfigRules"]
    assert sorted(r["Source"]["SourceIdentifier"] for r in rules) == [
        "S3_BUCKET_LEVEL_PUBLIC_ACCESS_PROHIBITED",
        "S3_BUCKET_LOGGING_ENABLED",
        "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED",
        "S3_BUCKET_SSL_REQUESTS_ONLY",
        "S3_BUCKET_VERSIONING_ENABLED",
    ]
    gd = boto3.client("guardduty", region_name="us-east-1")
    (detector,) = gd.list_detectors()["DetectorIds"]
    assert {"Name": "S3_DATA_EVENTS", "Status": "ENABLED"} in gd.get_detector(DetectorId=detector)[
        "Features"
    ]

    again = run_cli("-r", url, *everything, env=env)
    assert again.code == 0, again.stderr
    lines = again.stdout.strip().splitlines()
    assert all(": unchanged, " in line for line in lines[:-1]), lines
    assert lines[-1] == "nothing to change: everything asked for is in place"

    _code, found = audit_checks(run_cli, url, env)
    assert found["cloudtrail data events"]["state"] == "ok"
    assert (
        "write-only data events of arn:aws:s3:::backups/fleet/"
        in (found["cloudtrail data events"]["detail"])
    )
    assert found["cloudtrail log bucket"]["state"] == "ok"
    assert found["config recorder"]["state"] == "ok"
    assert found["guardduty s3 protection"]["state"] == "ok"
    # moto 5.2.5 keeps Config rules but evaluates nothing (no GetComplianceDetailsByResource)
    rule = found["config rule: TLS-only requests"]
    assert rule["state"] == "warning" and "compliance unavailable" in rule["detail"]

    # a second repository in the same bucket joins the trail; the first stays logged
    other = f"s3://{s3_bucket}/other"
    joined = run_cli("-r", other, "setup-audit", "--trail", "all", env=env)
    assert joined.code == 0, joined.stderr
    selectors = trails.get_event_selectors(TrailName="s3vault-backups")["EventSelectors"]
    logged = {
        v: s["ReadWriteType"] for s in selectors for r in s["DataResources"] for v in r["Values"]
    }
    assert logged == {
        "arn:aws:s3:::backups/fleet/": "WriteOnly",
        "arn:aws:s3:::backups/other/": "All",
    }

    # someone stops the trail and suspends GuardDuty: wrong, with the fix; set up again
    trails.stop_logging(Name="s3vault-backups")
    gd.update_detector(DetectorId=detector, Enable=False)
    _code, found = audit_checks(run_cli, url, env)
    stopped = found["cloudtrail data events"]
    assert stopped["state"] == "wrong" and "not logging" in stopped["detail"]
    assert "start-logging --name s3vault-backups" in stopped["fix"]
    suspended = found["guardduty s3 protection"]
    assert suspended["state"] == "wrong" and "suspended" in suspended["detail"]
    repaired = run_cli("-r", url, "setup-audit", "--trail", "write-only", "--guardduty", env=env)
    assert repaired.code == 0, repaired.stderr
    lines = repaired.stdout.strip().splitlines()
    assert lines[1].startswith("trail s3vault-backups: logging started;"), lines
    assert lines[2].startswith("guardduty in us-east-1: detector enabled;"), lines

    # a trail with advanced event selectors is not rewritten
    trails.put_event_selectors(
        TrailName="s3vault-backups",
        AdvancedEventSelectors=[
            {"FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}
        ],
    )
    refused = run_cli("-r", url, "setup-audit", "--trail", "write-only", env=env)
    assert refused.code == 2 and "advanced event selectors" in refused.stderr
    assert "arn:aws:s3:::backups/fleet/" in refused.stderr


def test_the_object_lock_rule_only_where_it_is_used_and_a_long_bucket_name(
    s3_bucket: str, s3_server: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = s3_env(cli_env, s3_server)
    start_config_recorder()
    boto3.client("s3", region_name="us-east-1").create_bucket(
        Bucket="locked", ObjectLockEnabledForBucket=True
    )
    done = run_cli("-r", "s3://locked/fleet", "--json", "setup-audit", "--config-rules", env=env)
    assert done.code == 0, done.stderr
    (item,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert item["changes"] == ["6 of 6 rules put"] and item["dry_run"] is False
    assert "S3_BUCKET_DEFAULT_LOCK_ENABLED" in item["state"]
    rules = boto3.client("config", region_name="us-east-1").describe_config_rules()["ConfigRules"]
    lock = next(r for r in rules if r["ConfigRuleName"] == "s3vault-locked-object-lock")
    assert lock["Scope"] == {
        "ComplianceResourceTypes": ["AWS::S3::Bucket"],
        "ComplianceResourceId": "locked",
    }

    # a trail keeps the log bucket it was given when a later run names none
    url, named = "s3://locked/fleet", ("--trail", "all", "--trail-bucket", "audit-logs")
    assert run_cli("-r", url, "setup-audit", *named, env=env).code == 0
    again = run_cli("-r", url, "setup-audit", "--trail", "all", env=env)
    assert again.code == 0, again.stderr
    assert again.stdout.startswith("log bucket audit-logs: unchanged"), again.stdout
    assert "nothing to change" in again.stdout
    s3 = boto3.client("s3", region_name="us-east-1")
    assert "locked-cloudtrail" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]

    long = "b" * 60  # its default log bucket, b...b-cloudtrail, would pass S3's 63 characters
    done = run_cli("-r", f"s3://{long}/fleet", "setup-audit", "--trail", "all", env=env)
    assert done.code == 2 and "--trail-bucket" in done.stderr, done.stderr


def test_setup_audit_needs_a_repository_on_aws_s3(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    done = run_cli("-r", str(tmp_path / "repo"), "setup-audit", "--guardduty", env=cli_env)
    assert done.code == 2 and "needs an s3:// repository" in done.stderr
    minio = ("--s3-endpoint", "https://minio.example:9000")
    for args in (("setup-audit", "--guardduty"), ("doctor", "--audit")):
        done = run_cli("-r", "s3://backups/fleet", *minio, *args, env=cli_env)
        assert done.code == 2 and "is not AWS's" in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
