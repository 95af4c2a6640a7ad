"""The put-only host's and the restore role's policies (``s3vault iam-policy --role put-only``,
``--role restore``) proven under the IAM-enforcing moto server (tests/iamserver.py): the host
backs up incrementally with its put-only key and may write nothing but backups; the restore
role restores what it wrote and may write nothing but its audit records. One repository for
the module, set up by the maintenance role with a full key."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from s3vault import iam_policy
from tests.cliserver import CliServer, run_s3vault
from tests.cloud.test_iam_documented import allowed
from tests.conftest import PASSWORD, RunCli, write_file
from tests.iamserver import IamServer, base_env, moto_names

BUCKET = "iam-put-only"
URL = f"s3://{BUCKET}/fleet"
DENIED = "access denied"
HOST_PASSWORD = "web-01 host secret"


@dataclass
class Fleet:
    server: IamServer
    source: Path
    envs: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def fleet(
    iam_server: IamServer, cli_server: CliServer | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("iam-put-only")
    iam_server.bucket(BUCKET)
    envs = {
        role: {
            **base_env(tmp / f"cache-{role}", HOST_PASSWORD if role == "put-only" else PASSWORD),
            **iam_server.user(f"putonly-{role}", moto_names(iam_policy(URL, role))),
        }
        for role in ("maintenance", "put-only", "restore")
    }
    source = tmp / "src"
    write_file(source / "etc" / "hosts", b"127.0.0.1 localhost\n")
    write_file(source / "srv" / "data.bin", os.urandom(50_000))
    pw = write_file(tmp / "host-pw", f"{HOST_PASSWORD}\n".encode())
    add = ("key", "add", "--put-only", "--host", "web-01", "--switch-format")
    for args in (
        ("init", "--kdf-cost", "minimum", "--pack-size", "4", "--no-recovery-key"),
        ("backup", str(source / "etc")),  # a full key's index file: an endorsed view
        (*add, "--kdf-cost", "minimum", "--new-password-file", str(pw)),
    ):
        done = run_s3vault(cli_server, ["-r", URL, *args], env=envs["maintenance"])
        assert done.returncode == 0, done.stderr.decode()
    yield Fleet(iam_server, source, envs)


def _summary(stdout: str) -> dict[str, Any]:
    line: dict[str, Any] = json.loads(stdout.splitlines()[-1])
    return line


def test_the_put_only_host_backs_up_and_writes_nothing_else(run_cli: RunCli, fleet: Fleet) -> None:
    env = fleet.envs["put-only"]
    backup = ("-r", URL, "--json", "backup", str(fleet.source), "--host", "web-01")
    first = run_cli(*backup, env=env)
    assert first.code == 0, first.stderr
    assert first.stderr == ""  # state, views, audit record: nothing denied
    second = run_cli(*backup, env=env)
    assert second.code == 0, second.stderr
    assert _summary(second.stdout)["files_unmodified"] == 2
    assert run_cli("-r", URL, "snapshots", env=env).code == 12  # the key, before IAM
    s3 = fleet.server.client("s3", env)
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="fleet/snapshots/")["Contents"]
    for attempt in (
        lambda: s3.delete_object(Bucket=BUCKET, Key=listed[0]["Key"]),
        lambda: s3.put_object(Bucket=BUCKET, Key="fleet/config", Body=b"x"),
        lambda: s3.put_object(Bucket=BUCKET, Key="fleet/keys/" + "0" * 64, Body=b"x"),
        lambda: s3.put_object(Bucket=BUCKET, Key="fleet/locks/maintenance", Body=b"x"),
        lambda: s3.put_object(Bucket=BUCKET, Key="fleet/deletions/" + "0" * 64, Body=b"x"),
        lambda: s3.get_object(Bucket=BUCKET, Key="fleet/ledger/x"),
    ):
        with pytest.raises(Exception, match=r"AccessDenied|403|Forbidden"):
            attempt()


def test_the_restore_role_restores_the_hosts_backup_and_writes_nothing_else(
    run_cli: RunCli, fleet: Fleet, tmp_path: Path
) -> None:
    host = fleet.envs["put-only"]
    backup = ("-r", URL, "backup", str(fleet.source), "--host", "web-01")
    assert run_cli(*backup, env=host).code == 0
    env = fleet.envs["restore"]
    done = run_cli("-r", URL, "restore", "latest", "--host", "web-01", "-t", str(tmp_path), env=env)
    assert done.code == 0, done.stderr
    restored = tmp_path / str(fleet.source).lstrip("/") / "srv" / "data.bin"
    assert restored.read_bytes() == (fleet.source / "srv" / "data.bin").read_bytes()
    s3 = fleet.server.client("s3", env)
    for attempt in (
        lambda: s3.put_object(Bucket=BUCKET, Key="fleet/snapshots/" + "0" * 64, Body=b"x"),
        lambda: s3.put_object(Bucket=BUCKET, Key="fleet/data/00/" + "0" * 64, Body=b"x"),
        lambda: s3.delete_object(Bucket=BUCKET, Key="fleet/config"),
    ):
        with pytest.raises(Exception, match=r"AccessDenied|403|Forbidden"):
            attempt()
    done = run_cli("-r", URL, "forget", "latest", env=env)
    assert done.code == 1 and DENIED in done.stderr


def test_the_host_needs_get_on_what_it_writes(run_cli: RunCli, fleet: Fleet) -> None:
    """Why the put-only policy allows s3:GetObject on the kinds it writes: S3 authorises the
    HEAD that checks each write with it; without it the first write fails."""
    policy = iam_policy(URL, "put-only")
    for st in policy["Statement"]:
        if st["Sid"] == "WriteBackups":
            st["Action"] = [a for a in st["Action"] if a != "s3:GetObject"]
    env = {**fleet.envs["put-only"], **fleet.server.user("putonly-no-head", moto_names(policy))}
    write_file(fleet.source / "srv" / "new.bin", os.urandom(10_000))
    done = run_cli("-r", URL, "backup", str(fleet.source), "--host", "web-01", env=env)
    assert done.code != 0 and DENIED in done.stderr, (done.code, done.stderr)


def test_with_object_lock_the_host_may_lengthen_locks_never_bypass_them() -> None:
    """``iam-policy --role put-only --object-lock``: the host sets the retain-until of what it
    stores (AWS asks s3:PutObjectRetention of a PUT carrying one) and extends the locks of the
    packs its snapshot needs, the config and the key files; it may not overwrite the config or
    a key file, bypass governance (so it cannot shorten a lock) or delete a version. Checked
    on the printed document: moto 5.2.5 authorises PUT ?retention as s3:PutObject and lets any
    caller shorten a governance lock, so its IAM enforcement cannot prove these
    (docs/immutability.md)."""
    base = "arn:aws:s3:::" + BUCKET + "/fleet/"
    locked = iam_policy(URL, "put-only", object_lock=True)
    plain = iam_policy(URL, "put-only")
    for name in ("data/ab/x", "tree/ab/x", "index/x", "snapshots/x", "state/t/x", "audit/t/x"):
        for action in ("s3:PutObject", "s3:PutObjectRetention", "s3:GetObjectRetention"):
            assert allowed(locked, action, base + name, CREATE), (action, name)
        assert not allowed(plain, "s3:PutObjectRetention", base + name), name
    for name in ("config", "keys/x"):
        assert allowed(locked, "s3:PutObjectRetention", base + name), name
        assert not allowed(locked, "s3:PutObject", base + name), name
    for name in ("locks/maintenance", "deletions/x", "ledger/x", "drills/x", "views/x"):
        assert not allowed(locked, "s3:PutObjectRetention", base + name), name
    for action in ("s3:BypassGovernanceRetention", "s3:DeleteObjectVersion", "s3:DeleteObject"):
        assert not allowed(locked, action, base + "data/ab/x"), action


# The condition keys of a request that creates an object with If-None-Match: * (PutObject,
# CompleteMultipartUpload), of one that would overwrite (the same without the header), and of
# a multipart upload's start and parts (not creation operations; they carry no such header)
CREATE = {"s3:if-none-match": "*", "s3:ObjectCreationOperation": "true"}
OVERWRITE = {"s3:ObjectCreationOperation": "true"}
UPLOAD_PART = {"s3:ObjectCreationOperation": "false"}


@pytest.mark.parametrize("object_lock", [False, True])
def test_the_host_may_create_what_it_writes_never_overwrite_it(object_lock: bool) -> None:
    """A compromised host with the put-only policy could put garbage under an existing pack's,
    index file's or snapshot's name, another host's too: the policy denies a creation without
    If-None-Match: * (AWS's s3:if-none-match and s3:ObjectCreationOperation keys) and lets a
    multipart upload's start and parts through. Checked on the printed document: moto 5.2.5
    does not evaluate these keys (test_putonly_attacks2.py keeps the overwrite under moto as
    expected to fail); that the host sends the header on every creation is proven through
    moto (tests/cli/test_backup_putonly.py)."""
    base = "arn:aws:s3:::" + BUCKET + "/fleet/"
    printed = iam_policy(URL, "put-only", object_lock=object_lock)
    for name in ("data/ab/x", "tree/ab/x", "index/x", "snapshots/x", "state/t/x", "audit/t/x"):
        assert allowed(printed, "s3:PutObject", base + name, CREATE), name
        assert allowed(printed, "s3:PutObject", base + name, UPLOAD_PART), name
        assert not allowed(printed, "s3:PutObject", base + name, OVERWRITE), name
    for name in ("config", "keys/x", "locks/maintenance", "deletions/x", "ledger/x"):
        assert not allowed(printed, "s3:PutObject", base + name, CREATE), name


def _kms_anywhere(policy: dict[str, Any]) -> dict[str, Any]:
    """Where moto stops: it authorises KMS actions against the resource "*" only (its KMS
    responses name no key), so a statement naming a key's ARN never matches. The KMS
    statement is widened to "*" here: moto proves who may call kms:Decrypt at all, not which
    key (AWS checks the key ARN as printed)."""
    for st in policy["Statement"]:
        if st.get("Sid") == "Kms":
            st["Resource"] = "*"
    return policy


def test_the_fleet_set_up_with_kms_escrow_and_a_restore_role(
    run_cli: RunCli, fleet: Fleet, tmp_path: Path
) -> None:
    """docs/keys.md's fleet: the host backs up with its put-only key, and its day-to-day
    credentials cannot decrypt the escrowed full key (no kms:Decrypt); a restore on the host
    assumes the restore role, which may decrypt it, and restores what the host wrote."""
    escrow = fleet.server.client("kms").create_key(Description="escrow")["KeyMetadata"]["Arn"]
    admin = {**fleet.envs["maintenance"]}
    admin.update(
        fleet.server.user(
            "putonly-kms-admin",
            moto_names(_kms_anywhere(iam_policy(URL, "maintenance", kms_key_arns=(escrow,)))),
        )
    )
    done = run_cli("-r", URL, "key", "add", "--kms-key-id", escrow, "--label", "escrow", env=admin)
    assert done.code == 0, done.stderr
    restore = moto_names(_kms_anywhere(iam_policy(URL, "restore", kms_key_arns=(escrow,))))
    host_policy = moto_names(iam_policy(URL, "put-only"))
    # may assume the restore role (its ARN on AWS; moto authorises STS against "*" only)
    host_policy["Statement"].append(
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}
    )
    host = {**fleet.envs["put-only"], **fleet.server.user("putonly-web-02", host_policy)}
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": fleet.server.user_arn("putonly-web-02")},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role_arn = fleet.server.role("putonly-restore", trust, restore)
    backup = ("-r", URL, "backup", str(fleet.source), "--host", "web-01")
    done = run_cli(*backup, env=host)
    assert done.code == 0, done.stderr
    bare = {k: v for k, v in host.items() if k != "S3VAULT_PASSWORD"}
    out = tmp_path / "out"
    restore_args = ("restore", "latest", "--host", "web-01", "-t", str(out))
    refused = run_cli("-r", URL, "--kms", *restore_args, env=bare)  # day-to-day credentials
    assert refused.code != 0 and "kms:Decrypt" in refused.stderr, refused.stderr
    assumed = ("-r", URL, "--aws-role-arn", role_arn, "--kms", *restore_args)
    done = run_cli(*assumed, env=bare)
    assert done.code == 0, done.stderr
    restored = out / str(fleet.source).lstrip("/") / "srv" / "data.bin"
    assert restored.read_bytes() == (fleet.source / "srv" / "data.bin").read_bytes()
