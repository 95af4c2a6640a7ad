"""`snapshots` as a restic user reaches for it (issue 17): --latest N per host and paths,
--group-by host,paths,tags (headers; groups in --json), --compact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import RunCli, write_file


@pytest.fixture
def fleet(cli_repo: str, tmp_path: Path, run_cli: RunCli) -> dict[str, str]:
    """Three snapshots of web1 /etc, one of web1 /srv, two of db1 /etc (tagged nightly);
    their short ids by name."""
    etc = write_file(tmp_path / "etc" / "a.conf", b"a = 1\n").parent
    srv = write_file(tmp_path / "srv" / "b.html", b"<b>\n").parent
    ids = {}
    plan = [
        ("web1-etc-1", "web1", etc, "2026-01-01 01:00", ()),
        ("web1-etc-2", "web1", etc, "2026-01-02 01:00", ()),
        ("web1-etc-3", "web1", etc, "2026-01-03 01:00", ()),
        ("web1-srv-1", "web1", srv, "2026-01-02 02:00", ()),
        ("db1-etc-1", "db1", etc, "2026-01-01 03:00", ("--tag", "nightly")),
        ("db1-etc-2", "db1", etc, "2026-01-02 03:00", ("--tag", "nightly")),
    ]
    for name, host, path, when, tags in plan:
        done = run_cli(
            "-r", cli_repo, "--json", "backup", str(path), "--host", host, "--time", when, *tags
        )
        assert done.code == 0, done.stderr
        summary = json.loads(done.stdout.splitlines()[-1])
        ids[name] = summary["snapshot_id"][:8]
    return ids


def _listed(run_cli: RunCli, repo: str, *args: str) -> list[str]:
    done = run_cli("-r", repo, "--json", "snapshots", *args)
    assert done.code == 0, done.stderr
    return [s["short_id"] for s in json.loads(done.stdout)]


def test_latest_keeps_the_newest_of_each_host_and_paths(
    cli_repo: str, fleet: dict[str, str], run_cli: RunCli
) -> None:
    assert _listed(run_cli, cli_repo, "--latest", "1") == [
        fleet["web1-srv-1"],  # oldest first, as always
        fleet["db1-etc-2"],
        fleet["web1-etc-3"],
    ]
    two = set(_listed(run_cli, cli_repo, "--latest", "2", "--host", "web1"))
    assert two == {fleet["web1-etc-2"], fleet["web1-etc-3"], fleet["web1-srv-1"]}
    # restic's 0 (its default) is no limit: `snapshots --latest 0` was refused (exit 2)
    assert len(_listed(run_cli, cli_repo, "--latest", "0")) == len(fleet)
    refused = run_cli("-r", cli_repo, "snapshots", "--latest", "-1")
    assert refused.code == 2 and "--latest -1" in refused.stderr


def test_group_by_shows_each_group_under_its_header(
    cli_repo: str, fleet: dict[str, str], run_cli: RunCli
) -> None:
    shown = run_cli("-r", cli_repo, "snapshots", "--group-by", "host")
    assert shown.code == 0, shown.stderr
    headers = [line for line in shown.stdout.splitlines() if line.startswith("snapshots for")]
    assert headers == ["snapshots for (host [db1]):", "snapshots for (host [web1]):"]
    assert shown.stdout.splitlines()[-1] == "6 snapshots"
    done = run_cli("-r", cli_repo, "--json", "snapshots", "-g", "host,tags")
    groups = json.loads(done.stdout)  # restic's shape: group_key and the group's snapshots
    assert [
        (g["group_key"]["hostname"], g["group_key"]["paths"], g["group_key"]["tags"])
        for g in groups
    ] == [("db1", None, ["nightly"]), ("web1", None, None)]  # untagged: null, as restic's
    assert [len(g["snapshots"]) for g in groups] == [2, 4]
    assert {s["short_id"] for g in groups for s in g["snapshots"]} == set(fleet.values())
    bad = run_cli("-r", cli_repo, "snapshots", "--group-by", "color")
    assert bad.code == 2 and "unknown --group-by key(s): color" in bad.stderr


def test_compact_leaves_out_paths_and_size(
    cli_repo: str, fleet: dict[str, str], run_cli: RunCli
) -> None:
    compact = run_cli("-r", cli_repo, "snapshots", "--compact")
    full = run_cli("-r", cli_repo, "snapshots")
    assert compact.code == 0 and full.code == 0
    assert compact.stdout.split()[:4] == ["ID", "Time", "Host", "Tags"]
    assert "Paths" not in compact.stdout and "Paths" in full.stdout
    assert all(short in compact.stdout for short in fleet.values())


def test_dash_h_names_the_host_on_backup_and_forget(
    cli_repo: str, tmp_path: Path, run_cli: RunCli
) -> None:
    """-H is --host on backup and snapshots, as in restic; on forget it is --keep-hourly, as
    in restic."""
    src = write_file(tmp_path / "src" / "a", b"a\n").parent
    for _ in range(2):
        assert run_cli("-r", cli_repo, "backup", str(src), "-H", "short-h", "-q").code == 0
    assert len(_listed(run_cli, cli_repo, "-H", "short-h")) == 2
    done = run_cli("-r", cli_repo, "forget", "--host", "short-h", "--keep-last", "1")
    assert done.code == 0, done.stderr
    assert len(_listed(run_cli, cli_repo, "-H", "short-h")) == 1
