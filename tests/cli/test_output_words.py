"""Output for people and for scripts (issue 17): durations in words, never a Python
``timedelta`` (``0:00:05``, ``1 day, 0:00:00``) or ``None`` in any text or JSON the main
commands print; ``1 file`` vs ``2 files``; tables that never break an id or a path off a
terminal; one name per concept in JSON (``snapshot_id``, ``message_type``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from s3vault.cli.render import human_bytes, human_duration, plural
from tests.conftest import RunCli, write_file
from tests.timetravel import TimeTravel

RAW = re.compile(r"timedelta\(|\bNone\b|\b\d+:\d\d:\d\d(?!\.\d)(?![+-]\d\d:\d\d)|\b\d+ days?, \d")
ISO_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?")


def commands(repo: str, src: Path, target: Path) -> list[list[str]]:
    return [
        ["snapshots"],
        ["key", "list"],
        ["stats"],
        ["verify"],
        ["verify", "--read-data"],
        ["restore-test", "latest", "--rto-target", "1h", "--rpo-target", "1d"],
        ["restore-test", "--history"],
        ["forget", "--keep-last", "1", "--dry-run"],
        ["prune", "--dry-run"],
        ["ls", "latest"],
        ["find", "a.txt"],
        ["diff", "latest~1", "latest"],
        ["restore", "latest", "--target", str(target)],
        ["audit"],
        ["list", "snapshots"],
        ["backup", str(src)],
    ]


@pytest.fixture
def two_snapshots(cli_repo: str, tmp_path: Path, run_cli: RunCli) -> Path:
    src = tmp_path / "src"
    write_file(src / "a.txt", b"a\n")
    write_file(src / "sub" / "b.bin", b"b" * 5000)
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    write_file(src / "c.txt", b"c\n")
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    return src


def test_no_timedelta_none_or_clock_durations_in_text_or_json(
    cli_repo: str, two_snapshots: Path, tmp_path: Path, run_cli: RunCli
) -> None:
    bad: list[str] = []
    for n, command in enumerate(commands(cli_repo, two_snapshots, tmp_path / "restored")):
        for mode in ([], ["--json"]):
            args = command
            if args[0] == "restore":
                args = [*args[:-1], str(tmp_path / f"restored-{n}-{len(mode)}")]
            done = run_cli("-r", cli_repo, *mode, *args)
            assert done.code in (0, 3), (args, mode, done.stderr)
            for stream in (done.stdout, done.stderr):
                text = ISO_TIME.sub("<time>", stream)
                bad += [f"{' '.join(mode + args)}: {m.group(0)!r}" for m in RAW.finditer(text)]
            if mode and args[0] != "list":  # list prints ids, as restic's does
                for line in done.stdout.splitlines():
                    json.loads(line)  # every line is JSON
    assert not bad, bad


def test_restore_test_json_says_which_target_failed(
    cli_repo: str, two_snapshots: Path, run_cli: RunCli, time_travel: TimeTravel
) -> None:
    del two_snapshots
    if not time_travel.simulated:
        pytest.skip("needs the fork server's simulated time")
    time_travel.advance(2 * 3600)  # the latest snapshot is two hours old
    done = run_cli(
        "-r", cli_repo, "--json", "restore-test", "--rpo-target", "1h", "--rto-target", "1d"
    )
    summary = json.loads(done.stdout.splitlines()[-1])
    assert done.code == 13, done.stderr
    assert summary["failed_targets"] == ["rpo"]
    assert summary["snapshot_id"] == summary["snapshot"]
    text = run_cli("-r", cli_repo, "restore-test", "--rpo-target", "1h")
    assert "result:        FAIL (RPO target missed)" in text.stdout
    passed = run_cli("-r", cli_repo, "--json", "restore-test", "--rto-target", "1d")
    assert json.loads(passed.stdout.splitlines()[-1])["failed_targets"] == []


def test_words_for_durations_counts_and_sizes() -> None:
    assert human_duration(86400) == "1 day"
    assert human_duration(180 * 86400) == "6 months"
    assert human_duration(2 * 3600 + 5 * 60 + 3) == "2 hours 5 minutes"
    assert human_duration(3600 + 3) == "1 hour"
    assert human_duration(45) == "45 seconds"
    assert human_duration(0.2) == "0.2 seconds"  # --grace 0.5s said "0 seconds"
    assert human_duration(0.5) == "0.5 seconds" and human_duration(0) == "0 seconds"
    assert human_duration(0.999) == "0.999 seconds" and human_duration(0.9996) == "1 second"
    assert human_duration(1e-05) == "0 seconds" and human_duration(0.0125) == "0.013 seconds"
    assert plural(1, "file") == "1 file"
    assert plural(2, "file") == "2 files"
    assert plural(0, "match", "matches") == "0 matches"
    assert plural(12345, "file") == "12,345 files"
    assert human_bytes(512) == "512 B"
    assert human_bytes(1536) == "1.50 KiB"
    assert human_bytes(15.2 * 2**20) == "15.2 MiB"
    assert human_bytes(152 * 2**30) == "152 GiB"


@pytest.mark.parametrize("command", [["snapshots"], ["key", "list"], ["stats"]])
def test_tables_never_break_an_id_or_path_off_a_terminal(
    cli_repo: str, tmp_path: Path, run_cli: RunCli, cli_env: dict[str, str], command: list[str]
) -> None:
    deep = tmp_path / "a-rather-long-directory-name" / "and-another-long-one"
    write_file(deep / "f.txt", b"x")
    assert run_cli("-r", cli_repo, "backup", str(deep)).code == 0
    done = run_cli("-r", cli_repo, *command, env={**cli_env, "COLUMNS": "40"})
    assert done.code == 0, done.stderr
    out = done.stdout
    assert "\x1b" not in out
    if command == ["snapshots"]:
        assert str(deep) in out  # whole, on one line
        line = next(x for x in out.splitlines() if str(deep) in x)
        assert re.match(r"^[0-9a-f]{8}\s", line), line
    if command == ["key", "list"]:
        assert re.search(r"\b[0-9a-f]{8}\b", out)
    for line in out.splitlines():
        # a wrapped table leaves a continuation line that starts with a fragment of a word
        assert not re.match(r"^\s+[0-9a-f]{1,7}$", line), out
    assert "…" not in out or command == ["stats"]


@pytest.mark.parametrize(
    "args",
    [
        ["--json", "snapshots", "extra"],
        ["snapshots", "--json", "--no-such-flag"],
        ["--json", "forget", "--keep-within", "1h30m"],
    ],
)
def test_usage_errors_under_json_are_one_json_object_on_stderr(
    cli_repo: str, run_cli: RunCli, args: list[str]
) -> None:
    done = run_cli("-r", cli_repo, *args)
    assert done.code == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    obj = json.loads(line)
    assert obj["message_type"] == "error"
    assert obj["exit_code"] == 2
    assert obj["message"]


def test_every_json_object_has_a_message_type_and_one_name_for_a_snapshot_id(
    cli_repo: str, two_snapshots: Path, tmp_path: Path, run_cli: RunCli
) -> None:
    ids = {s["id"] for s in json.loads(run_cli("-r", cli_repo, "--json", "snapshots").stdout)}
    runs = [
        ["backup", str(two_snapshots)],
        ["find", "a.txt"],
        ["diff", "latest~1", "latest"],
        ["restore", "latest", "--target", str(tmp_path / "r")],
        ["restore-test"],
        ["restore-test", "--history"],
        ["forget", "--keep-last", "1", "--dry-run"],
        ["ls", "latest"],
        ["stats"],
        ["verify"],
        ["prune", "--dry-run"],
    ]
    named = 0
    for args in runs:
        done = run_cli("-r", cli_repo, "--json", *args)
        assert done.code == 0, (args, done.stderr)
        for line in done.stdout.splitlines():
            obj = json.loads(line)
            assert isinstance(obj, dict) and obj.get("message_type"), (args, obj)
            assert "snapshot" not in obj or "snapshot_id" in obj, (args, obj)
            for key in ("snapshot_id", "first_snapshot_id", "second_snapshot_id"):
                if obj.get(key):
                    named += 1
                    assert len(obj[key]) == 64, (args, obj)
                    if args[0] == "backup":
                        ids.add(obj[key])  # the snapshot it made
                    assert obj[key] in ids, (args, key, obj)
    assert named >= 6


def test_json_status_lines_say_when_the_total_is_unknown(
    cli_repo: str, tmp_path: Path, run_cli: RunCli
) -> None:
    src = tmp_path / "src"
    for i in range(6):
        write_file(src / f"f{i}.bin", bytes([i]) * (256 << 10))
    done = run_cli("-r", cli_repo, "--json", "backup", str(src))
    assert done.code == 0, done.stderr
    objs = [json.loads(line) for line in done.stdout.splitlines()]
    status = [o for o in objs if o["message_type"] == "status"]
    assert status, objs  # the first one goes out at once
    for s in status:
        assert {"files_done", "bytes_done", "total_known", "error_count", "current_files"} <= set(s)
        assert ("percent_done" in s) == s["total_known"]
    assert objs[-1]["message_type"] == "summary"
