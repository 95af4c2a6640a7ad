"""The test harness itself: the fork server runs the CLI as the console script does, and
simulated time moves the moto store's clock and the CLI's clock together."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import time
from datetime import datetime
from pathlib import Path

import boto3
import pytest

from s3vault.clock import SystemClock
from tests.cli.test_s3 import s3_env
from tests.cliserver import CliServer
from tests.conftest import RunCli, write_file
from tests.timetravel import TimeTravel, age_directory

DAY = 86400.0


def test_time_travel_moves_the_store_clock_and_the_cli_clock_together(
    s3_bucket: str,
    s3_server: str,
    tmp_path: Path,
    cli_env: dict[str, str],
    run_cli: RunCli,
    time_travel: TimeTravel,
    cli_server: CliServer | None,
) -> None:
    if cli_server is None:
        pytest.skip("simulated time needs the fork server")
    env = s3_env(cli_env, s3_server)
    url = f"s3://{s3_bucket}/repo"
    assert run_cli("-r", url, "init", "--kdf-cost", "minimum", env=env).code == 0
    write_file(tmp_path / "src" / "f", os.urandom(1000))
    time_travel.advance(3 * DAY)
    done = run_cli("-r", url, "--json", "backup", str(tmp_path / "src"), env=env)
    assert done.code == 0, done.stderr
    real = SystemClock().now().timestamp()
    client = boto3.client("s3", region_name="us-east-1")
    (snapshot,) = client.list_objects_v2(Bucket=s3_bucket, Prefix="repo/snapshots/")["Contents"]
    assert abs(snapshot["LastModified"].timestamp() - (real + 3 * DAY)) < 600  # the store's
    date = client.head_bucket(Bucket=s3_bucket)["ResponseMetadata"]["HTTPHeaders"]["date"]
    assert "," in date and date.count(",") == 1  # one Date header
    listed = json.loads(run_cli("-r", url, "snapshots", "--json", env=env).stdout)
    (taken,) = [s["time"] for s in listed]
    assert abs(datetime.fromisoformat(taken).timestamp() - (real + 3 * DAY)) < 600  # the host's


def test_the_fork_server_runs_the_cli_as_a_process_of_its_own(
    tmp_path: Path, run_cli: RunCli, cli_env: dict[str, str], cli_server: CliServer | None
) -> None:
    if cli_server is None:
        pytest.skip("S3VAULT_TEST_FRESH_PROCESS=1: no fork server")
    # exit codes, both streams, stdin, the environment and the working directory
    assert run_cli("--version").code == 0
    bad = run_cli("no-such-command")
    assert bad.code == 2 and "No such command" in bad.stderr and bad.stdout == ""
    secret = tmp_path / "pw"
    secret.write_text("from a file\n")
    url = str(tmp_path / "repo")
    env = {k: v for k, v in cli_env.items() if k != "S3VAULT_PASSWORD"}
    env["S3VAULT_PASSWORD_FILE"] = str(secret)
    made = run_cli("-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key", env=env)
    assert made.code == 0, made.stderr
    assert run_cli("-r", url, "snapshots", env=env).code == 0
    assert run_cli("-r", url, "snapshots").code == 12  # another password: its own environment
    # a process killed by a signal reports it as subprocess does
    killed = cli_server.run(
        ["-r", url, "backup", str(secret)],
        env={**env, "S3VAULT_TEST_CRASH_AT": "backup-before-snapshot"},
    )
    assert killed.returncode == -9


def test_the_shell_s3vault_runs_the_cli_through_the_fork_server(
    tmp_path: Path, cli_env: dict[str, str], cli_server: CliServer | None
) -> None:
    """tests/clishim.py, the s3vault the docs pages' shells find first in PATH: the shell's
    own streams (a pipe in, a here-document, a file out), exit codes, and a command killed by
    a signal dying so for the shell too (128 + 9)."""
    if cli_server is None:
        pytest.skip("S3VAULT_TEST_FRESH_PROCESS=1: no fork server")
    env = {**cli_env, "PATH": f"{cli_server.shim_dir()}:{os.environ['PATH']}"}
    url = str(tmp_path / "repo")
    write_file(tmp_path / "src" / "f", b"data")
    script = f"""
    set -u
    s3vault -r {url} init --kdf-cost minimum --no-recovery-key -q; echo "init $?"
    s3vault no-such-command 2>/dev/null; echo "bad $?"
    S3VAULT_TEST_CRASH_AT=backup-before-snapshot s3vault -r {url} backup src; echo "killed $?"
    s3vault -r {url} backup src -q >/dev/null; echo "backup $?"
    s3vault -r {url} --json snapshots > listed.json; echo "listed $?"
    printf 'n\\n' | s3vault -r {url} --json snapshots | wc -l | tr -d ' '
    s3vault --version <<'END' | head -c 7
    END
    """
    done = subprocess.run(
        ["bash", "-c", textwrap.dedent(script)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.stdout.split("\n") == [
        "init 0", "bad 2", "killed 137", "backup 0", "listed 0", "1", "s3vault",
    ], done.stdout + done.stderr  # fmt: skip
    assert len(json.loads((tmp_path / "listed.json").read_text())) == 1


def test_age_directory_lets_the_time_pass_and_changes_no_file(tmp_path: Path) -> None:
    """A local store's time passes for real (its marks' times are in their content); no file
    is touched."""
    old = write_file(tmp_path / "repo" / "data" / "ab" / "pack", b"x")
    before = old.stat().st_mtime_ns
    start = time.monotonic()
    age_directory(tmp_path / "repo", 0.3)
    assert time.monotonic() - start >= 0.3
    assert old.stat().st_mtime_ns == before and old.read_bytes() == b"x"
