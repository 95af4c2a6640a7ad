"""Commands that write and then delete, on a store that refuses deletes (a bucket policy with a
Deny on s3:DeleteObject, which the moto server enforces): each says what it wrote and what it
could not remove, with the command that finishes the job, and the repository stays whole (an
attack pass, 2026-12-07: `key passwd` said "this credential may not write here" after it had
written the new key file, and both passwords then opened the repository without a word)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3

from tests.cli.test_s3 import s3_env
from tests.conftest import RunCli, write_file

URL = "s3://backups/refused"


def _deny_deletes(on: bool, *, config_too: bool = False) -> None:
    """A Deny on every delete below the repository (and on writing its config)."""
    s3 = boto3.client("s3", region_name="us-east-1")
    if not on:
        s3.delete_bucket_policy(Bucket="backups")
        return
    deny = [
        {
            "Sid": "NoDeletes",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:DeleteObject",
            "Resource": "arn:aws:s3:::backups/refused/*",
        }
    ]
    if config_too:
        deny.append(
            {
                "Sid": "NoConfig",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": "arn:aws:s3:::backups/refused/config",
            }
        )
    s3.put_bucket_policy(
        Bucket="backups", Policy=json.dumps({"Version": "2012-10-17", "Statement": deny})
    )


def test_key_passwd_and_tag_say_what_they_wrote_when_the_delete_is_refused(
    tmp_path: Path,
    s3_bucket: str,
    s3_server: str,
    cli_env: dict[str, str],
    run_cli: RunCli,
) -> None:
    env = s3_env(cli_env, s3_server)
    src = write_file(tmp_path / "src" / "f", os.urandom(10_000)).parent
    assert run_cli("-r", URL, "init", "--kdf-cost", "minimum", env=env).code == 0
    assert run_cli("-r", URL, "backup", str(src), env=env).code == 0
    other = write_file(tmp_path / "other" / "g", os.urandom(10_000)).parent
    assert run_cli("-r", URL, "backup", str(other), env=env).code == 0
    before = [
        k["id"] for k in json.loads(run_cli("-r", URL, "key", "list", "--json", env=env).stdout)
    ]
    _deny_deletes(True)
    try:
        new_env = {**env, "S3VAULT_NEW_PASSWORD": "second"}
        passwd = run_cli("-r", URL, "key", "passwd", "--kdf-cost", "minimum", env=new_env)
        assert passwd.code == 1, passwd.stderr
        said = passwd.stderr.strip().splitlines()[-1]
        assert (
            "key passwd: the new key file " in said
            and " is stored and opens the repository" in said
        ), said
        assert "the old password opens it too until `s3vault key remove " in said, said
        assert "runs, with the new password and a credential that may delete" in said, said
        assert "may not write here" not in said.split("was not removed:")[0], said
        tag = run_cli("-r", URL, "tag", "--add", "q", env=env)  # both snapshots
        assert tag.code == 1, tag.stderr
        said = tag.stderr.strip().splitlines()[-1]
        assert said.startswith("Fatal: tag: snapshot ") and " is stored, but " in said, said
        assert "(nor 1 more original(s) after it)" in said, said
        old = said.split("`s3vault forget ", 1)[1].split("`", 1)[0].split()
        assert len(old) == 2, said  # every original the tag left, not only the first
    finally:
        _deny_deletes(False)
    second = {**env, "S3VAULT_PASSWORD": "second"}
    assert run_cli("-r", URL, "snapshots", env=second).code == 0  # the new password opens it
    current = json.loads(run_cli("-r", URL, "key", "list", "--json", env=second).stdout)
    stale = [k["id"] for k in current if k["id"] in before and k["kind"] == "password"]
    assert len(stale) == 1
    assert run_cli("-r", URL, "key", "remove", stale[0][:8], env=second).code == 0
    assert run_cli("-r", URL, "forget", *old, env=second).code == 0
    listed = run_cli("-r", URL, "snapshots", "--json", env=second)
    assert [s["tags"] for s in json.loads(listed.stdout)] == [["q"], ["q"]]
    assert run_cli("-r", URL, "verify", "--read-data", env=second).code == 0


def test_an_init_refused_its_config_and_the_delete_says_which_key_file_stayed(
    s3_bucket: str, s3_server: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """init writes its key file first: when the config is refused and so is the delete that
    would take the key file back, it said only the config's refusal, and the key file stayed
    without a word."""
    env = s3_env(cli_env, s3_server)
    _deny_deletes(True, config_too=True)
    try:
        failed = run_cli("-r", URL, "init", "--kdf-cost", "minimum", env=env)
    finally:
        _deny_deletes(False)
    assert failed.code == 1, failed.stderr
    said = failed.stderr.strip().splitlines()[-1]
    stayed = boto3.client("s3", region_name="us-east-1").list_objects_v2(
        Bucket="backups", Prefix="refused/"
    )
    names = [o["Key"] for o in stayed.get("Contents", [])]
    keys = [n for n in names if n.startswith("refused/keys/")]
    assert len(keys) == 1 and "refused/config" not in names, names  # (and the probe's, said)
    assert (
        f"the key file {keys[0].removeprefix('refused/')} it wrote first could not be removed"
        in said
    ), said
    assert "config" in said.split("; the key file")[0], said
    again = run_cli("-r", URL, "init", "--kdf-cost", "minimum", env=env)  # the store takes it
    assert again.code == 0, again.stderr
    assert run_cli("-r", URL, "verify", env=env).code == 0
