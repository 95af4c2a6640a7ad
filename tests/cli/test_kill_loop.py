"""SIGKILL at random moments (RELIABILITY.md T1, T2): one repository, many backups and
forget --prune runs, each killed at a uniformly random time within its clean duration. After
every kill verify is clean, and every few rounds every completed snapshot restores
byte-identical. ``S3VAULT_TORTURE_ROUNDS`` raises the count (``make torture``)."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

from tests.cliserver import CliServer, run_s3vault
from tests.conftest import RunCli, write_file
from tests.timetravel import age_directory

ROUNDS = int(os.environ.get("S3VAULT_TORTURE_ROUNDS", "24"))


def killed_at_random(
    server: CliServer | None,
    argv: list[str],
    env: dict[str, str],
    clean: list[float],
    rng: random.Random,
) -> tuple[int, str]:
    """Run, SIGKILL at a random moment within ``clean[0]`` (how long a run takes); (exit code,
    stdout), -9 if the kill landed. A run that finished first teaches how long runs take now:
    on a loaded machine the first measurement can be far off, and kills would rarely land.
    The process is forked from the fork server (tests/cliserver.py), so the window is the
    command's own work, not an interpreter start."""
    start = time.monotonic()
    done = run_s3vault(server, argv, env=env, kill_after=rng.uniform(0, clean[0]))
    if done.returncode != -9:
        clean[0] = time.monotonic() - start  # finished before the kill
    return done.returncode, done.stdout.decode()


def test_random_kills_of_backup_and_prune_lose_no_completed_snapshot(
    tmp_path: Path, run_cli: RunCli, cli_env: dict[str, str], cli_server: CliServer | None
) -> None:
    rng = random.Random(int(os.environ.get("S3VAULT_TORTURE_SEED", "7")))
    url = str(tmp_path / "repo")
    done = run_cli(
        "-r", url, "init", "--kdf-cost", "minimum", "--pack-size", "1", "--min-grace", "1s"
    )
    assert done.code == 0, done.stderr
    src = tmp_path / "src"
    for i in range(12):
        write_file(src / f"f{i}", rng.randbytes(rng.randrange(1, 600_000)))
    completed: dict[str, dict[str, bytes]] = {}  # snapshot id → the files it holds

    def contents() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in src.iterdir()}

    def snapshot_ids() -> set[str]:
        listing = run_cli("-r", url, "snapshots", "--json")
        assert listing.code == 0, listing.stderr
        return {s["id"] for s in json.loads(listing.stdout)}

    def clean_backup() -> float:
        start = time.monotonic()
        r = run_cli("-r", url, "backup", str(src), "--json")
        assert r.code == 0, r.stderr
        completed[json.loads(r.stdout.splitlines()[-1])["snapshot_id"]] = contents()
        return time.monotonic() - start

    backup_time = clean_backup()
    prune_argv = ["-r", url, "forget", "--keep-last", "3", "--prune", "--grace", "1s"]
    kills = {"backup": 0, "prune": 0}
    start = time.monotonic()
    assert run_s3vault(cli_server, prune_argv, env=cli_env).returncode == 0
    prune_time = [time.monotonic() - start]
    for n in range(ROUNDS):
        for i in rng.sample(range(12), 2):  # churn
            write_file(src / f"f{i}", rng.randbytes(rng.randrange(1, 600_000)))
        # the window is an unchanged backup's duration: a backup with churn takes longer
        code, out = killed_at_random(
            cli_server, ["-r", url, "backup", str(src), "--json"], cli_env, [backup_time], rng
        )
        kills["backup"] += code == -9
        if code == 0:  # it finished before the kill: a complete snapshot
            completed[json.loads(out.splitlines()[-1])["snapshot_id"]] = contents()
        else:  # killed after its commit point perhaps: then its snapshot must be whole
            late = snapshot_ids() - set(completed)
            assert len(late) <= 1, late
            completed.update(dict.fromkeys(late, contents()))
        check = run_cli("-r", url, "verify")
        assert check.code == 0, (n, check.stdout + check.stderr)
        backup_time = clean_backup()
        code, _ = killed_at_random(cli_server, prune_argv, cli_env, prune_time, rng)
        kills["prune"] += code == -9
        age_directory(url, 0.5)  # some marks age past the grace for the next rounds
        check = run_cli("-r", url, "verify")
        assert check.code == 0, (n, check.stdout + check.stderr)
        alive = snapshot_ids()
        assert alive <= set(completed)  # no partial snapshot ever appears
        if n % 7 == 6 or n == ROUNDS - 1:
            assert run_cli("-r", url, "verify", "--read-data").code == 0
            for sid in alive:
                out = tmp_path / "out" / f"{n}-{sid[:8]}"
                r = run_cli("-r", url, "restore", sid, "-t", str(out))
                assert r.code == 0, r.stderr
                got = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
                assert got == completed[sid], sid
    print(f"kills landed: {kills}")
    # the test would prove nothing if most runs finished before their kill (timing on a loaded
    # machine varies, so only half is asked for)
    assert kills["backup"] >= ROUNDS // 2 and kills["prune"] >= ROUNDS // 2, kills
    age_directory(url, 1.1)  # simulated time (tests/timetravel.py)
    r = run_cli("-r", url, "forget", "--keep-last", "3", "--prune", "--grace", "1s")
    assert r.code == 0, r.stderr
    age_directory(url, 1.1)
    assert run_cli("-r", url, "prune", "--grace", "1s").code == 0
    assert run_cli("-r", url, "verify", "--read-data").code == 0
