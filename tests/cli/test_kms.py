"""KMS escrow through the real CLI against moto's KMS on the local test server (issue 6): a
KMS key file opens the repository without any password (--kms, or automatically when no
password source exists), a key in another region than the host's works (the region comes
from the ARN, as for a multi-region replica), and a host that cannot reach KMS gets a clear
one-line error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3

from s3vault.cloud.kms import region_of
from tests.conftest import RunCli, write_file
from tests.s3server import free_port


def kms_env(cli_env: dict[str, str], endpoint: str) -> dict[str, str]:
    env = {
        **cli_env,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
    if "AWS_CA_BUNDLE" in os.environ:
        env["AWS_CA_BUNDLE"] = os.environ["AWS_CA_BUNDLE"]
    return env


def without_password(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != "S3VAULT_PASSWORD"}


def test_kms_key_file_opens_without_a_password(
    s3_bucket: str, s3_server: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = kms_env(cli_env, s3_server)
    kms = boto3.client("kms", region_name="us-east-1")
    arn = kms.create_key(Description="s3vault escrow")["KeyMetadata"]["Arn"]
    url = f"s3://{s3_bucket}/h1"
    init = ("init", "--kdf-cost", "minimum", "--no-recovery-key")
    assert run_cli("-r", url, *init, env=env).code == 0
    added = run_cli("-r", url, "key", "add", "--kms-key-id", arn, "--label", "escrow", env=env)
    assert added.code == 0, added.stderr
    assert "KMS key" in added.stdout and "opens it" in added.stdout
    listed = run_cli("-r", url, "--json", "key", "list", env=env)
    kinds = {k["kind"]: k for k in json.loads(listed.stdout)}
    assert kinds["kms"]["kms_key_id"] == arn and kinds["kms"]["usable"] is True

    src = tmp_path / "src"
    write_file(src / "a.txt", b"hello\n" * 100)
    bare = without_password(env)
    backed = run_cli("-r", url, "--kms", "backup", str(src), env=bare)
    assert backed.code == 0, backed.stderr
    # no password source and no terminal: the KMS key file is tried on its own
    listed = run_cli("-r", url, "--json", "key", "list", env=bare)
    assert listed.code == 0, listed.stderr
    current = [k for k in json.loads(listed.stdout) if k["current"]]
    assert [k["kind"] for k in current] == ["kms"]
    # the password key file can go: KMS alone keeps the repository open
    password_key = next(k["id"] for k in json.loads(listed.stdout) if k["kind"] == "password")
    assert run_cli("-r", url, "key", "remove", password_key, env=bare).code == 0
    target = tmp_path / "t"
    restored = run_cli("-r", url, "restore", "latest", "-t", str(target), env=bare)
    assert restored.code == 0, restored.stderr
    assert (target / src.relative_to("/") / "a.txt").read_bytes() == b"hello\n" * 100

    # a host that cannot reach KMS (moto does not enforce key states or policies)
    closed = f"https://127.0.0.1:{free_port()}"
    refused = run_cli("-r", url, "snapshots", env={**bare, "AWS_ENDPOINT_URL_KMS": closed})
    assert refused.code == 12, refused.stderr
    assert "KMS opened none" in refused.stderr and arn in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_key_in_another_region_and_missing_kms_key_file(
    s3_bucket: str, s3_server: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = kms_env(cli_env, s3_server)
    # the region taken from the ARN (a replica's ARN names the replica's region), with a key
    # in another region than the host's (multi-region keys: tests/cli/test_kms_multiregion.py)
    kms = boto3.client("kms", region_name="eu-central-1")
    primary = kms.create_key()["KeyMetadata"]
    assert ":eu-central-1:" in primary["Arn"]
    env["AWS_DEFAULT_REGION"] = "us-west-2"
    url = str(tmp_path / "repo")
    init = ("init", "--kdf-cost", "minimum", "--no-recovery-key")
    assert run_cli("-r", url, *init, env=env).code == 0
    bare = without_password(env)
    missing = run_cli("-r", url, "snapshots", env=bare)
    assert missing.code == 12
    assert "no KMS key file" in missing.stderr and "--password-file" in missing.stderr
    added = run_cli("-r", url, "key", "add", "--kms-key-id", primary["Arn"], env=env)
    assert added.code == 0, added.stderr
    opened = run_cli("-r", url, "--kms", "snapshots", env=bare)
    assert opened.code == 0, opened.stderr


def test_the_region_comes_from_the_key_arn() -> None:
    replica = "arn:aws:kms:ap-southeast-2:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"
    assert region_of(replica) == "ap-southeast-2"
    assert region_of("arn:aws:kms:us-east-1:111122223333:alias/backup") == "us-east-1"
    assert region_of("1234abcd-12ab-34cd-56ef-1234567890ab") is None
    assert region_of("alias/backup") is None
