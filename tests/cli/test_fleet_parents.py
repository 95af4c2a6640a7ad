"""A fleet in one repository (issue 16): a backup reads only its own group's snapshot files to
find its parent (design.md §8), and verify names a snapshot file stored under a wrong tag."""

from __future__ import annotations

import json
import os
from pathlib import Path

from s3vault import RepoOptions, open_repository
from s3vault.format.layout import snapshot_name
from s3vault.repository.snapshots import snapshot_group
from tests.conftest import PASSWORD, RunCli, write_file


def group(url: str, tmp_path: Path, host: str, paths: tuple[str, ...]) -> str:
    options = RepoOptions(url=url, password=PASSWORD.encode(), cache_dir=tmp_path / "lib-cache")
    return snapshot_group(open_repository(options), host, paths)


def test_a_backup_never_reads_other_hosts_snapshot_files(
    tmp_path: Path, run_cli: RunCli, cli_repo: str
) -> None:
    src = tmp_path / "src"
    write_file(src / "a", os.urandom(20_000))
    first = run_cli("-r", cli_repo, "--json", "backup", "--host", "web-1", str(src))
    assert first.code == 0, first.stderr
    first_id = json.loads(first.stdout.splitlines()[-1])["snapshot_id"]
    # 200 snapshot files of other hosts that cannot be read: whoever reads one says so
    for i in range(200):
        tag = group(cli_repo, tmp_path, f"host-{i}", (str(src),)) if i < 5 else f"{i:016x}"
        Path(cli_repo, snapshot_name(os.urandom(32).hex(), tag)).write_bytes(os.urandom(300))
    listed = run_cli("-r", cli_repo, "snapshots")
    assert listed.code == 0 and listed.stderr.count("snapshot file skipped") == 200

    again = run_cli(
        "-r", cli_repo, "--json", "--cache-dir", str(tmp_path / "new-host"),
        "backup", "--host", "web-1", str(src),
    )  # fmt: skip
    assert again.code == 0, again.stderr
    assert "skipped" not in again.stderr and "warning" not in again.stderr.lower()
    assert json.loads(again.stdout.splitlines()[-1])["parent_id"] == first_id


def test_verify_names_a_snapshot_under_a_wrong_tag(
    tmp_path: Path, run_cli: RunCli, cli_repo: str
) -> None:
    src = tmp_path / "src"
    write_file(src / "a", os.urandom(20_000))
    done = run_cli("-r", cli_repo, "--json", "backup", "--host", "db-1", str(src))
    assert done.code == 0, done.stderr
    sid = json.loads(done.stdout.splitlines()[-1])["snapshot_id"]
    assert run_cli("-r", cli_repo, "verify").code == 0
    (stored,) = Path(cli_repo, "snapshots").glob(sid + ".*")
    wrong = group(cli_repo, tmp_path, "web-1", (str(src),))
    stored.rename(stored.with_name(f"{sid}.{wrong}"))

    checked = run_cli("-r", cli_repo, "verify")
    assert checked.code == 13, checked.stdout + checked.stderr
    out = checked.stdout + checked.stderr
    assert f"snapshots/{sid}.{wrong}" in out and "group tag" in out
    restored = run_cli("-r", cli_repo, "restore", sid[:8], "--target", str(tmp_path / "t"))
    assert restored.code == 0, restored.stderr  # intact: still read
    web = run_cli("-r", cli_repo, "--json", "backup", "--host", "web-1", str(src))
    assert web.code == 0, web.stderr
    assert json.loads(web.stdout.splitlines()[-1])["parent_id"] is None  # never db-1's
