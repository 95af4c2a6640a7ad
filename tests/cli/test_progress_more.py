"""The progress display of dump on a terminal (stdout is the data, the display is on stderr),
and key rotate-master saying that it waits for a prune's lease."""

from __future__ import annotations

import json
import os
from pathlib import Path

from s3vault import RepoOptions, open_repository
from s3vault.repository.lease import Lease
from tests.cli.test_progress_display import run_on_terminal
from tests.conftest import PASSWORD, RunCli, write_file


def test_dump_shows_its_progress_on_a_terminal_and_writes_only_data(
    cli_repo: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    data = os.urandom(24 << 20)
    write_file(tmp_path / "src" / "big.bin", data)
    assert run_cli("-r", cli_repo, "backup", str(tmp_path / "src")).code == 0
    target = tmp_path / "big.out"
    code, screen = run_on_terminal(
        ["-r", cli_repo, "dump", "latest", f"{tmp_path}/src/big.bin", "--target", str(target)],
        cli_env,
    )
    assert code == 0, screen
    assert target.read_bytes() == data
    assert "dump" in screen and "%" in screen, screen  # a percent of the file's size
    piped = run_cli("-r", cli_repo, "--json", "dump", "latest", f"{tmp_path}/src/big.bin")
    assert piped.code == 0, piped.stderr
    assert piped.stdout_bytes == data  # status lines (if any) go to stderr, never into the data


def test_rotate_master_says_it_waits_for_the_lease(
    cli_repo: str, tmp_path: Path, run_cli: RunCli
) -> None:
    repo = open_repository(RepoOptions(url=cli_repo, password=PASSWORD.encode()), load_index=False)
    held = Lease.acquire(repo, "prune")
    try:
        done = run_cli("-r", cli_repo, "key", "rotate-master", "--retry-lock", "2s")
    finally:
        held.release()
    assert done.code == 11, done.stderr
    assert done.stderr.count("waiting for") == 1, done.stderr


def test_no_scan_leaves_a_first_backup_without_a_total(
    cli_repo: str, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    src = tmp_path / "src"
    for i in range(24):
        write_file(src / f"f{i:02d}.bin", os.urandom(1 << 20))
    code, screen = run_on_terminal(["-r", cli_repo, "backup", str(src), "--no-scan"], cli_env)
    assert code == 0, screen
    assert "total unknown yet" in screen, screen  # restic's --no-scan: no scanner, no total
    assert " of 24 files" not in screen


def test_quiet_json_prints_the_result_alone(cli_repo: str, tmp_path: Path, run_cli: RunCli) -> None:
    """``-q --json`` prints no status lines, as restic's: a script's ``jq -r .snapshot_id``
    reads one object."""
    write_file(tmp_path / "src" / "a.txt", b"a\n")
    for argv in (
        ["backup", str(tmp_path / "src")],
        ["restore", "latest", "--target", str(tmp_path / "out")],
        ["verify", "--read-data"],
    ):
        done = run_cli("-r", cli_repo, "-q", "--json", *argv)
        assert done.code == 0, done.stderr
        lines = done.stdout.splitlines()
        assert [json.loads(x)["message_type"] for x in lines] == ["summary"], (argv, lines)
