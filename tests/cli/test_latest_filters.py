"""-H/--host, --tag and --path choose which snapshot `latest` means for ls and dump, as for
restore (restic's filters); an id with filters it does not match is refused."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import RunCli, write_file


def test_ls_and_dump_take_the_latest_of_the_host_and_tag_asked_for(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = tmp_path / "src"
    for host, tag, body in (("web1", "nightly", b"web one"), ("db1", "hourly", b"db one")):
        write_file(src / "f.txt", body)
        done = run_cli("-r", cli_repo, "backup", str(src), "--host", host, "--tag", tag)
        assert done.code == 0, done.stderr
    name = f"{src}/f.txt"
    plain = run_cli("-r", cli_repo, "dump", "latest", name)
    assert plain.stdout == "db one"  # the repository's latest
    for flags in (("--host", "web1"), ("-H", "web1"), ("--tag", "nightly")):
        done = run_cli("-r", cli_repo, "dump", "latest", name, *flags)
        assert done.code == 0, done.stderr
        assert done.stdout == "web one", flags
    listed = run_cli("-r", cli_repo, "--json", "ls", "latest", "--host", "web1")
    assert listed.code == 0, listed.stderr
    first = json.loads(listed.stdout.splitlines()[0])
    snaps = json.loads(run_cli("-r", cli_repo, "snapshots", "--json").stdout)
    web1 = next(s for s in snaps if s["hostname"] == "web1")
    assert first["id"] == web1["id"]
    assert run_cli("-r", cli_repo, "ls", "latest", "--path", str(src)).code == 0
    none = run_cli("-r", cli_repo, "ls", "latest", "--host", "nosuch")
    assert none.code == 2, none.stderr
    assert "no snapshot latest matches --host nosuch" in none.stderr
    # a new machine restoring its predecessor's files: the hosts there are (a DR drill attack
    # pass, 2026-12-06: the runbook's --host $(hostname) named the new machine)
    hosts = sorted({s["hostname"] for s in snaps})
    assert f"(hosts in the repository: {', '.join(hosts)})" in none.stderr
    wrong = run_cli("-r", cli_repo, "dump", web1["short_id"], name, "--host", "db1")
    assert wrong.code == 2, wrong.stderr
    assert "does not match --host db1" in wrong.stderr
    assert wrong.stdout == ""


def test_latest_dated_ahead_of_the_clock_is_said_with_the_newest_backup(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """A host whose clock was a year ahead once made a snapshot that stays `latest` (the
    newest date, as in restic) until that date: `restore latest` restores it, not last
    night's backup. Every command that resolves `latest` says so, and names the newest
    snapshot not dated ahead."""
    src = tmp_path / "src"
    write_file(src / "f.txt", b"the old content")
    ahead = run_cli("-r", cli_repo, "backup", str(src), "--time", "2099-01-01T00:00:00Z", "-q")
    assert ahead.code == 0, ahead.stderr
    write_file(src / "f.txt", b"last night's content")
    nightly = run_cli("-r", cli_repo, "backup", str(src), "-q")  # its parent is dated ahead:
    assert nightly.code == 0 and "ahead" not in nightly.stderr  # not said every night
    snaps = json.loads(run_cli("-r", cli_repo, "snapshots", "--json").stdout)
    by_year = {s["time"][:4]: s["short_id"] for s in snaps}
    restored = run_cli("-r", cli_repo, "restore", "latest", "--target", str(tmp_path / "out"))
    assert restored.code == 0, restored.stderr
    said = restored.stderr
    assert f"latest is snapshot {by_year['2099']}" in said and "ahead of this host's clock" in said
    assert f"the newest not dated ahead is {by_year[min(by_year)]}" in said, said
    dumped = run_cli("-r", cli_repo, "dump", "latest", f"{src}/f.txt")
    assert dumped.stdout == "the old content" and "ahead of this host's clock" in dumped.stderr
    plain = run_cli("-r", cli_repo, "dump", by_year[min(by_year)], f"{src}/f.txt")
    assert plain.stdout == "last night's content"
    assert "ahead" not in plain.stderr


def test_snapshots_latest_applies_within_each_group_as_restics(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """`snapshots --group-by tags --latest 1`: restic groups first, then keeps the newest of
    each host and paths in each group; --latest had cut the whole list first, and whole
    groups went missing without a word. An untagged group's key has tags null, as restic's."""
    src = tmp_path / "src"
    write_file(src / "f", b"1")
    when = iter(range(1, 9))
    for host, tags in (("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("a", "")):
        time = f"2024-01-0{next(when)} 00:00:00"
        tagging = ("--tag", tags) if tags else ()
        done = run_cli("-r", cli_repo, "backup", str(src), "--host", host, "--time", time, *tagging)
        assert done.code == 0, done.stderr
    listed = run_cli("-r", cli_repo, "--json", "snapshots", "--group-by", "tags", "--latest", "1")
    assert listed.code == 0, listed.stderr
    groups = {
        json.dumps(g["group_key"]["tags"]): [
            (s["hostname"], s["time"][:10]) for s in g["snapshots"]
        ]
        for g in json.loads(listed.stdout)
    }
    assert groups == {
        "null": [("a", "2024-01-05")],
        '["x"]': [("a", "2024-01-01"), ("b", "2024-01-03")],
        '["y"]': [("a", "2024-01-02"), ("b", "2024-01-04")],
    }
    text = run_cli("-r", cli_repo, "snapshots", "--group-by", "tags", "--latest", "1").stdout
    assert text.count("snapshots for (") == 3 and text.rstrip().endswith("5 snapshots"), text
