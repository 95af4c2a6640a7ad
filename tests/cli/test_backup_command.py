"""backup --stdin-from-command (restic 0.17) and --skip-if-unchanged, through the real entry
point."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.conftest import RunCli, write_file


def snapshot_ids(run_cli: RunCli, repo: str) -> list[str]:
    done = run_cli("-r", repo, "snapshots", "--json")
    assert done.code == 0, done.stderr
    return [s["id"] for s in json.loads(done.stdout)]


def test_stdin_from_command_stores_its_output_and_nothing_when_it_fails(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    script = "import sys; sys.stdout.write('row %d\\n' * 3 % (1, 2, 3))"
    done = run_cli(
        "-r", cli_repo, "backup", "--stdin-filename", "dumps/db.sql",
        "--stdin-from-command", "--", sys.executable, "-c", script,
    )  # fmt: skip
    assert done.code == 0, done.stderr
    out = tmp_path / "dump"
    shown = run_cli("-r", cli_repo, "dump", "latest", "/dumps/db.sql")
    assert shown.code == 0, shown.stderr
    assert shown.stdout == "row 1\nrow 2\nrow 3\n"
    before = snapshot_ids(run_cli, cli_repo)
    # a dump that writes half its output and fails: no snapshot, exit 1, the command named
    failing = "import sys; sys.stdout.write('partial'); sys.stdout.flush(); sys.exit(3)"
    done = run_cli(
        "-r", cli_repo, "backup", "--stdin-from-command", "--", sys.executable, "-c", failing
    )
    assert done.code == 1, done.stderr
    assert "exited with 3" in done.stderr and "no snapshot" in done.stderr
    assert snapshot_ids(run_cli, cli_repo) == before
    missing = run_cli("-r", cli_repo, "backup", "--stdin-from-command", "--", str(out / "nope"))
    assert missing.code == 2, missing.stderr
    assert "cannot run" in missing.stderr
    no_command = run_cli("-r", cli_repo, "backup", "--stdin-from-command")
    assert no_command.code == 2, no_command.stderr
    both = run_cli("-r", cli_repo, "backup", "--stdin", "--stdin-from-command", "--", "true")
    assert both.code == 2, both.stderr
    assert snapshot_ids(run_cli, cli_repo) == before
    check = run_cli("-r", cli_repo, "verify", "--read-data")
    assert check.code == 0, check.stdout + check.stderr


def test_skip_if_unchanged_writes_no_snapshot_until_something_changes(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    # --root: the snapshot's tree holds no directory above the data (the busy /tmp's mtime
    # changes between two runs, and a tree with it would rightly count as changed)
    data = tmp_path / "data"
    src = data / "src"
    write_file(src / "a.txt", b"one")
    source = ("--root", str(data), "/src")
    first = run_cli("-r", cli_repo, "backup", *source, "--skip-if-unchanged")
    assert first.code == 0, first.stderr  # no parent: a snapshot
    assert len(snapshot_ids(run_cli, cli_repo)) == 1
    again = run_cli("-r", cli_repo, "--json", "backup", *source, "--skip-if-unchanged")
    assert again.code == 0, again.stderr
    summary = json.loads(again.stdout.splitlines()[-1])
    assert summary["skipped"] is True and summary["snapshot_id"] is None
    assert len(snapshot_ids(run_cli, cli_repo)) == 1
    text = run_cli("-r", cli_repo, "backup", *source, "--skip-if-unchanged")
    assert "no snapshot written" in text.stdout
    plain = run_cli("-r", cli_repo, "backup", *source)  # without the flag: a snapshot, as ever
    assert plain.code == 0
    assert len(snapshot_ids(run_cli, cli_repo)) == 2
    (src / "a.txt").write_bytes(b"two")
    changed = run_cli("-r", cli_repo, "--json", "backup", *source, "--skip-if-unchanged")
    assert changed.code == 0, changed.stderr
    assert json.loads(changed.stdout.splitlines()[-1])["skipped"] is False
    assert len(snapshot_ids(run_cli, cli_repo)) == 3


def test_an_empty_stdin_writes_no_snapshot(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    """`pg_dump | s3vault backup --stdin` where pg_dump failed: nothing arrived, and an empty
    file was saved as the newest backup (exit 0), which `forget --keep-last 1` then kept over
    the last good dump. restic refuses an empty --stdin ("snapshot is empty", exit 1); so
    does s3vault now."""
    good = run_cli("-r", cli_repo, "backup", "--stdin", "--stdin-filename", "db.sql", input=b"x")
    assert good.code == 0, good.stderr
    before = snapshot_ids(run_cli, cli_repo)
    empty = run_cli("-r", cli_repo, "backup", "--stdin", "--stdin-filename", "db.sql", input=b"")
    assert empty.code == 1, empty.stderr
    assert "read nothing from standard input" in empty.stderr
    assert snapshot_ids(run_cli, cli_repo) == before
    command = ("backup", "--stdin-from-command", "--", sys.executable, "-c", "pass")
    assert run_cli("-r", cli_repo, *command).code == 1
    failing = ("backup", "--stdin-from-command", "--", sys.executable, "-c", "exit(4)")
    failed = run_cli("-r", cli_repo, *failing)  # no output and a failure: the failure is said
    assert failed.code == 1 and "exited with 4" in failed.stderr, failed.stderr
    assert snapshot_ids(run_cli, cli_repo) == before
    write_file(tmp_path / "private" / "key", b"k").parent.chmod(0)
    write_file(tmp_path / "www" / "index.html", b"site")
    both = run_cli("-r", cli_repo, "backup", str(tmp_path / "www"), str(tmp_path / "private"))
    assert both.code in (0, 3), both.stderr  # root reads mode 000; anyone else: exit 3
    assert len(snapshot_ids(run_cli, cli_repo)) == len(before) + 1  # www is saved either way
