"""A backup path whose leading directories include a symbolic link (`/lib/terminfo` on Debian,
where `/lib -> usr/lib`): the link is recorded as the directory it leads to, as restic does.
Recorded as a link, the path's whole subtree sat under a symlink node no reader follows:
backup counted the files, and restore, ls, find, dump and restore-test saw none of them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import RunCli, write_file


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_target_under_a_symlinked_directory_restores(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, jobs: str
) -> None:
    real = tmp_path / "usr" / "lib"
    body = os.urandom(50_000)
    write_file(real / "terminfo" / "x" / "xterm", body)
    (tmp_path / "lib").symlink_to("usr/lib")
    named = tmp_path / "lib" / "terminfo"
    done = run_cli("-r", cli_repo, "backup", str(named), "--jobs", jobs)
    assert done.code == 0, done.stderr
    inside = f"{named}/x/xterm"
    listed = run_cli("-r", cli_repo, "ls", "latest")
    assert inside in listed.stdout.splitlines(), listed.stdout
    found = run_cli("-r", cli_repo, "find", "xterm")
    assert found.code == 0 and inside in found.stdout
    dumped = run_cli("-r", cli_repo, "dump", "latest", inside)
    assert dumped.code == 0 and dumped.stdout_bytes == body
    target = tmp_path / "out"
    assert run_cli("-r", cli_repo, "restore", "latest", "--target", str(target)).code == 0
    restored = target / str(named).lstrip("/")
    assert (restored / "x" / "xterm").read_bytes() == body
    assert restored.parent.is_dir() and not restored.parent.is_symlink()
    drill = run_cli("-r", cli_repo, "restore-test", "latest")
    assert drill.code == 0 and "checked:       1 file," in drill.stdout, drill.stdout


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_target_inside_another_through_a_link_is_said_not_dropped(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, jobs: str
) -> None:
    """`backup D D/sub/file` where D/sub is a link to another directory: D stores sub as the
    link, and D/sub/file (another directory's file) was dropped without a word, exit 0. It is
    now a failure line naming the link (exit 3)."""
    write_file(tmp_path / "elsewhere" / "file", b"not in D")
    write_file(tmp_path / "D" / "own", b"in D")
    (tmp_path / "D" / "sub").symlink_to(tmp_path / "elsewhere")
    inner = tmp_path / "D" / "sub" / "file"
    done = run_cli("-r", cli_repo, "backup", str(tmp_path / "D"), str(inner), "--jobs", jobs)
    assert done.code == 3, done.stderr
    assert f"{inner}: not backed up" in done.stderr and str(tmp_path / "D" / "sub") in done.stderr


def test_a_target_inside_another_target_that_is_a_link_is_said(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """`backup L L/sub` with L itself a link: L is stored as the link, and L/sub was dropped
    without a word (exit 0, nothing of it stored)."""
    write_file(tmp_path / "usr" / "lib" / "terminfo" / "xterm", b"t")
    (tmp_path / "lib").symlink_to("usr/lib")
    inner = tmp_path / "lib" / "terminfo"
    done = run_cli("-r", cli_repo, "backup", str(tmp_path / "lib"), str(inner))
    assert done.code == 3, done.stderr
    assert f"{inner}: not backed up" in done.stderr
