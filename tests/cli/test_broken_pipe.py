"""A reader that goes away (`s3vault ls latest | head -1`) ends the command quietly, as click
does for a closed standard output; a broken pipe anywhere else is not swallowed
(tests/cli/test_parallel_backup.py: a dead worker's pipe)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.cliserver import S3VAULT
from tests.conftest import RunCli, write_file


def test_a_closed_stdout_ends_ls_quietly(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    for i in range(2000):
        write_file(tmp_path / "src" / f"d{i % 20}" / f"file-{i:05d}", b"x")
    assert run_cli("-r", cli_repo, "backup", str(tmp_path / "src")).code == 0
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    try:
        done = subprocess.run(
            [S3VAULT, "-r", cli_repo, "ls", "latest"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=cli_env,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 1
    assert b"internal error" not in done.stderr and b"Traceback" not in done.stderr
