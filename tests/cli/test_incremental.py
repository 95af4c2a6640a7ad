"""Incremental backups: unchanged files are not even opened; changed ones are re-read."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.conftest import RunCli, write_file
from tests.inotify import OpenWatch


def summary(stdout: str) -> dict[str, object]:
    result: dict[str, object] = json.loads(stdout.strip().splitlines()[-1])
    return result


def test_unchanged_files_are_not_opened(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    src = tmp_path / "src"
    for i in range(30):
        write_file(src / f"d{i % 3}" / f"f{i}.txt", f"file {i}\n".encode() * 500)
    write_file(src / "big.bin", os.urandom(3 << 20))
    first = run_cli("-r", cli_repo, "backup", str(src), "--json")
    assert first.code == 0, first.stderr
    changed = src / "d1" / "f4.txt"
    time.sleep(0.01)
    changed.write_bytes(b"new content")
    watch = OpenWatch(src)
    try:
        second = run_cli("-r", cli_repo, "backup", str(src), "--json")
        opened = watch.opened_files()
    finally:
        watch.close()
    assert second.code == 0, second.stderr
    assert opened == {changed}
    s = summary(second.stdout)
    assert (s["files_new"], s["files_changed"], s["files_unmodified"]) == (0, 1, 30)
    assert s["parent_id"] == summary(first.stdout)["snapshot_id"]


def test_force_rereads_everything(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    src = tmp_path / "src"
    write_file(src / "a", b"a" * 1000)
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    done = run_cli("-r", cli_repo, "backup", str(src), "--force", "--json")
    s = summary(done.stdout)
    assert s["files_new"] == 1
    assert s["data_blobs"] == 0  # read again, but deduplicated: no new content stored


def test_touched_file_is_reread_but_deduplicated(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = tmp_path / "src"
    write_file(src / "a", os.urandom(200_000))
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    os.utime(src / "a", ns=(1, 2))
    s = summary(run_cli("-r", cli_repo, "backup", str(src), "--json").stdout)
    assert s["files_changed"] == 1
    assert s["data_blobs"] == 0


def test_dedup_across_paths_and_hosts(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    payload = os.urandom(2 << 20)
    write_file(tmp_path / "h1" / "x.bin", payload)
    write_file(tmp_path / "h2" / "copy.bin", payload)
    one = summary(
        run_cli("-r", cli_repo, "backup", str(tmp_path / "h1"), "--host", "one", "--json").stdout
    )
    two = summary(
        run_cli("-r", cli_repo, "backup", str(tmp_path / "h2"), "--host", "two", "--json").stdout
    )
    assert one["data_blobs"] >= 1
    assert two["data_blobs"] == 0
    assert two["parent_id"] is None  # another host's snapshot is never a parent
