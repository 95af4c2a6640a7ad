"""The Prometheus textfile under concurrent commands (issue 17): twenty commands finishing at
once into one --metrics-file lose no series (each read-merge-write holds the file's lock)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import S3VAULT


def test_twenty_concurrent_commands_lose_no_series(tmp_path: Path, cli_env: dict[str, str]) -> None:
    metrics = tmp_path / "textfile" / "s3vault.prom"
    init = ("init", "--kdf-cost", "minimum", "--no-recovery-key", "-q")
    runs = [
        subprocess.Popen(
            [S3VAULT, "-r", str(tmp_path / f"repo{n}"), "--metrics-file", str(metrics), *init],
            env=cli_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for n in range(20)
    ]
    for run in runs:
        _, err = run.communicate(timeout=180)
        assert run.returncode == 0, err.decode()
    text = metrics.read_text()
    repos = set(
        re.findall(r's3vault_exit_code\{[^}]*repository="[^"]*/(repo\d+)"[^}]*\} 0\.0', text)
    )
    assert repos == {f"repo{n}" for n in range(20)}
    assert not list(metrics.parent.glob(".*.tmp"))
