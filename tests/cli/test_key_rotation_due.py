"""Master-key rotation on a timer (issue 18): key rotate-master --if-older-than rotates only
when the current key epoch is older (exit 0 and says so when not due), and doctor warns
when the master key is older than the rotation period (--key-rotation), by the store's clock
(simulated time: the moto server and the CLI processes move together)."""

from __future__ import annotations

import json

from tests.cli.test_s3 import s3_env
from tests.conftest import RunCli
from tests.timetravel import TimeTravel

DAY = 86400


def rotate(run_cli: RunCli, url: str, *args: str, env: dict[str, str]) -> dict[str, object]:
    done = run_cli("-r", url, "--json", "key", "rotate-master", *args, env=env)
    assert done.code == 0, done.stderr
    return dict(json.loads(done.stdout.splitlines()[-1]))


def key_age(run_cli: RunCli, url: str, period: str, env: dict[str, str]) -> dict[str, str]:
    done = run_cli("-r", url, "--json", "doctor", "--key-rotation", period, env=env)
    return next(c for c in map(json.loads, done.stdout.splitlines()) if c["item"] == "key age")


def test_rotation_when_due_by_the_store_clock(
    s3_bucket: str,
    s3_server: str,
    cli_env: dict[str, str],
    run_cli: RunCli,
    time_travel: TimeTravel,
) -> None:
    env = s3_env(cli_env, s3_server)
    url = f"s3://{s3_bucket}/repo"
    assert (
        run_cli("-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key", env=env).code == 0
    )
    young = run_cli("-r", url, "key", "rotate-master", "--if-older-than", "90d", env=env)
    assert young.code == 0, young.stderr
    assert young.stdout.strip() == "key epoch 1 is 0 days old, not older than 90d: nothing to do"

    time_travel.advance(91 * DAY)
    if time_travel.simulated:  # without the fork server the CLI cannot follow (real time)
        old = key_age(run_cli, url, "90d", env)
        assert old["state"] == "warning" and "91 days old" in old["detail"]
        assert "--if-older-than 90d" in old["fix"]
        rotated = rotate(run_cli, url, "--if-older-than", "90d", env=env)
        assert rotated["rotated"] is True and rotated["epoch"] == 2
        assert round(float(str(rotated["age"])) / DAY) == 91
        again = rotate(run_cli, url, "--if-older-than", "90d", env=env)
        assert again["rotated"] is False and again["epoch"] == 2


def test_if_older_than_refuses_a_bad_duration(cli_repo: str, run_cli: RunCli) -> None:
    done = run_cli("-r", cli_repo, "key", "rotate-master", "--if-older-than", "soon")
    assert done.code == 2 and "soon" in done.stderr
    # an epoch of any age is older than 0: rotates (as without the flag)
    done = run_cli("-r", cli_repo, "--json", "key", "rotate-master", "--if-older-than", "0")
    assert done.code == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["epoch"] == 2
