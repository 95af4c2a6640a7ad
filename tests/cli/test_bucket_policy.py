"""setup-bucket's bucket policy and doctor's posture checks against the moto server (issue 18):
the policy is merged into the bucket's own (foreign statements kept, ours replaced by Sid), its
diff shown, nothing written on --dry-run; doctor reports each statement, MFA delete, the KMS
key's rotation and policy, the VPC endpoint's policy and the replicas' key, with the fix.

Where moto stops (moto 5.2.5): it evaluates a bucket policy's Deny statements on object
requests (GET, PUT, DELETE, DeleteObjects) but ignores their Principal and Condition, so a
policy with the TLS statement denies every object request on moto, even over https, and the
deny-delete statement denies the maintenance role too. The tests that use the repository after
setup-bucket therefore use --no-bucket-policy, doctor runs with --bucket-only once a policy is
on, and the enforcement test below shows what moto can tell: the delete statement's Action and
Resource (a user whose IAM policy allows s3:* cannot delete under the repository's prefix but
can elsewhere, and can still read)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import botocore.exceptions
import pytest

from s3vault.cloud.bucketpolicy import PolicyPlan, statements
from tests.cli.test_s3 import s3_env
from tests.conftest import RunCli

MAINT = "arn:aws:iam::123456789012:role/s3vault-maintenance"
URL = "s3://backups/hosts/web1"
FOREIGN = {
    "Sid": "AuditAccountReads",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::backups/*",
}


@pytest.fixture
def env(s3_bucket: str, s3_server: str, cli_env: dict[str, str]) -> dict[str, str]:
    return s3_env(cli_env, s3_server)


def doctor(run_cli: RunCli, env: dict[str, str], *args: str) -> tuple[int, dict[str, dict]]:
    done = run_cli("-r", URL, "--json", "doctor", "--bucket-only", *args, env=env)
    assert done.code in (0, 13), done.stderr
    return done.code, {c["item"]: c for c in map(json.loads, done.stdout.splitlines())}


def policy() -> dict:
    s3 = boto3.client("s3", region_name="us-east-1")
    return json.loads(s3.get_bucket_policy(Bucket="backups")["Policy"])


def test_setup_bucket_merges_the_policy_shows_the_diff_and_dry_runs(
    env: dict[str, str], run_cli: RunCli
) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    mine = {"Version": "2012-10-17", "Statement": [FOREIGN]}
    s3.put_bucket_policy(Bucket="backups", Policy=json.dumps(mine))

    dry = run_cli("-r", URL, "setup-bucket", "--maintenance-role", MAINT, "--dry-run", env=env)
    assert dry.code == 0, dry.stderr
    assert "would apply: versioning" in dry.stdout
    assert "would update the bucket policy" in dry.stdout
    assert '+      "Sid": "S3vaultDenyDeleteHostsWeb1",' in dry.stdout.splitlines()
    assert "dry run: bucket backups was not changed" in dry.stdout
    assert policy() == mine
    assert "Status" not in s3.get_bucket_versioning(Bucket="backups")

    done = run_cli("-r", URL, "setup-bucket", "--maintenance-role", MAINT, env=env)
    assert done.code == 0, done.stderr
    assert "bucket policy: 6 statements" in done.stdout
    written = policy()
    assert written["Statement"][0] == FOREIGN
    assert [s["Sid"] for s in written["Statement"][1:]] == [
        "S3vaultDenyInsecureTransport",
        "S3vaultDenyOldTls",
        "S3vaultDenyDeleteHostsWeb1",
        "S3vaultDenyOtherEncryptionHostsWeb1",
        "S3vaultDenySseCHostsWeb1",
    ]
    again = run_cli("-r", URL, "--json", "setup-bucket", "--maintenance-role", MAINT, env=env)
    summary = json.loads(again.stdout)
    assert "bucket policy unchanged" in summary["done"] and summary["policy_diff"] == []

    code, found = doctor(run_cli, env, "--maintenance-role", MAINT)
    assert code == 0, found
    for item in ("TLS only", "deletes", "encryption"):
        assert found[f"bucket policy: {item}"]["state"] == "ok", found
    assert found["bucket policy: deletes"]["detail"] == f"denied except to {MAINT}"
    mfa = found["MFA delete"]
    assert mfa["state"] == "warning" and "root user" in mfa["fix"] and "MFADelete" in mfa["fix"]
    assert "repository" not in found  # --bucket-only

    # a maintenance role the policy does not exempt: its prune would be denied
    other = "arn:aws:iam::123456789012:role/other-maintenance"
    code, found = doctor(run_cli, env, "--maintenance-role", other)
    assert code == 13 and found["bucket policy: deletes"]["state"] == "wrong"
    assert "prune will fail" in found["bucket policy: deletes"]["detail"]

    # someone removes the TLS statement by hand
    written["Statement"] = [s for s in written["Statement"] if "Transport" not in s["Sid"]]
    s3.put_bucket_policy(Bucket="backups", Policy=json.dumps(written))
    code, found = doctor(run_cli, env)
    assert found["bucket policy: TLS only"]["state"] == "warning"
    assert found["bucket policy: TLS only"]["fix"] == "s3vault setup-bucket"


def test_setup_bucket_refuses_bad_posture_input_and_writes_nothing(
    env: dict[str, str], run_cli: RunCli
) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    for args, words in (
        (("--maintenance-role", "s3vault-maintenance"), "--maintenance-role"),
        # a session's ARN: aws:PrincipalArn is the role's, so prune would be denied
        (
            ("--maintenance-role", "arn:aws:sts::123456789012:assumed-role/maint/host1"),
            "arn:aws:iam::ACCOUNT:role/NAME",
        ),
        (("--source-vpce", "vpc-12345678"), "--source-vpce"),
        (("--source-vpc", "vpce-12345678"), "--source-vpc"),
        (("--replica-kms-key", "arn:aws:kms:eu-west-1:1:key/x"), "--replicate-to"),
    ):
        done = run_cli("-r", URL, "setup-bucket", *args, env=env)
        assert done.code == 2, (args, done.stderr)
        assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    # a KMS key KMS does not know: refused before anything is written (exit 1)
    done = run_cli(
        "-r", URL, "setup-bucket", "--sse-kms", "alias/nope", "--maintenance-role", MAINT, env=env
    )
    assert done.code == 1 and "KMS key alias/nope" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    with pytest.raises(botocore.exceptions.ClientError):
        s3.get_bucket_policy(Bucket="backups")
    assert "Status" not in s3.get_bucket_versioning(Bucket="backups")
    done = run_cli("-r", URL, "doctor", "--maintenance-role", "nope", env=env)
    assert done.code == 2 and "--maintenance-role" in done.stderr
    done = run_cli("-r", "/tmp/not-s3", "doctor", "--bucket-only", env=env)
    assert done.code == 2 and "s3://" in done.stderr


def test_the_policy_is_written_when_a_role_is_named_or_asked_for(
    env: dict[str, str], run_cli: RunCli, tmp_path: Path
) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    done = run_cli("-r", URL, "setup-bucket", env=env)
    assert "bucket policy not written: name the maintenance role" in done.stdout
    done = run_cli(
        "-r", URL, "setup-bucket", "--maintenance-role", MAINT, "--no-bucket-policy", env=env
    )
    assert done.code == 0, done.stderr
    with pytest.raises(botocore.exceptions.ClientError):
        s3.get_bucket_policy(Bucket="backups")
    done = run_cli("-r", URL, "setup-bucket", "--bucket-policy", env=env)
    assert done.code == 0, done.stderr
    assert "(deletes not restricted: no --maintenance-role)" in done.stdout
    assert not any("Delete" in s["Sid"] for s in policy()["Statement"])
    # the maintenance role from the profile: [profiles.NAME.bucket] maintenance_roles
    config = tmp_path / "config.toml"
    config.write_text(
        f'[profiles.web]\nrepository = "{URL}"\n[profiles.web.bucket]\n'
        f'maintenance_roles = ["{MAINT}"]\n'
    )
    done = run_cli("--config", str(config), "-P", "web", "setup-bucket", env=env)
    assert done.code == 0, done.stderr
    (delete,) = [s for s in policy()["Statement"] if "Delete" in s["Sid"]]
    assert delete["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": [MAINT]}}
    done = run_cli(
        "--config", str(config), "-P", "web", "--json", "doctor", "--bucket-only", env=env
    )
    found = {c["item"]: c for c in map(json.loads, done.stdout.splitlines())}
    assert found["bucket policy: deletes"]["state"] == "ok", found


def test_moto_denies_a_user_allowed_s3_star_a_delete_under_the_prefix(
    env: dict[str, str],
) -> None:
    """moto evaluates the delete statement's Action and Resource (not its Principal or
    Condition: see the module docstring); the user's own IAM policy allows everything."""
    s3 = boto3.client("s3", region_name="us-east-1")
    for key in ("hosts/web1/data/00/pack", "elsewhere/file"):
        s3.put_object(Bucket="backups", Key=key, Body=b"x")
    plan = PolicyPlan(bucket="backups", prefix="hosts/web1", maintenance_roles=(MAINT,))
    (delete,) = [s for s in statements(plan) if s["Sid"].startswith("S3vaultDenyDelete")]
    document = {"Version": "2012-10-17", "Statement": [delete]}
    s3.put_bucket_policy(Bucket="backups", Policy=json.dumps(document))
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="backup-host")
    allow = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    iam.put_user_policy(
        UserName="backup-host",
        PolicyName="everything",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow]}),
    )
    key = iam.create_access_key(UserName="backup-host")["AccessKey"]
    host = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    from moto.core.authorization import enable_iam_authentication

    with enable_iam_authentication():
        assert host.get_object(Bucket="backups", Key="hosts/web1/data/00/pack")["Body"].read()
        with pytest.raises(botocore.exceptions.ClientError) as denied:
            host.delete_object(Bucket="backups", Key="hosts/web1/data/00/pack")
        assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        batch = host.delete_objects(
            Bucket="backups", Delete={"Objects": [{"Key": "hosts/web1/data/00/pack"}]}
        )
        assert [e["Code"] for e in batch["Errors"]] == ["AccessDenied"]
        host.delete_object(Bucket="backups", Key="elsewhere/file")  # outside the prefix
    assert s3.head_object(Bucket="backups", Key="hosts/web1/data/00/pack")


def test_doctor_checks_the_kms_key_rotation_and_policy(
    env: dict[str, str], run_cli: RunCli
) -> None:
    kms = boto3.client("kms", region_name="us-east-1")
    meta = kms.create_key(Description="repository")["KeyMetadata"]
    done = run_cli(
        "-r", URL, "setup-bucket", "--sse-kms", meta["KeyId"], "--maintenance-role", MAINT, env=env
    )
    assert done.code == 0, done.stderr
    (other_key,) = [s for s in policy()["Statement"] if s["Sid"].startswith("S3vaultDenyOtherKms")]
    key_condition = other_key["Condition"]["StringNotEquals"]
    assert key_condition == {"s3:x-amz-server-side-encryption-aws-kms-key-id": meta["Arn"]}
    args = ("--maintenance-role", MAINT)
    _, found = doctor(run_cli, env, *args)
    rotation = found["KMS key rotation"]
    assert rotation["state"] == "warning" and "enable-key-rotation" in rotation["fix"], found
    assert found["KMS key policy"]["state"] == "ok", found  # moto's default: the account root
    assert found["bucket policy: encryption"]["state"] == "ok", found


def test_doctor_reports_a_policy_it_may_not_read_and_goes_on(
    env: dict[str, str], run_cli: RunCli
) -> None:
    """An auditor's role without s3:GetBucketPolicy (moto enforcing IAM): one warning naming
    the permission, every other item still checked."""
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="auditor")
    statements_ = [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:GetBucketPolicy", "Resource": "*"},
    ]
    iam.put_user_policy(
        UserName="auditor",
        PolicyName="read",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements_}),
    )
    key = iam.create_access_key(UserName="auditor")["AccessKey"]
    auditor = {
        **env,
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }
    from moto.core.authorization import enable_iam_authentication

    with enable_iam_authentication():
        code, found = doctor(run_cli, auditor)
    assert found["bucket policy"]["state"] == "warning", found
    assert found["bucket policy"]["fix"] == "allow s3:GetBucketPolicy to doctor"
    assert found["versioning"]["state"] == "wrong" and code == 13  # the bare bucket's


def test_doctor_checks_the_vpc_endpoint_and_the_network_statement(
    env: dict[str, str], run_cli: RunCli
) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName="com.amazonaws.us-east-1.s3", VpcEndpointType="Gateway"
    )["VpcEndpoint"]["VpcEndpointId"]
    role = "arn:aws:iam::123456789012:role/replication"
    done = run_cli(
        "-r",
        URL,
        "setup-bucket",
        "--maintenance-role",
        MAINT,
        "--source-vpce",
        endpoint,
        "--replicate-to",
        "backups",  # any bucket: only the exemption of its role is looked at here
        "--replication-role",
        role,
        env=env,
    )
    assert done.code == 0, done.stderr
    (outside,) = [s for s in policy()["Statement"] if s["Sid"].startswith("S3vaultDenyOutside")]
    assert outside["Condition"] == {
        "StringNotEquals": {"aws:SourceVpce": [endpoint]},
        "ArnNotLike": {"aws:PrincipalArn": [role]},
    }
    _, found = doctor(run_cli, env, "--maintenance-role", MAINT, "--source-vpce", endpoint)
    assert found["bucket policy: network"]["state"] == "ok", found
    assert found["bucket policy: deletes"]["state"] == "ok", found  # the VPC deny aside
    item = f"VPC endpoint {endpoint}"
    assert found[item]["state"] == "warning" and "any bucket" in found[item]["detail"], found
    missing = "vpce-0123456789abcdef0"
    _, found = doctor(run_cli, env, "--source-vpce", missing)
    assert found[f"VPC endpoint {missing}"]["state"] == "wrong", found
    assert found["bucket policy: network"]["state"] == "wrong", found  # names another endpoint


def test_doctor_checks_the_replicas_kms_key_region(env: dict[str, str], run_cli: RunCli) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(
        Bucket="backups-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    s3.put_bucket_versioning(Bucket="backups-eu", VersioningConfiguration={"Status": "Enabled"})
    kms = boto3.client("kms", region_name="us-east-1")
    key = kms.create_key(Description="repository")["KeyMetadata"]["Arn"]
    role = "arn:aws:iam::123456789012:role/replication"
    base = ("-r", URL, "setup-bucket", "--sse-kms", key, "--maintenance-role", MAINT)
    replicate = ("--replicate-to", "backups-eu", "--replication-role", role)
    assert run_cli(*base, *replicate, env=env).code == 0
    code, found = doctor(run_cli, env)
    replica = found["replica key (backups-eu)"]
    assert code == 13 and replica["state"] == "wrong", found
    assert "replica stays empty" in replica["detail"] and "--replica-kms-key" in replica["fix"]
    done = run_cli(*base, *replicate, "--replica-kms-key", key, env=env)
    assert done.code == 0, done.stderr
    assert f"(replicas under {key})" in done.stdout
    # moto keeps the destination's key but drops SourceSelectionCriteria from
    # GetBucketReplication; the rule itself is checked in tests/cloud/test_posture.py
    (rule,) = s3.get_bucket_replication(Bucket="backups")["ReplicationConfiguration"]["Rules"]
    assert rule["Destination"]["EncryptionConfiguration"] == {"ReplicaKmsKeyID": key}
