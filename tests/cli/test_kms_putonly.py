"""A put-only key opened through KMS, end to end through the real CLI against moto's S3 and
KMS (design.md §6a): `key add --put-only --kms-key-id`, a password-less host backs up with
`--kms` (incrementally), every read command it tries exits 12, a full key restores."""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3

from tests.cli.test_kms import kms_env, without_password
from tests.conftest import RunCli, write_file

# every read command refuses in one place (keyring.find_kms_key; tests/cli/test_key_putonly.py
# runs them all with a password): a few here, through KMS
READS = [("snapshots",), ("restore", "latest", "--target", "out"), ("dump", "latest", "/x")]


def test_a_kms_put_only_host_backs_up_and_cannot_read(
    s3_bucket: str, s3_server: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = kms_env(cli_env, s3_server)
    arn = boto3.client("kms", region_name="us-east-1").create_key(Description="web-01")[
        "KeyMetadata"
    ]["Arn"]
    repo = ("-r", f"s3://{s3_bucket}/fleet")
    init = ("init", "--kdf-cost", "minimum", "--no-recovery-key")
    assert run_cli(*repo, *init, env=env).code == 0
    add = ("key", "add", "--put-only", "--host", "web-01", "--kms-key-id", arn)
    refused = run_cli(*repo, *add, env=env)  # format version 1: the switch is asked for
    assert refused.code != 0 and "--switch-format" in refused.stderr
    added = run_cli(*repo, *add, "--switch-format", env=env)
    assert added.code == 0, added.stderr
    keys = json.loads(run_cli(*repo, "--json", "key", "list", env=env).stdout)
    assert sorted((k["kind"], k["access"]) for k in keys) == [
        ("kms", "put-only"),
        ("password", "full"),
    ]
    host = without_password(env)
    src = tmp_path / "src"
    write_file(src / "a.bin", os.urandom(120_000))
    backup = (*repo, "--kms", "--json", "backup", str(src), "--host", "web-01")
    first = run_cli(*backup, env=host)
    assert first.code == 0, first.stderr
    second = run_cli(*backup, env=host)
    assert second.code == 0, second.stderr
    summary = json.loads(second.stdout.splitlines()[-1])
    assert (summary["files_unmodified"], summary["data_blobs"]) == (1, 0)
    unattended = run_cli(*repo, "backup", str(src), "--host", "web-01", env=host)
    assert unattended.code == 0, unattended.stderr  # no password source: KMS on its own
    for args in READS:
        done = run_cli(*repo, "--kms", *args, env=host)
        assert done.code == 12, (args, done.code, done.stderr)
        assert "full key" in done.stderr, (args, done.stderr)
    out = tmp_path / "restored"
    done = run_cli(*repo, "restore", "latest", "--host", "web-01", "-t", str(out), env=env)
    assert done.code == 0, done.stderr
    assert (out / str(src).lstrip("/") / "a.bin").read_bytes() == (src / "a.bin").read_bytes()


def test_a_bad_kms_key_id_for_a_put_only_key_is_one_clear_line(
    s3_bucket: str, s3_server: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = kms_env(cli_env, s3_server)
    repo = ("-r", f"s3://{s3_bucket}/fleet")
    assert run_cli(*repo, "init", "--kdf-cost", "minimum", "--no-recovery-key", env=env).code == 0
    add = ("key", "add", "--put-only", "--host", "web-01", "--switch-format")
    for arn in ("not-an-arn", ""):
        done = run_cli(*repo, *add, "--kms-key-id", arn, env=env)
        assert done.code != 0
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    keys = json.loads(run_cli(*repo, "--json", "key", "list", env=env).stdout)
    assert [k["access"] for k in keys] == ["full"]  # nothing added
