"""The progress display (issue 17): on a terminal a live status with a percent and the totals
(a first backup's scanner provides them), "total unknown yet" until then; off a terminal no
progress and no ANSI escape; -vv lists each file as restic does; a wait is said on stderr."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from s3vault.cli.context import CliContext
from s3vault.cli.progress import WAIT_EVERY, Status, Waits
from tests.conftest import RunCli, write_file
from tests.faultproxy import FaultProxy
from tests.s3stores import S3Store

ANSI = re.compile(r"\x1b\[")
PERCENT_AND_TOTAL = re.compile(
    r"backup\s+\d+\.\d %  [\d,]+ of [\d,]+ files  [\d.]+ \w+ of [\d.]+ \w+"
)


def run_on_terminal(args: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """Run the real entry point (``python -m s3vault``) with stdin, stdout and stderr on a
    pseudo-terminal of 160 columns; returns (exit code, everything it wrote)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "s3vault", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal's last writer is gone
                break
            if not data:
                break
            out += data
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=10), out.decode(errors="replace")


def source_tree(root: Path, files: int = 24, size: int = 1 << 20) -> Path:
    """Incompressible files, enough that a backup takes a few refreshes of the display."""
    for i in range(files):
        write_file(root / f"d{i % 3}" / f"f{i:02d}.bin", os.urandom(size))
    return root


def test_progress_on_a_terminal_shows_percent_and_totals_of_a_first_backup(
    cli_repo: str, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    src = source_tree(tmp_path / "src")
    env = {**cli_env, "TERM": "xterm-256color"}
    env.pop("COLUMNS", None)
    code, out = run_on_terminal(["-r", cli_repo, "backup", str(src)], env)
    assert code == 0, out
    shown = ANSI.sub("", out)
    # the scanner gave the total: "backup  42.1 %  10 of 24 files  10.0 MiB of 24.0 MiB"
    assert PERCENT_AND_TOTAL.search(shown), shown
    assert "of 24 files" in shown
    assert "24.0 MiB" in shown
    assert "\x1b[" in out  # a live display (then erased), not lines
    assert "snapshot " in shown


def test_restore_and_verify_read_data_show_percent_on_a_terminal(
    cli_repo: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    src = source_tree(tmp_path / "src", files=12)
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    env = {**cli_env, "TERM": "xterm-256color"}
    target = tmp_path / "restored"
    code, out = run_on_terminal(["-r", cli_repo, "restore", "latest", "-t", str(target)], env)
    assert code == 0, out
    assert re.search(
        r"restore\s+\d+\.\d %  [\d,]+ of 12 files  [\d.]+ \w+ of 12\.0 MiB", ANSI.sub("", out)
    )
    code, out = run_on_terminal(["-r", cli_repo, "verify", "--read-data"], env)
    assert code == 0, out
    assert re.search(r"verify\s+\d+\.\d %  [\d,]+ of [\d,]+ packs", ANSI.sub("", out))


def test_no_progress_and_no_ansi_off_a_terminal(
    cli_repo: str, tmp_path: Path, run_cli: RunCli
) -> None:
    src = source_tree(tmp_path / "src", files=4, size=1 << 16)
    done = run_cli("-r", cli_repo, "-v", "backup", str(src))
    assert done.code == 0, done.stderr
    assert not ANSI.search(done.stdout), done.stdout
    assert not ANSI.search(done.stderr), done.stderr
    assert "%" not in done.stdout + done.stderr
    assert "total unknown yet" not in done.stderr


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_very_verbose_lists_each_file_new_modified_unchanged(
    cli_repo: str, tmp_path: Path, run_cli: RunCli, jobs: str
) -> None:
    """-vv lists every file with its status, from the worker processes too (--jobs 2)."""
    src = tmp_path / "src"
    write_file(src / "a.txt", b"a\n")
    write_file(src / "b.txt", b"b\n")
    for i in range(30):  # several directories: more than one worker gets some
        write_file(src / f"d{i % 5}" / f"f{i}", b"x" * i)
    first = run_cli("-r", cli_repo, "-vv", "backup", "--jobs", jobs, str(src))
    assert first.code == 0, first.stderr
    assert f"new       {src / 'a.txt'}" in first.stdout.splitlines()
    assert f"new       {src / 'b.txt'}" in first.stdout.splitlines()
    listed = [line for line in first.stdout.splitlines() if line.startswith("new ")]
    assert len(listed) == 32, first.stdout
    write_file(src / "b.txt", b"bigger now\n")
    write_file(src / "c.txt", b"c\n")
    second = run_cli("-r", cli_repo, "-vv", "backup", "--jobs", jobs, str(src))
    assert second.code == 0, second.stderr
    lines = second.stdout.splitlines()
    assert f"unchanged {src / 'd3' / 'f8'}" in lines
    assert f"unchanged {src / 'a.txt'}" in lines
    assert f"modified  {src / 'b.txt'}" in lines
    assert f"new       {src / 'c.txt'}" in lines
    quiet = run_cli("-r", cli_repo, "-v", "backup", str(src))
    assert "unchanged " not in quiet.stdout  # -v alone does not list files


def test_very_verbose_with_json_gives_verbose_status_objects(
    cli_repo: str, tmp_path: Path, run_cli: RunCli
) -> None:
    src = write_file(tmp_path / "src" / "a.txt", b"a\n").parent
    done = run_cli("-r", cli_repo, "-vv", "--json", "backup", str(src))
    assert done.code == 0, done.stderr
    objs = [json.loads(line) for line in done.stdout.splitlines()]
    verbose = [o for o in objs if o["message_type"] == "verbose_status"]
    assert verbose == [
        {"message_type": "verbose_status", "action": "new", "item": str(src / "a.txt")}
    ]


def status(**over: object) -> Status:
    base: dict[str, object] = {
        "phase": "backup",
        "elapsed": 10.0,
        "files": 5,
        "bytes_": 50 << 20,
        "total_files": 0,
        "total_bytes": 0,
        "total_known": False,
        "scanned": None,
        "errors": 0,
        "done": False,
        "in_flight": [],
    }
    base.update(over)
    return Status(**base)  # type: ignore[arg-type]


def test_status_total_unknown_yet_is_not_zero_percent() -> None:
    unknown = status(scanned=(1000, 3 << 30))
    assert "total unknown yet" in unknown.line()
    assert "%" not in unknown.line()
    assert "scanning: 1,000 files, 3.00 GiB so far" in unknown.line()
    fields = unknown.fields()
    assert fields["total_known"] is False
    assert "percent_done" not in fields
    assert "seconds_remaining" not in fields
    assert (fields["files_scanned"], fields["bytes_scanned"]) == (1000, 3 << 30)
    zero = status(total_known=True, total_files=10, total_bytes=100 << 20, bytes_=0, files=0)
    assert "  0.0 %" in zero.line()
    assert zero.fields()["percent_done"] == 0


def test_status_line_has_percent_throughput_eta_errors_in_flight() -> None:
    s = status(
        total_known=True,
        total_files=20,
        total_bytes=100 << 20,
        errors=2,
        in_flight=["/src/big.iso", "/src/other.iso"],
    )
    line = s.line()
    assert " 50.0 %" in line
    assert "5 of 20 files" in line
    assert "50.0 MiB of 100 MiB" in line
    assert "5.00 MiB/s" in line
    assert "ETA 10 seconds" in line
    assert "2 errors" in line
    assert s.fields()["current_files"] == ["/src/big.iso", "/src/other.iso"]
    assert s.fields()["seconds_remaining"] == 10
    assert status(total_known=True, total_bytes=100, done=True).fraction == 1.0
    assert "1 error" in status(errors=1).line()
    assert "1 errors" not in status(errors=1).line()


def test_a_wait_is_said_once_then_every_interval(capsys: object) -> None:
    now = [0.0]
    wall = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)
    ctx = CliContext()
    waits = Waits(ctx, monotonic=lambda: now[0], wall=lambda: wall)
    until = wall + timedelta(minutes=4, seconds=30)
    for _ in range(5):  # five backoffs in quick succession: one line
        waits.waiting("get data/ab/x to succeed", until=until)
        now[0] += 1
    now[0] += WAIT_EVERY
    waits.waiting("get data/ab/x to succeed", until=until)
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith("waiting for get data/ab/x to succeed: at most until ")
    assert "(4 minutes 30 seconds from now)" in lines[0]


def test_a_store_that_keeps_failing_says_the_command_waits(
    s3_store: S3Store, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """503 on every request until the retry deadline: one line says what is retried and until
    when (then one every 30 s: the deadline here is shorter), and then exit 14 as before."""
    src = write_file(tmp_path / "src" / "a.bin", os.urandom(1 << 16)).parent
    repo = ("-r", f"s3://{s3_store.bucket}/down", *s3_store.cli_args)
    assert run_cli(*repo, "init", "--kdf-cost", "minimum", env=s3_store.env(cli_env)).code == 0
    with FaultProxy(s3_store.endpoint, rate=1.0, kinds=("503",)) as proxy:
        env = s3_store.env(cli_env, proxy.url)
        # boto3 retries inside one attempt for ~3 s: the deadline leaves room for a second
        done = run_cli(*repo, "--retry-deadline", "8", "backup", str(src), env=env)
    assert done.code == 14, done.stderr
    waits = [line for line in done.stderr.splitlines() if line.startswith("waiting for ")]
    assert len(waits) == 1, done.stderr
    assert " to succeed (attempt 1 failed: " in waits[0]
    assert re.search(r": at most until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d \(", waits[0])
    assert not ANSI.search(done.stderr)
