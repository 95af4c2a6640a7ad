"""rewrite's restic options beyond --exclude: --iexclude, --iexclude-file, --new-host and
--new-time (a rewrite of metadata alone)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import RunCli, write_file


def snapshots(run_cli: RunCli, repo: str) -> list[dict[str, object]]:
    done = run_cli("-r", repo, "snapshots", "--json")
    assert done.code == 0, done.stderr
    found: list[dict[str, object]] = json.loads(done.stdout)
    return found


def test_iexclude_removes_paths_whatever_their_case(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = tmp_path / "src"
    write_file(src / "Secret.KEY", b"secret")
    write_file(src / "keep.txt", b"keep")
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    patterns = write_file(tmp_path / "ipatterns", b"*.key\n")
    done = run_cli("-r", cli_repo, "rewrite", "--iexclude-file", str(patterns), "--forget")
    assert done.code == 0, done.stderr
    listed = run_cli("-r", cli_repo, "ls", "latest").stdout
    assert "Secret.KEY" not in listed and "keep.txt" in listed
    again = run_cli("-r", cli_repo, "rewrite", "--iexclude", "*.TXT", "-n")
    assert again.code == 0, again.stderr
    assert "keep.txt" in again.stdout  # the dry run names it


def test_new_host_and_time_rewrite_metadata_alone(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = tmp_path / "src"
    write_file(src / "f.txt", b"data")
    assert run_cli("-r", cli_repo, "backup", str(src), "--host", "old-name").code == 0
    (before,) = snapshots(run_cli, cli_repo)
    done = run_cli(
        "-r", cli_repo, "rewrite", "--new-host", "web1", "--new-time", "2026-01-02T03:04:05Z"
    )
    assert done.code == 0, done.stderr
    after = {str(s["hostname"]): s for s in snapshots(run_cli, cli_repo)}
    assert set(after) == {"old-name", "web1"}  # without --forget both stay, as restic
    new = after["web1"]
    assert str(new["time"]).startswith("2026-01-02T03:04:05")
    assert new["tree"] == before["tree"] and "rewrite" in new["tags"]  # type: ignore[operator]
    out = tmp_path / "out"
    restored = run_cli("-r", cli_repo, "restore", "latest", "--host", "web1", "-t", str(out))
    assert restored.code == 0, restored.stderr
    assert (out / str(src).lstrip("/") / "f.txt").read_bytes() == b"data"
    # the same again changes nothing (the host is already web1); with --forget the old goes
    done = run_cli(
        "-r", cli_repo, "rewrite", "--new-host", "web1", "--host", "old-name", "--forget"
    )
    assert done.code == 0, done.stderr
    assert {s["hostname"] for s in snapshots(run_cli, cli_repo)} == {"web1"}
    assert run_cli("-r", cli_repo, "verify").code == 0


def test_rewrite_with_nothing_to_do_is_a_usage_error(cli_repo: str, run_cli: RunCli) -> None:
    done = run_cli("-r", cli_repo, "rewrite")
    assert done.code == 2, done.stderr
    assert "--new-host" in done.stderr
    assert run_cli("-r", cli_repo, "rewrite", "--new-host", "").code == 2
