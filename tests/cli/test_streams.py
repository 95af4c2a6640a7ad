"""The standard streams as cron, a closed descriptor, `| head` or a full disk leave them
(s3vault/cli/streams.py), and SIGHUP. Fresh console-script processes: the descriptors are the
point. Found by an operator's attack pass (2026-12-06): with stdout closed every command ended
in an internal error; `backup | head -1` saved its snapshot but left no audit record (exit 1, no
message); `init` with stdout closed or full made a recovery key nobody saw; SIGHUP (a dropped
ssh session) left prune's lease behind for half an hour."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

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


def test_a_command_that_only_shows_something_says_when_it_cannot(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """stdout on a full disk: `cat config`, `--version` and `dump` exit 1 with one line
    (cat and --version printed nothing and exited 0: click's echo swallowed the first error
    and every later write went to /dev/null; dump's was an internal error)."""
    url = str(tmp_path / "repo")
    assert run_cli("-r", url, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    write_file(tmp_path / "src" / "a", os.urandom(5_000))
    assert run_cli("-r", url, "backup", str(tmp_path / "src")).code == 0
    with open("/dev/full", "wb") as full:
        for args in (
            ["-r", url, "cat", "config"],
            ["--version"],
            ["-r", url, "dump", "latest", str(tmp_path / "src")],
        ):
            done = _run(args, cli_env, stdout=full, stderr=subprocess.PIPE)
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
