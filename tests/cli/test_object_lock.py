"""S3 Object Lock driven by retention (issue 6), against moto's Object Lock: every object is
created locked for the period the retention policy needs; a new snapshot extends the lock of
the older packs it references; forget and prune never send a delete the store would refuse
(they defer locked objects and take them up once the lock has expired), and then delete by
version id, so the space is really freed.

The test runs on simulated time (tests/timetravel.py): moto's clock and the CLI's move
together, so the waits for a margin or a lock to pass cost no wall time."""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3

from tests.cli.test_s3 import s3_env
from tests.conftest import RunCli, write_file
from tests.timetravel import TimeTravel

LOCKED = "locked-backups"
INIT = ("init", "--kdf-cost", "minimum", "--no-recovery-key", "--min-grace", "10s")


def versions(client: object, prefix: str) -> tuple[list[str], list[str]]:
    """(keys with versions, keys with delete markers) under a prefix."""
    answer = client.list_object_versions(Bucket=LOCKED, Prefix=prefix)  # type: ignore[attr-defined]
    return (
        sorted(v["Key"] for v in answer.get("Versions", [])),
        sorted(m["Key"] for m in answer.get("DeleteMarkers", [])),
    )


def test_object_lock_follows_retention(
    s3_bucket: str,
    s3_server: str,
    tmp_path: Path,
    cli_env: dict[str, str],
    run_cli: RunCli,
    time_travel: TimeTravel,
) -> None:
    env = s3_env(cli_env, s3_server)
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=LOCKED, ObjectLockEnabledForBucket=True)
    url = f"s3://{LOCKED}/repo"
    # refused where it cannot work
    plain = run_cli(
        "-r",
        f"s3://{s3_bucket}/x",
        *INIT,
        "--object-lock",
        "governance",
        "--keep-daily",
        "7",
        env=env,
    )
    assert plain.code == 2 and "does not have Object Lock enabled" in plain.stderr
    local = run_cli(
        "-r",
        str(tmp_path / "local"),
        *INIT,
        "--object-lock",
        "governance",
        "--keep-daily",
        "7",
        env=env,
    )
    assert local.code == 2 and "needs an S3 repository" in local.stderr
    no_rule = run_cli("-r", url, *INIT, "--object-lock", "governance", "--keep-last", "3", env=env)
    assert no_rule.code == 2 and "time-based retention rule" in no_rule.stderr

    # restic's durations have no seconds: the short period is set explicitly (lock_period's
    # derivation from the policy: tests/maintenance/test_restic_semantics.py)
    made = run_cli(
        "-r", url, *INIT, "--object-lock", "governance", "--keep-within", "1h",
        "--lock-period", "20s", env=env,
    )  # fmt: skip
    assert made.code == 0, made.stderr
    assert "Object Lock (GOVERNANCE)" in made.stdout
    src = tmp_path / "src"
    write_file(src / "shared.bin", os.urandom(300_000))
    write_file(src / "changing.txt", b"first version\n" * 1000)
    t0 = time_travel.now()
    assert run_cli("-r", url, "backup", str(src), env=env).code == 0
    packs = sorted(
        o["Key"] for o in client.list_objects_v2(Bucket=LOCKED, Prefix="repo/data/")["Contents"]
    )
    first = client.head_object(Bucket=LOCKED, Key=packs[0])
    assert first["ObjectLockMode"] == "GOVERNANCE"
    first_until = first["ObjectLockRetainUntilDate"].timestamp()
    # period 20 s + margin 5 s (long enough that a loaded machine still runs the steps below
    # inside the first lock: with 10 s a CI run once saw it end too early)
    assert t0 + 20 <= first_until <= time_travel.now() + 25 + 2
    for key in (
        "repo/config",
        *(o["Key"] for o in client.list_objects_v2(Bucket=LOCKED, Prefix="repo/keys/")["Contents"]),
    ):
        assert client.head_object(Bucket=LOCKED, Key=key)["ObjectLockMode"] == "GOVERNANCE"

    time_travel.advance(6)  # past the margin (5 s): the second backup must extend the shared pack
    (src / "changing.txt").write_bytes(b"second version\n" * 1000)
    second = run_cli("-r", url, "--json", "backup", str(src), env=env)
    assert second.code == 0, second.stderr
    assert json.loads(second.stdout.splitlines()[-1])["locks_extended"] >= 1
    # the pack both snapshots need got a longer lock; the new ones were born with one
    assert (
        client.head_object(Bucket=LOCKED, Key=packs[0])["ObjectLockRetainUntilDate"].timestamp()
        > first_until
    )

    first_index = versions(client, "repo/index/")[0]
    forget = run_cli("-r", url, "--json", "forget", "--keep-last", "1", env=env)
    assert forget.code == 0, forget.stderr
    summary = json.loads(forget.stdout.splitlines()[-1])
    assert summary["removed"] == 0 and len(summary["deferred"]) == 1
    old = summary["deferred"][0]["snapshot_id"]
    # never attempted: no delete marker, the version is there
    (old_key,) = versions(client, f"repo/snapshots/{old}")[0]  # snapshots/<id>.<group tag>
    assert old_key.startswith(f"repo/snapshots/{old}.")
    assert versions(client, f"repo/snapshots/{old}") == ([old_key], [])
    pruned = run_cli("-r", url, "prune", "--grace", "10s", env=env)
    assert pruned.code == 0, pruned.stderr
    assert "still locked" in pruned.stdout  # the superseded index files
    assert set(first_index) <= set(versions(client, "repo/index/")[0])  # not even tried
    assert versions(client, "repo/index/")[1] == []

    # wait for the locks of both backups' objects to end (25 s after each was written)
    ends = [
        client.head_object(Bucket=LOCKED, Key=k)["ObjectLockRetainUntilDate"].timestamp()
        for k in [*first_index, old_key]
    ]
    time_travel.advance(max(ends) + 1.5 - time_travel.now())
    forget = run_cli("-r", url, "--json", "forget", "--keep-last", "1", env=env)
    assert json.loads(forget.stdout.splitlines()[-1])["removed"] == 1
    assert versions(client, f"repo/snapshots/{old}") == ([], [])  # deleted by version: gone
    final = run_cli("-r", url, "prune", "--grace", "10s", env=env)
    assert final.code == 0, final.stderr
    left, markers = versions(client, "repo/index/")
    assert not set(first_index) & set(left) and markers == []  # their locks ended: freed
    assert run_cli("-r", url, "verify", "--read-data", env=env).code == 0
    target = tmp_path / "t"
    assert run_cli("-r", url, "restore", "latest", "-t", str(target), env=env).code == 0
    assert (
        target / src.relative_to("/") / "changing.txt"
    ).read_bytes() == b"second version\n" * 1000
    # A weekly rule keeps the latest snapshot for two weeks: it and all it needs are locked
    # that long (its packs too), and nothing else is touched.
    weekly = run_cli("-r", url, "--json", "forget", "--keep-weekly", "2", env=env)
    assert weekly.code == 0, weekly.stderr
    assert json.loads(weekly.stdout.splitlines()[-1])["locks_extended"] >= 2
    (latest,) = client.list_objects_v2(Bucket=LOCKED, Prefix="repo/snapshots/")["Contents"]
    until = client.head_object(Bucket=LOCKED, Key=latest["Key"])["ObjectLockRetainUntilDate"]
    assert until.timestamp() > time_travel.now() + 13 * 86400
    # forget ID defers a locked snapshot as the policy form does: no delete is sent
    sid = latest["Key"].rsplit("/", 1)[1].split(".")[0]  # <id>.<group tag>
    named = run_cli("-r", url, "--json", "forget", sid[:12], env=env)
    assert named.code == 0, named.stderr
    assert [d["snapshot_id"] for d in json.loads(named.stdout.splitlines()[-1])["deferred"]] == [
        sid
    ]
    assert versions(client, latest["Key"]) == ([latest["Key"]], [])
    # Master-key rotation on a locked repository: locked snapshot files are not copied (the
    # old copy could not be removed); the old epoch stays live until their locks end.
    assert run_cli("-r", url, "key", "rotate-master", env=env).code == 0
    reencrypted = run_cli("-r", url, "prune", "--reencrypt", "--grace", "10s", env=env)
    assert reencrypted.code == 0, reencrypted.stderr
    assert "older key epochs stay live" in reencrypted.stdout
    assert len(client.list_objects_v2(Bucket=LOCKED, Prefix="repo/snapshots/")["Contents"]) == 1
