"""A put-only host's backups under S3 Object Lock (design.md §6a, docs/immutability.md),
against moto's Object Lock on simulated time (tests/timetravel.py): every object the host
stores is locked as a full key's would be; its next backup extends the locks of the older
packs its snapshot needs (a full key's, deduplicated through an endorsed view, and its own,
named by its cache's record) and of nothing else; a host that lost its cache stores again what
it can no longer name; a full key's forget and prune defer what is locked and, once the locks
end, delete the host's objects by version id; `verify --read-data` is clean."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import boto3

from tests.cli.test_s3 import s3_env
from tests.conftest import RunCli, write_file
from tests.timetravel import TimeTravel

LOCKED = "putonly-locked"
PREFIX = "fleet/"
# a grace of 8 s: a backup checks what it references again when it ran longer than half
# the grace, by the real clock; with 1 s, a loaded machine's backup through moto failed
# those checks (a clean clone's run, 2026-12-07). The waits pass by simulated time.
INIT = ("init", "--kdf-cost", "minimum", "--no-recovery-key", "--min-grace", "8s")
WRITTEN = ("data/", "tree/", "index/", "snapshots/", "state/", "audit/")


def _keys(client: Any, prefix: str = PREFIX) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=LOCKED, Prefix=prefix)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def _until(client: Any, key: str) -> float:
    head = client.head_object(Bucket=LOCKED, Key=key)
    assert head.get("ObjectLockMode") == "GOVERNANCE", key
    return float(head["ObjectLockRetainUntilDate"].timestamp())


def _versions(client: Any, prefix: str) -> tuple[list[str], list[str]]:
    answer = client.list_object_versions(Bucket=LOCKED, Prefix=prefix)
    return (
        sorted(v["Key"] for v in answer.get("Versions", [])),
        sorted(m["Key"] for m in answer.get("DeleteMarkers", [])),
    )


def _summary(stdout: str) -> dict[str, Any]:
    line: dict[str, Any] = json.loads(stdout.splitlines()[-1])
    return line


def test_a_put_only_hosts_backups_are_locked_extended_and_pruned_after_expiry(
    s3_bucket: str,
    s3_server: str,
    tmp_path: Path,
    cli_env: dict[str, str],
    run_cli: RunCli,
    time_travel: TimeTravel,
) -> None:
    del s3_bucket  # the reset server and its credentials
    env = s3_env(cli_env, s3_server)
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=LOCKED, ObjectLockEnabledForBucket=True)
    repo = ("-r", f"s3://{LOCKED}/fleet")
    made = run_cli(
        *repo, *INIT, "--object-lock", "governance", "--keep-within", "1h",
        "--lock-period", "60s", env=env,
    )  # fmt: skip
    assert made.code == 0, made.stderr
    shared = os.urandom(100_000)
    write_file(tmp_path / "etc" / "shared.bin", shared)
    assert run_cli(*repo, "backup", str(tmp_path / "etc"), env=env).code == 0  # endorsed view
    full_packs = _keys(client, PREFIX + "data/")
    pw = write_file(tmp_path / "host-pw", b"web-01 secret\n")
    add = ("key", "add", "--put-only", "--host", "web-01", "--switch-format")
    done = run_cli(*repo, *add, "--kdf-cost", "minimum", "--new-password-file", str(pw), env=env)
    assert done.code == 0, done.stderr
    host = {**env, "S3VAULT_PASSWORD": "web-01 secret"}
    src = tmp_path / "src"
    write_file(src / "a.bin", os.urandom(200_000))
    write_file(src / "shared.bin", shared)  # stored by the full key
    backup = (*repo, "--json", "backup", str(src), "--host", "web-01")

    # 1. every object the host stores is locked for period + margin
    before = _keys(client)
    t1 = time_travel.now()
    first = run_cli(*backup, env=host)
    assert first.code == 0, first.stderr
    assert _summary(first.stdout)["data_blobs"] == 1  # shared.bin: the full key's pack
    run1 = _keys(client) - before
    assert {k[len(PREFIX) :].split("/")[0] + "/" for k in run1} == set(WRITTEN)
    for key in run1:
        assert t1 + 60 <= _until(client, key) <= time_travel.now() + 75 + 2, key
    run1_packs = {k for k in run1 if k.startswith(PREFIX + "data/")}
    (snapshot1,) = (k for k in run1 if k.startswith(PREFIX + "snapshots/"))
    config = PREFIX + "config"
    locks = {k: _until(client, k) for k in (*full_packs, *run1_packs, snapshot1, config)}

    # 2. past the margin, the next backup extends what its snapshot needs, nothing else
    time_travel.advance(16)  # the margin is 15 s
    write_file(src / "d.bin", os.urandom(100_000))
    before = _keys(client)
    second = run_cli(*backup, env=host)
    assert second.code == 0, second.stderr
    summary = _summary(second.stdout)
    assert summary["files_unmodified"] == 2 and summary["data_blobs"] == 1, second.stdout[-3000:]
    assert summary["locks_extended"] >= len(full_packs) + len(run1_packs)
    for key in (*full_packs, *run1_packs, config):  # the full key's pack, the host's own
        assert _until(client, key) > locks[key], key
    assert _until(client, snapshot1) == locks[snapshot1]  # no new snapshot needs it
    run2_packs = {k for k in _keys(client) - before if k.startswith(PREFIX + "data/")}
    (run2_pack,) = run2_packs  # d.bin's
    run2_until = _until(client, run2_pack)
    run1_until = {k: _until(client, k) for k in run1_packs}

    # 3. a host that lost its cache still names its earlier packs (its state records them):
    # it extends their locks and stores nothing again
    (src / "d.bin").unlink()
    shutil.rmtree(tmp_path / "xdg-cache")
    time_travel.advance(16)
    third = run_cli(*backup, env=host)
    assert third.code == 0, third.stderr
    summary = _summary(third.stdout)
    assert summary["files_unmodified"] == 2 and summary["data_blobs"] == 0, third.stdout[-3000:]
    assert "whose packs it cannot name" not in third.stdout + third.stderr
    for key in run1_packs:  # a.bin's pack, named by the state
        assert _until(client, key) > run1_until[key], key
    assert _until(client, run2_pack) == run2_until  # d.bin is gone from the snapshot

    # 4. a full key's forget and prune defer what is locked ...
    forget = run_cli(*repo, "--json", "forget", "--keep-last", "1", env=env)
    assert forget.code == 0, forget.stderr
    assert len(_summary(forget.stdout)["deferred"]) == 2  # the host's first two snapshots
    pruned = run_cli(*repo, "prune", "--grace", "8s", env=env)
    assert pruned.code == 0, pruned.stderr
    assert "still locked" in pruned.stdout
    assert _versions(client, run2_pack) == ([run2_pack], [])  # not even tried
    states = sorted(_keys(client, PREFIX + "state/"))
    assert len(states) == 3  # locked: none deleted

    # ... and, once the locks end, delete the host's objects by version id
    time_travel.advance(
        max(_until(client, k) for k in (run2_pack, *states[:-1])) + 1.5 - time_travel.now()
    )
    forget = run_cli(*repo, "--json", "forget", "--keep-last", "1", env=env)
    assert forget.code == 0, forget.stderr
    assert _summary(forget.stdout)["removed"] == 2
    pruned = run_cli(*repo, "--json", "prune", "--grace", "8s", env=env)
    assert pruned.code == 0, pruned.stderr
    assert _summary(pruned.stdout)["states_deleted"] == 2
    time_travel.advance(8.5)  # the grace of d.bin's pack, marked by that prune (two-phase)
    assert run_cli(*repo, "prune", "--grace", "8s", env=env).code == 0
    assert _versions(client, run2_pack) == ([], [])  # deleted by version: the space is freed
    assert _versions(client, PREFIX + "state/") == ([states[-1]], [])
    assert _versions(client, snapshot1) == ([], [])
    views = _versions(client, PREFIX + "views/")  # the views of superseded index files: gone
    assert views == (sorted(_keys(client, PREFIX + "views/")), [])
    verify = run_cli(*repo, "verify", "--read-data", env=env)
    assert verify.code == 0, verify.stdout + verify.stderr
    # the host's packs it proved are endorsed: their views are locked as every new object
    endorsed = _keys(client, PREFIX + "views/") - set(views[0])
    assert endorsed and "endorsed 1 put-only index file" in verify.stdout
    for key in endorsed:
        assert _until(client, key) >= time_travel.now() + 60 - 2, key
