"""The standard streams as cron, a closed descriptor, `| head` or a full disk leave them
(s3vault/cli/streams.py), and SIGHUP. Fresh console-script processes: the descriptors are the
point. Found by an operator's attack pass (2026-12-06): with stdout closed every command ended
in an internal error; `backup | head -1` saved its snapshot but left no audit record (exit 1, no
message); `init` with stdout closed or full made a recovery key nobody saw; SIGHUP (a dropped
ssh session) left prune's lease behind for half an hour."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli.test_suspend import wait_stopped
from tests.conftest import S3VAULT, RunCli, write_file


def _run(
    args: list[str], env: dict[str, str], **streams: object
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([S3VAULT, *args], env=env, timeout=120, check=False, **streams)  # type: ignore[call-overload,no-any-return]


def _closed(args: list[str], env: dict[str, str], which: str) -> subprocess.CompletedProcess[bytes]:
    """The command with the descriptors in ``which`` ("0", "1", "2") closed, as ``>&-`` does."""
    redirections = " ".join(f"{fd}>&-" if fd != "0" else "<&-" for fd in which)
    return subprocess.run(
        ["sh", "-c", f'exec "$0" "$@" {redirections}', S3VAULT, *args],
        env=env,
        capture_output=True,  # what the shell leaves open
        timeout=120,
        check=False,
    )


def _keys(run_cli: RunCli, url: str) -> list[str]:
    return [k["kind"] for k in json.loads(run_cli("-r", url, "--json", "key", "list").stdout)]


def test_init_with_stdout_closed_refuses_before_it_makes_anything(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    url = str(tmp_path / "repo")
    done = _closed(["-r", url, "init", "--kdf-cost", "minimum"], cli_env, "1")
    assert done.returncode == 2
    assert b"recovery key" in done.stderr and b"--no-recovery-key" in done.stderr
    assert not Path(url).exists()


def test_a_recovery_key_that_could_not_be_written_is_removed_again(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """init > /dev/full: the repository is made, the recovery key's file removed again, and
    the command fails saying so; `key add --recovery` the same."""
    url = str(tmp_path / "repo")
    with open("/dev/full", "wb") as full:
        made = _run(
            ["-r", url, "init", "--kdf-cost", "minimum"],
            cli_env,
            stdout=full,
            stderr=subprocess.PIPE,
        )
        assert made.returncode == 1, made.stderr
        assert b"could not be written to standard output" in made.stderr
        assert _keys(run_cli, url) == ["password"]
        added = _run(
            ["-r", url, "key", "add", "--recovery"], cli_env, stdout=full, stderr=subprocess.PIPE
        )
        assert added.returncode == 1 and b"removed again" in added.stderr
    assert _keys(run_cli, url) == ["password"]


def test_a_backup_whose_reader_went_away_finishes_with_its_records(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """stdout a pipe nobody reads any more (`| head -1` after its line), then every standard
    descriptor closed: the backup is saved, audited, and exits 0 both times."""
    url = str(tmp_path / "repo")
    assert run_cli("-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    src = tmp_path / "src"
    write_file(src / "a", os.urandom(5_000))
    read, write = os.pipe()
    os.close(read)
    try:
        gone = _run(
            ["-r", url, "-v", "backup", str(src)], cli_env, stdout=write, stderr=subprocess.PIPE
        )
    finally:
        os.close(write)
    assert gone.returncode == 0, gone.stderr
    closed = _closed(["-r", url, "backup", str(src)], cli_env, "012")
    assert closed.returncode == 0
    assert len(json.loads(run_cli("-r", url, "--json", "snapshots").stdout)) == 2
    audit = run_cli("-r", url, "audit")
    assert audit.code == 0 and audit.stdout.count("backup") == 2, audit.stdout


def test_sighup_ends_a_prune_as_sigterm_does_and_releases_its_lease(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    url = str(tmp_path / "repo")
    assert run_cli("-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    write_file(tmp_path / "src" / "a", os.urandom(5_000))
    assert run_cli("-r", url, "backup", str(tmp_path / "src")).code == 0
    proc = subprocess.Popen(
        [S3VAULT, "-r", url, "prune"],
        env={**cli_env, "S3VAULT_TEST_STOP_AT": "prune-after-plan"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_stopped(proc)
        assert [p.name for p in (Path(url) / "locks").iterdir()] == ["maintenance"]
        proc.send_signal(signal.SIGHUP)
    finally:
        proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"interrupted" in err
    assert list((Path(url) / "locks").iterdir()) == []


def test_an_interrupted_json_command_writes_only_json_lines_to_stderr(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """click printed an empty line on stderr before the JSON error of an interrupted command:
    a blank line in the JSON lines a supervisor reads."""
    url = str(tmp_path / "repo")
    assert run_cli("-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    write_file(tmp_path / "src" / "a", os.urandom(5_000))
    proc = subprocess.Popen(
        [S3VAULT, "-r", url, "--json", "backup", str(tmp_path / "src")],
        env={**cli_env, "S3VAULT_TEST_STOP_AT": "pack-stored"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_stopped(proc)
        proc.send_signal(signal.SIGINT)
    finally:
        proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    lines = err.decode().splitlines()
    assert lines and all(json.loads(line)["message_type"] for line in lines), lines


@pytest.mark.parametrize("unbuffered", ["", "1"], ids=["buffered", "PYTHONUNBUFFERED"])
def test_a_command_that_only_shows_something_says_when_it_cannot(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli, unbuffered: str
) -> None:
    """stdout on a full disk: `cat config`, `--version` and `dump` exit 1 with one line
    (cat and --version printed nothing and exited 0: click's echo swallowed the first error
    and every later write went to /dev/null; dump's was an internal error). Buffered, a
    listing lost when it was flushed at the end exited 0 with a warning (a review,
    2026-12-06): `snapshots --json > f` on a full disk, and a script read the cut-off f."""
    url = str(tmp_path / "repo")
    assert run_cli("-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    write_file(tmp_path / "src" / "a", os.urandom(5_000))
    assert run_cli("-r", url, "backup", str(tmp_path / "src")).code == 0
    env = {**cli_env, "PYTHONUNBUFFERED": unbuffered}
    with open("/dev/full", "wb") as full:
        for args in (
            ["-r", url, "cat", "config"],
            ["--version"],
            ["-r", url, "dump", "latest", str(tmp_path / "src")],
            ["-r", url, "--json", "snapshots"],
            ["-r", url, "ls", "latest"],
        ):
            done = _run(args, env, stdout=full, stderr=subprocess.PIPE)
            assert done.returncode == 1, (args, done.stderr)
            assert b"cannot write to standard output" in done.stderr, done.stderr
            assert b"internal error" not in done.stderr


def test_key_add_recovery_with_stdout_closed_names_no_option_it_lacks(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    url = str(tmp_path / "repo")
    assert run_cli("-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    done = _closed(["-r", url, "key", "add", "--recovery"], cli_env, "1")
    assert done.returncode == 2 and b"recovery key" in done.stderr
    assert b"--no-recovery-key" not in done.stderr
    assert _keys(run_cli, url) == ["password"]


def test_a_backup_whose_report_hit_a_full_disk_is_saved_and_says_so(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """`backup >> /full/log` (and with -vv, or --json): the snapshot is saved and the exit
    is 0, and one line on stderr says the report was not written (it said nothing: the log
    was silently short). A reader that went away (`| head`) gets no such line."""
    url = str(tmp_path / "repo")
    assert run_cli("-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    src = tmp_path / "src"
    write_file(src / "a", os.urandom(5_000))
    with open("/dev/full", "wb") as full:
        for extra in ([], ["-vv"], ["--json"]):
            done = _run(
                ["-r", url, *extra, "backup", str(src)],
                cli_env,
                stdout=full,
                stderr=subprocess.PIPE,
            )
            assert done.returncode == 0, (extra, done.stderr)
            lines = [ln for ln in done.stderr.decode().splitlines() if "standard output" in ln]
            assert len(lines) == 1 and "No space left on device" in lines[0], (extra, done.stderr)
    assert len(json.loads(run_cli("-r", url, "--json", "snapshots").stdout)) == 3
    read, write = os.pipe()
    os.close(read)
    try:
        gone = _run(["-r", url, "backup", str(src)], cli_env, stdout=write, stderr=subprocess.PIPE)
    finally:
        os.close(write)
    assert gone.returncode == 0 and b"standard output" not in gone.stderr, gone.stderr


def _ended(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """The process's stderr once it ended (killed, and the test failed, if it outlived
    ``timeout`` seconds)."""
    try:
        return proc.communicate(timeout=timeout)[1] or b""
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def _read_slowly(args: list[str], env: dict[str, str]) -> tuple[int, bytes, bytes]:
    """The command with stdout a non-blocking pipe that is read 16 KiB at a time, a little
    later each time: its writes come back short or would block, as a stop and continue (a
    shell's ^Z and fg, a debugger) or a parent's non-blocking pipe makes them."""
    out_r, out_w = os.pipe()
    os.set_blocking(out_w, False)
    with subprocess.Popen([S3VAULT, *args], env=env, stdout=out_w, stderr=subprocess.PIPE) as proc:
        os.close(out_w)
        chunks = []
        while chunk := os.read(out_r, 16384):
            chunks.append(chunk)
            time.sleep(0.0005)
        os.close(out_r)
        assert proc.stderr is not None
        err = proc.stderr.read()
        return proc.wait(timeout=120), b"".join(chunks), err


@pytest.mark.parametrize("unbuffered", ["", "1"], ids=["buffered", "PYTHONUNBUFFERED"])
def test_output_to_a_pipe_that_takes_part_of_each_write_is_written_whole(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli, unbuffered: str
) -> None:
    """Found by a run of the suite under a sampling profiler (2026-12-06): under
    PYTHONUNBUFFERED=1, usual in container images, a write cut short by a stop and continue
    lost the rest of its bytes: `dump` of a 24 MiB file to a pipe gave 23.1 MiB with exit 0,
    and `ls` lost lines. Buffered, a non-blocking stdout ended the command in "cannot write to
    standard output: Resource temporarily unavailable"."""
    data = os.urandom(6 << 20)
    src = tmp_path / "src"
    write_file(src / "big.bin", data)
    for i in range(1500):
        write_file(src / "many" / f"file-{i:04d}.txt", b"x")
    repo = str(tmp_path / "repo")
    assert run_cli("-r", repo, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    assert run_cli("-r", repo, "backup", str(src)).code == 0
    env = {**cli_env, "PYTHONUNBUFFERED": unbuffered}
    code, out, err = _read_slowly(["-r", repo, "dump", "latest", f"{src}/big.bin"], env)
    assert (code, err) == (0, b"")
    assert out == data
    code, out, err = _read_slowly(["-r", repo, "ls", "latest"], env)
    assert (code, err) == (0, b"")
    assert out == run_cli("-r", repo, "ls", "latest").stdout_bytes
    assert out.count(b"/many/file-") == 1500


def test_standard_input_that_would_block_is_waited_for_not_taken_for_its_end(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """stdin a non-blocking pipe (as a parent can leave it) fed 64 KiB at a time: `backup
    --stdin` saved the first 64 KiB of 2 MiB and said it was complete, exit 0; `--files-from
    -` can lose names the same way."""
    repo = str(tmp_path / "repo")
    assert run_cli("-r", repo, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    data = os.urandom(2 << 20)
    in_r, in_w = os.pipe()
    os.set_blocking(in_r, False)
    args = [S3VAULT, "-r", repo, "--json", "backup", "--stdin", "--stdin-filename", "db.dump"]
    with subprocess.Popen(args, env=cli_env, stdin=in_r, stdout=subprocess.PIPE) as proc:
        os.close(in_r)
        view = memoryview(data)
        with contextlib.suppress(BrokenPipeError):  # (the old code stopped reading)
            while view:
                view = view[os.write(in_w, view[:65536]) :]
                time.sleep(0.002)
        os.close(in_w)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert json.loads(out.splitlines()[-1])["total_bytes_processed"] == len(data)
    assert run_cli("-r", repo, "dump", "latest", "/db.dump").stdout_bytes == data


@pytest.mark.parametrize("columns", ["0", "00"])
def test_a_zero_width_in_the_environment_still_shows_every_message(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli, columns: str
) -> None:
    """Found by an operator's attack pass (2026-12-06): with COLUMNS=0 every line rich wrote
    was empty: a missing repository exited 10 saying nothing, restore's warnings and the
    snapshot count vanished. restic prints its error."""
    env = {**cli_env, "COLUMNS": columns, "LINES": "0"}
    missing = _run(["-r", str(tmp_path / "none"), "snapshots"], env, capture_output=True)
    assert missing.returncode == 10
    assert b"Fatal: no repository at" in missing.stderr
    url = str(tmp_path / "repo")
    assert run_cli("-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    listed = _run(["-r", url, "snapshots"], env, capture_output=True)
    assert (listed.returncode, listed.stdout.splitlines()[-1]) == (0, b"0 snapshots")


def test_a_signal_ends_a_listing_whose_reader_reads_nothing(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """Found by a review of the whole-writes change (2026-12-06): `ls` into a pipe nobody reads
    (buffered output) said "interrupted" on SIGTERM, then blocked for good flushing what its
    buffer kept, with SIGTERM and SIGINT ignored by then: only SIGKILL ended it. It exits 130."""
    src = tmp_path / "src"
    for i in range(3000):
        write_file(src / f"a-rather-long-file-name-to-fill-the-pipe-{i:05d}.txt", b"x")
    repo = str(tmp_path / "repo")
    assert run_cli("-r", repo, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    assert run_cli("-r", repo, "backup", "-q", str(src)).code == 0
    env = {k: v for k, v in cli_env.items() if k != "PYTHONUNBUFFERED"}
    out_r, out_w = os.pipe()  # never read
    try:
        with subprocess.Popen(
            [S3VAULT, "-r", repo, "ls", "latest"], env=env, stdout=out_w, stderr=subprocess.PIPE
        ) as proc:
            os.close(out_w)
            out_w = -1
            time.sleep(2)  # its listing fills the pipe and waits there
            proc.send_signal(signal.SIGTERM)
            err = _ended(proc, 20)
    finally:
        os.close(out_r)
        if out_w >= 0:
            os.close(out_w)
    assert proc.returncode == 130, err
    assert b"interrupted" in err


def test_backup_of_standard_input_on_a_terminal_ends_at_the_first_end_of_input(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """Found by a review (2026-12-06): `backup --stdin` typed on a terminal waited for a second
    ^D: the first ended one read, and the chunker asked again. The input ends at the first."""
    repo = str(tmp_path / "repo")
    assert run_cli("-r", repo, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    primary, secondary = os.openpty()
    try:
        args = [S3VAULT, "-r", repo, "backup", "--stdin", "--stdin-filename", "typed.txt"]
        with subprocess.Popen(
            args, env=cli_env, stdin=secondary, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        ) as proc:
            os.write(primary, b"typed on a terminal\n")
            time.sleep(0.5)
            os.write(primary, b"\x04")  # ^D at the start of a line: the end of the input
            err = _ended(proc, 30)
    finally:
        os.close(primary)
        os.close(secondary)
    assert proc.returncode == 0, err
    assert run_cli("-r", repo, "dump", "latest", "/typed.txt").stdout == "typed on a terminal\n"


def test_a_signal_ends_a_dump_whose_output_and_errors_share_a_pipe_read_by_no_one(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """Found by a review (2026-12-06): `dump > fifo 2>&1` into a reader that reads nothing
    wrote "interrupted" into the same full pipe on SIGTERM and waited there for a second
    signal. The first ends it: its last words wait at most a second for room."""
    src = tmp_path / "src"
    write_file(src / "big.bin", os.urandom(4 << 20))
    repo = str(tmp_path / "repo")
    assert run_cli("-r", repo, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    assert run_cli("-r", repo, "backup", "-q", str(src)).code == 0
    out_r, out_w = os.pipe()  # never read
    try:
        args = [S3VAULT, "-r", repo, "dump", "latest", f"{src}/big.bin"]
        with subprocess.Popen(args, env=cli_env, stdout=out_w, stderr=out_w) as proc:
            time.sleep(2)  # the pipe is full, the dump waits for its reader
            proc.send_signal(signal.SIGTERM)
            _ended(proc, 15)
    finally:
        os.close(out_r)
        os.close(out_w)
    assert proc.returncode == 130
