"""SIGKILL a backup at several points: earlier snapshots still restore byte-identical, no
partial snapshot appears, and the next backup succeeds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import S3VAULT, RunCli, write_file
from tests.trees import snapshot_tree


def count(path: Path) -> int:
    return sum(1 for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))


def snapshot_ids(run_cli: RunCli, repo: str) -> list[str]:
    done = run_cli("-r", repo, "snapshots", "--json")
    assert done.code == 0, done.stderr
    return [s["id"] for s in json.loads(done.stdout)]


# (what to wait for, how many) before the kill: nothing yet, packs, an index file mid-run.
KILL_POINTS = [("start", 0), ("data", 1), ("data", 3), ("data", 6), ("index", 1), ("tree", 1)]


@pytest.mark.parametrize(("where", "n"), KILL_POINTS)
def test_kill_during_backup_loses_nothing(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str], where: str, n: int
) -> None:
    src = tmp_path / "src"
    write_file(src / "first" / "a.bin", os.urandom(1 << 20))
    write_file(src / "first" / "b.txt", b"stable " * 10_000)
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    before = snapshot_tree(src)
    first_ids = snapshot_ids(run_cli, cli_repo)
    repo = Path(cli_repo)
    baseline = {k: count(repo / k) for k in ("data", "index", "tree")}
    for i in range(12):  # ~36 MiB of new data: about nine 4 MiB packs
        write_file(src / "second" / f"f{i}.bin", os.urandom(3 << 20))

    proc = subprocess.Popen(
        [S3VAULT, "-r", cli_repo, "backup", str(src)],
        env=cli_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    if where != "start":
        while count(repo / where) < baseline[where] + n and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    ids = snapshot_ids(run_cli, cli_repo)
    # Killed before its commit point: no new snapshot. Killed after it (the snapshot was
    # written, the process had not exited yet): the new snapshot must be complete.
    assert ids[: len(first_ids)] == first_ids
    assert len(ids) <= len(first_ids) + 1
    if len(ids) > len(first_ids):
        late = tmp_path / "restore-late"
        assert run_cli("-r", cli_repo, "restore", ids[-1], "-t", str(late)).code == 0
        assert snapshot_tree(late / str(src).lstrip("/")) == snapshot_tree(src)
    target = tmp_path / "restore-first"
    done = run_cli("-r", cli_repo, "restore", first_ids[0], "-t", str(target))
    assert done.code == 0, done.stderr
    first_part = {k: v for k, v in before.items() if not k.startswith(b"second")}
    assert snapshot_tree(target / str(src).lstrip("/")) == first_part

    done = run_cli("-r", cli_repo, "backup", str(src), "--json")
    assert done.code == 0, done.stderr
    target2 = tmp_path / "restore-next"
    assert run_cli("-r", cli_repo, "restore", "latest", "-t", str(target2)).code == 0
    assert snapshot_tree(target2 / str(src).lstrip("/")) == snapshot_tree(src)
