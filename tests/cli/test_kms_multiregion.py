"""KMS escrow with a multi-region key (issue 18): key add --kms-key-id takes the primary key
(mrk-...); a copy of the repository (its key files included, as S3 Replication copies them)
opens in the DR region with that region's replica while the primary's region is gone.

moto stops short of this on its own: its Decrypt fails for any multi-region key (a 36-byte
key id field in its ciphertext), which tests/motokms.py widens for the moto servers of the
test session. moto enforces neither key policies nor key states, so the primary's region
going down is simulated by removing the primary key from moto's us-east-1 backend."""

from __future__ import annotations

import shutil
from pathlib import Path

import boto3

from s3vault.cloud.kms import local_replica
from tests.cli.test_kms import kms_env, without_password
from tests.conftest import RunCli, write_file


def test_the_dr_regions_replica_opens_the_copy(
    s3_bucket: str, s3_server: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = kms_env(cli_env, s3_server)
    kms = boto3.client("kms", region_name="us-east-1")
    primary = kms.create_key(MultiRegion=True, Description="s3vault escrow")["KeyMetadata"]
    assert primary["KeyId"].startswith("mrk-")
    replica = kms.replicate_key(KeyId=primary["KeyId"], ReplicaRegion="us-west-2")
    assert local_replica(primary["Arn"], "us-west-2") == replica["ReplicaKeyMetadata"]["Arn"]

    url = str(tmp_path / "repo")
    init = ("init", "--kdf-cost", "minimum", "--no-recovery-key")
    assert run_cli("-r", url, *init, env=env).code == 0
    src = tmp_path / "src"
    write_file(src / "a.txt", b"escrowed\n" * 50)
    assert run_cli("-r", url, "backup", str(src), env=env).code == 0
    added = run_cli("-r", url, "key", "add", "--kms-key-id", primary["Arn"], env=env)
    assert added.code == 0, added.stderr
    assert f"checked: KMS key {primary['Arn']} opens it" in added.stdout

    copy = tmp_path / "dr-copy"
    shutil.copytree(url, copy)
    from moto.kms.models import kms_backends

    kms_backends[primary["AWSAccountId"]]["us-east-1"].keys.pop(primary["KeyId"])
    dr_host = {**without_password(env), "AWS_DEFAULT_REGION": "us-west-2"}
    opened = run_cli("-r", str(copy), "--kms", "snapshots", env=dr_host)
    assert opened.code == 0, opened.stderr
    # a host of the primary's region has no replica to turn to
    home = without_password(env)
    refused = run_cli("-r", str(copy), "--kms", "snapshots", env=home)
    assert refused.code == 12, refused.stderr
    assert primary["Arn"] in refused.stderr


def test_the_replica_is_named_only_for_a_multi_region_key_of_another_region() -> None:
    mrk = "arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"
    assert local_replica(mrk, "eu-west-1") == mrk.replace("us-east-1", "eu-west-1")
    assert local_replica(mrk, "us-east-1") is None
    assert local_replica(mrk, None) is None
    single = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert local_replica(single, "eu-west-1") is None
    assert local_replica("mrk-1234abcd12ab34cd56ef1234567890ab", "eu-west-1") is None
