"""The Prometheus textfile under concurrent commands (issue 17): twenty commands finishing at
once into one --metrics-file lose no series (each read-merge-write holds the file's lock)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.cliserver import CliServer, run_s3vault


def test_twenty_concurrent_commands_lose_no_series(
    tmp_path: Path, cli_env: dict[str, str], cli_server: CliServer | None
) -> None:
    """Twenty processes at once (forked from the fork server: each a process of its own,
    started together, without twenty interpreter starts competing for two cores)."""
    metrics = tmp_path / "textfile" / "s3vault.prom"
    init = ("init", "--kdf-cost", "minimum", "--no-recovery-key", "-q")

    def run(n: int) -> tuple[int, bytes]:
        argv = ["-r", str(tmp_path / f"repo{n}"), "--metrics-file", str(metrics), *init]
        done = run_s3vault(cli_server, argv, env=cli_env, kill_after=180)
        return done.returncode, done.stderr

    with ThreadPoolExecutor(max_workers=20) as pool:
        for code, err in pool.map(run, range(20)):
            assert code == 0, err.decode()
    text = metrics.read_text()
    repos = set(
        re.findall(r's3vault_exit_code\{[^}]*repository="[^"]*/(repo\d+)"[^}]*\} 0\.0', text)
    )
    assert repos == {f"repo{n}" for n in range(20)}
    assert not list(metrics.parent.glob(".*.tmp"))
