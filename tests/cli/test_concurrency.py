"""Several hosts back up into one repository at once while two pruners race for the lease
(forget --prune loops): at the end verify --read-data is clean and every retained snapshot
restores byte-identical."""

from __future__ import annotations

import json
import random
import threading
import time
from pathlib import Path

import pytest

from tests.cli.test_s3 import s3_env
from tests.cliserver import CliServer, run_s3vault
from tests.conftest import RunCli
from tests.timetravel import TimeTravel, age_directory

# Hosts backing up at once. Swift (a second real implementation, and the claims protocol)
# costs about 14 ms of server CPU per request, ten times moto: eight hosts there kept both
# cores busy for a minute (60 CPU-s, a tenth of the suite) while the pruners' claims settled,
# and four hosts race the pruners as well.
HOSTS = {"local": 8, "s3": 8, "swift": 4}
GRACE = "4s"  # backups here run beside each other on two cores: a window of G/2 = 2 s
CYCLES = 3
MORE_CYCLES = 6  # hosts go on (up to this many extra cycles) until two prunes have committed
EXTRA_PAUSE = 1.0  # seconds before each extra cycle: backups race the prunes, not each other
TOO_LONG = "half the prune grace period"
GRACE_SHORT = "is too short for a backup of this size"  # archiver/commit.py, exit 1
SHARED = [random.Random(i).randbytes(200_000) for i in range(4)]  # 30 % shared between hosts


def tree_for(root: Path, host: int, cycle: int) -> dict[str, bytes]:
    """Host ``host``'s files at ``cycle``: shared files, its own, and some churn."""
    rng = random.Random(host * 1000 + cycle)
    files = {f"shared{i}": data for i, data in enumerate(SHARED[:3])}
    for i in range(6):
        seed = host * 100 + i + (cycle * 10_000 if i < 2 else 0)  # two files change per cycle
        files[f"own{i}"] = random.Random(seed).randbytes(rng.randrange(50_000, 250_000))
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for stale in {p.name for p in root.iterdir()} - set(files):
        (root / stale).unlink()
    return files


@pytest.mark.parametrize("store", ["local", "s3", "swift"])
def test_concurrent_backups_and_racing_pruners_lose_nothing(
    tmp_path: Path,
    run_cli: RunCli,
    cli_env: dict[str, str],
    store: str,
    request: pytest.FixtureRequest,
    cli_server: CliServer | None,
    time_travel: TimeTravel,
) -> None:
    if store == "s3":
        endpoint = request.getfixturevalue("s3_server")
        bucket = request.getfixturevalue("s3_bucket")
        cli_env.update(s3_env(cli_env, endpoint))
        url = f"s3://{bucket}/fleet"
    elif store == "swift":  # no atomic create-only writes: the pruners race through claims
        swift = request.getfixturevalue("swift_server")
        bucket = swift.new_bucket()
        cli_env.update(
            s3_env(cli_env, swift.endpoint),
            AWS_ACCESS_KEY_ID=swift.access_key,
            AWS_SECRET_ACCESS_KEY=swift.secret_key,
        )
        url = f"s3://{bucket}/fleet"
    else:
        url = str(tmp_path / "repo")
    done = run_cli(
        "-r", url, "init", "--kdf-cost", "minimum", "--pack-size", "1", "--min-grace", GRACE
    )
    assert done.code == 0, done.stderr
    errors: list[str] = []
    stop = threading.Event()
    prune_codes: list[int] = []
    refused: list[str] = []  # backups that outlasted half the grace and were run again

    def host_loop(h: int) -> None:
        src = tmp_path / f"host{h}"
        env = {**cli_env, "XDG_CACHE_HOME": str(tmp_path / f"cache{h}")}
        for cycle in range(CYCLES + MORE_CYCLES):
            # The pruners must race the backups, not run after them: on a slow store a
            # prune may outlast the three cycles, so the hosts go on until two have committed.
            if cycle >= CYCLES and prune_codes.count(0) >= 2:
                break
            if cycle >= CYCLES:  # a backup now and then while the prunes go on, as cron's
                time.sleep(EXTRA_PAUSE)
            tree_for(src, h, cycle)
            for _attempt in range(3):
                p = run_s3vault(
                    cli_server,
                    ["-r", url, "backup", str(src), "--host", f"h{h}", "--tag", f"c{cycle}"],
                    env=env,
                )
                # On a loaded machine a backup may outlast half the grace period: it then
                # refuses to commit (exit 1 with "the grace is too short", or 13 where what it
                # referenced was pruned meanwhile: nothing written that a prune could break)
                # and the next run, as cron's, backs up again. Anything else is an error.
                said = p.stderr.decode()
                grace_short = p.returncode == 1 and GRACE_SHORT in said
                if not grace_short and (p.returncode != 13 or TOO_LONG not in said):
                    break
                refused.append(f"h{h} c{cycle}")
            if p.returncode != 0:
                errors.append(f"backup h{h} c{cycle}: {p.returncode} {p.stderr.decode()}")

    def prune_loop(n: int) -> None:
        env = {**cli_env, "XDG_CACHE_HOME": str(tmp_path / f"pcache{n}")}
        while not stop.is_set():
            p = run_s3vault(
                cli_server,
                [
                    "-r",
                    url,
                    "forget",
                    "--keep-last",
                    "2",
                    "--prune",
                    "--grace",
                    GRACE,
                    "--max-unused",
                    "0%",
                ],
                env=env,
            )
            prune_codes.append(p.returncode)
            if p.returncode not in (0, 11):  # 11: the other pruner holds the lease
                errors.append(f"prune {n}: {p.returncode} {p.stderr.decode()}")
            time.sleep(0.3)

    pruners = [threading.Thread(target=prune_loop, args=(n,)) for n in range(2)]
    hosts = [threading.Thread(target=host_loop, args=(h,)) for h in range(HOSTS[store])]
    for t in pruners + hosts:
        t.start()
    for t in hosts:
        t.join()
    stop.set()
    for t in pruners:
        t.join()
    print(f"prunes: {len(prune_codes)} runs, {prune_codes.count(0)} committed; refused {refused}")
    assert not errors, errors
    assert prune_codes.count(0) >= 2
    if store == "local":  # past the grace by simulated time (tests/timetravel.py)
        age_directory(url, 4.1)
    elif store == "s3":
        time_travel.advance(4.1)  # the moto server's clock and the next commands' clocks
    else:
        time.sleep(4.1)  # Swift keeps its own clock
    final = run_cli("-r", url, "prune", "--grace", GRACE)  # past the grace
    assert final.code == 0, final.stderr
    expected_lease = "claim objects" if store == "swift" else "single lease object"
    assert f"lease: {expected_lease}" in final.stdout
    check = run_cli("-r", url, "verify", "--read-data")
    assert check.code == 0, check.stdout + check.stderr
    snaps = json.loads(run_cli("-r", url, "snapshots", "--json").stdout)
    assert {s["hostname"] for s in snaps} == {f"h{h}" for h in range(HOSTS[store])}
    for s in snaps:
        h, cycle = int(s["hostname"][1:]), int(s["tags"][0][1:])
        out = tmp_path / "out" / s["short_id"]
        done = run_cli("-r", url, "restore", s["id"], "-t", str(out))
        assert done.code == 0, done.stderr
        expected = tree_for(tmp_path / "expected" / s["short_id"], h, cycle)
        got = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
        assert got == expected, s["short_id"]
