"""Imports of existing backups (docs/migration.md): ``backup --root DIR`` records what it reads
below DIR as if DIR were /, ``--time`` records the old backup's time."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import RunCli, write_file

OLD_MTIME = 1_600_000_000  # 2020-09-13


def old_tree(root: Path, text: bytes) -> None:
    for rel in ("etc/app.conf", "srv/www/index.html"):
        path = write_file(root / rel, text + rel.encode())
        os.utime(path, (OLD_MTIME, OLD_MTIME))


def snapshots(run_cli: RunCli, url: str) -> list[dict[str, object]]:
    done = run_cli("-r", url, "snapshots", "--json")
    assert done.code == 0, done.stderr
    return json.loads(done.stdout)


def test_import_records_paths_below_root_and_the_given_time(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    day1, day2 = tmp_path / "daily.1", tmp_path / "daily.0"
    old_tree(day1, b"monday ")
    old_tree(day2, b"monday ")
    write_file(day2 / "etc" / "new.conf", b"added on tuesday")
    write_file(day2 / "etc" / "secret.key", b"not for the backup")
    common = ("--host", "web1", "--tag", "imported", "--exclude", "/etc/secret.key")
    first = run_cli(
        "-r", cli_repo, "backup", "--root", str(day1), "--time", "2025-01-30T02:00:00Z",
        *common, "/etc", "srv", "--json",
    )  # fmt: skip
    assert first.code == 0, first.stderr
    second = run_cli(
        "-r", cli_repo, "backup", "--root", str(day2), "--time", "2025-01-31 02:00:00+01:00",
        *common, "/etc", "/srv", "--json",
    )  # fmt: skip
    assert second.code == 0, second.stderr
    summary = json.loads(second.stdout.splitlines()[-1])
    # the second import found the first as its parent (same host, same recorded paths) and
    # stored only the new file's content
    assert summary["parent_id"] == json.loads(first.stdout.splitlines()[-1])["snapshot_id"]
    assert summary["files_new"] == 1

    snaps = sorted(snapshots(run_cli, cli_repo), key=lambda s: str(s["time"]))
    assert [datetime.fromisoformat(str(s["time"])) for s in snaps] == [
        datetime(2025, 1, 30, 2, tzinfo=UTC),
        datetime(2025, 1, 31, 1, tzinfo=UTC),
    ]
    assert all(s["paths"] == ["/etc", "/srv"] and s["hostname"] == "web1" for s in snaps)

    listing = run_cli("-r", cli_repo, "ls", "latest")
    assert listing.code == 0, listing.stderr
    assert "/etc/new.conf" in listing.stdout and "/srv/www/index.html" in listing.stdout
    assert str(tmp_path) not in listing.stdout
    assert "secret.key" not in listing.stdout  # excludes match the recorded paths

    out = tmp_path / "restored"
    done = run_cli("-r", cli_repo, "restore", str(snaps[0]["id"]), "-t", str(out))
    assert done.code == 0, done.stderr
    restored = out / "etc" / "app.conf"
    assert restored.read_bytes() == b"monday etc/app.conf"
    assert restored.stat().st_mtime == OLD_MTIME


def test_import_refuses_a_missing_root_and_a_bad_time(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    old_tree(tmp_path / "old", b"x")
    missing = run_cli("-r", cli_repo, "backup", "--root", str(tmp_path / "nope"), "/etc")
    assert missing.code == 2 and "nope" in missing.stderr
    bad = run_cli(
        "-r", cli_repo, "backup", "--root", str(tmp_path / "old"), "--time", "yesterday", "/etc"
    )
    assert bad.code == 2 and "'yesterday' is not a time" in bad.stderr
    # a time no snapshot can hold (year 10000 in UTC) was saved, then refused by every reader
    late = run_cli("-r", cli_repo, "backup", "--time", "9999-12-31T23:59:59-05:00", "/etc")
    assert late.code == 2 and "out of range" in late.stderr
    assert snapshots(run_cli, cli_repo) == []
    # a path that climbs out of the root still lies below it
    climb = run_cli("-r", cli_repo, "backup", "--root", str(tmp_path / "old"), "../../etc")
    assert climb.code == 0, climb.stderr
    assert snapshots(run_cli, cli_repo)[0]["paths"] == ["/etc"]


def test_the_whole_root_is_a_target(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    """`backup /` (here below --root, the same code path) saves everything below it; it once
    saved an empty tree."""
    old_tree(tmp_path / "old", b"whole ")
    first = run_cli("-r", cli_repo, "backup", "--root", str(tmp_path / "old"), "/", "--json")
    assert first.code == 0, first.stderr
    assert json.loads(first.stdout.splitlines()[-1])["files_new"] == 2
    listing = run_cli("-r", cli_repo, "ls", "latest").stdout.splitlines()
    assert "/etc/app.conf" in listing and "/srv/www/index.html" in listing
    assert snapshots(run_cli, cli_repo)[0]["paths"] == ["/"]
    again = run_cli("-r", cli_repo, "backup", "--root", str(tmp_path / "old"), "/", "--json")
    summary = json.loads(again.stdout.splitlines()[-1])
    assert (summary["files_unmodified"], summary["files_new"]) == (2, 0)  # the parent is used
    out = tmp_path / "restored"
    assert run_cli("-r", cli_repo, "restore", "latest", "-t", str(out)).code == 0
    assert (out / "etc" / "app.conf").read_bytes() == b"whole etc/app.conf"


def test_a_root_reached_through_a_link_is_the_directory_it_names(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """`--root /mnt/old /` where /mnt/old is a link to the copy: directories are opened without
    following links (a swapped one must not lead elsewhere), and the root itself was opened so
    too, giving an empty snapshot (exit 3) every night. The root the user names is followed."""
    write_file(tmp_path / "real" / "etc" / "c", b"conf\n")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    for jobs in ("1", "2"):
        done = run_cli(
            "-r", cli_repo, "backup", "--jobs", jobs, "--root", str(tmp_path / "link"), "/"
        )
        assert done.code == 0, done.stderr
        listed = run_cli("-r", cli_repo, "ls", "latest").stdout.split()
        assert listed == ["/etc", "/etc/c"], listed


def test_excludes_hold_below_a_root_reached_through_a_link(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """With `--root` a link, anchored excludes were cut at the link name's length from the
    resolved paths: `--exclude /sub` stored /sub, exit 0."""
    write_file(tmp_path / "rx" / "real" / "sub" / "f", b"secret\n")
    write_file(tmp_path / "rx" / "real" / "keep" / "f", b"kept\n")
    (tmp_path / "rx" / "L").symlink_to("real")
    for jobs in ("1", "2"):
        done = run_cli(
            "-r", cli_repo, "backup", "--jobs", jobs, "--root", str(tmp_path / "rx" / "L"),
            "/", "--exclude", "/sub",
        )  # fmt: skip
        assert done.code == 0, done.stderr
        assert run_cli("-r", cli_repo, "ls", "latest").stdout.split() == ["/keep", "/keep/f"]


def test_a_local_time_in_a_dst_change_is_the_instant_restic_records(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """``--time`` without a zone, in a summer-time change (Berlin), is the instant Go's
    time.Date makes of it, as restic's ``backup --time``: 02:30 of the hour skipped in spring
    is 03:30 summer time, 02:30 of the hour repeated in autumn the later one (both were an
    hour earlier: a policy then kept other snapshots of an import than restic)."""
    src = write_file(tmp_path / "src" / "f", b"x").parent
    berlin = {**cli_env, "TZ": "Europe/Berlin"}
    for when in ("2022-03-27 02:30", "2022-10-30 02:30", "2022-06-01 12:00"):
        done = run_cli("-r", cli_repo, "backup", "--time", when, str(src), "-q", env=berlin)
        assert done.code == 0, done.stderr
    times = sorted(datetime.fromisoformat(str(s["time"])) for s in snapshots(run_cli, cli_repo))
    assert times == [
        datetime(2022, 3, 27, 1, 30, tzinfo=UTC),
        datetime(2022, 6, 1, 10, 0, tzinfo=UTC),
        datetime(2022, 10, 30, 1, 30, tzinfo=UTC),
    ]


def test_the_first_day_of_year_1_is_a_time_where_it_is_one_in_utc(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """``-N 0001-01-01`` on a host in UTC is a time (it was "out of range (years 1 to
    9999 in UTC)": the local-time lookup failed at year 1); in Berlin it is still year 0 in
    UTC, and the message says so."""
    src = write_file(tmp_path / "src" / "f", b"x").parent
    assert run_cli("-r", cli_repo, "backup", str(src), "-q").code == 0
    utc = run_cli("-r", cli_repo, "find", "f", "-N", "0001-01-01", env={**cli_env, "TZ": "UTC"})
    assert utc.code == 0, utc.stderr
    berlin = {**cli_env, "TZ": "Europe/Berlin"}
    early = run_cli("-r", cli_repo, "find", "f", "-N", "0001-01-01", env=berlin)
    assert early.code == 2 and "in UTC it falls outside the years 1 to 9999" in early.stderr
