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
    wrong = run_cli("-r", cli_repo, "dump", web1["short_id"], name, "--host", "db1")
    assert wrong.code == 2, wrong.stderr
    assert "does not match --host db1" in wrong.stderr
    assert wrong.stdout == ""
