"""restore, restore-test and verify --read-data with --jobs: the worker processes of
s3vault/workerpool.py through the real entry point. Parallel and serial restores give the same
tree; a parallel read-back finds the same damage as the serial one; a killed worker fails the
run with a clear message and exit code 1, and a restore it stopped claims no file complete
that is not (the next restore completes the target)."""

from __future__ import annotations

import json
import os
import random
import re
import stat
from pathlib import Path

import pytest

from s3vault.checker.checker import SERIAL_REMOTE_UP_TO_CORES, read_back_jobs
from s3vault.workerpool import SERIAL_BELOW_BYTES, default_jobs, jobs_for
from tests.cli.test_s3 import s3_env
from tests.conftest import RunCli, write_file
from tests.readonly import mount_tmpfs, unmount
from tests.trees import snapshot_tree


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files spread over several 4 MiB packs: small ones, big ones, zeros and holes, a hard
    link, a symlink, an empty file, odd modes, a name of odd bytes (not UTF-8, an escape
    sequence, a newline)."""
    src = tmp_path_factory.mktemp("par") / "src"
    for d in range(3):
        for f in range(40):
            write_file(src / f"d{d}" / f"f{f}", os.urandom(50 + 1500 * f))
    for n in range(3):
        write_file(src / f"big{n}.bin", os.urandom(3 << 20))
    write_file(src / "zeros.bin", bytes(2 << 20))
    write_file(src / "sparse.bin", os.urandom(10_000) + bytes(1 << 20) + os.urandom(7_000))
    write_file(src / "empty", b"")
    os.link(src / "big0.bin", src / "d1" / "big-link.bin")
    (src / "link").symlink_to("big1.bin")
    (src / "d2" / "f3").chmod(0o640)
    write_file(src / os.fsdecode(b"odd \xff\x1b[2J\nname"), b"odd bytes in the name\n")
    return src


def backed_up(run_cli: RunCli, repo: str, src: Path) -> None:
    done = run_cli("-r", repo, "backup", "--root", str(src.parent), "/src")
    assert done.code == 0, done.stderr


def test_parallel_and_serial_restores_give_the_same_tree(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, source: Path
) -> None:
    backed_up(run_cli, cli_repo, source)
    trees = {}
    for jobs in ("1", "2"):
        target = tmp_path / f"r{jobs}"
        done = run_cli("-r", cli_repo, "restore", "latest", "-t", str(target), "--jobs", jobs)
        assert done.code == 0, done.stderr
        trees[jobs] = snapshot_tree(target / "src")
    assert trees["1"] == trees["2"] == snapshot_tree(source)
    sparse = (tmp_path / "r2" / "src" / "sparse.bin").stat()
    assert sparse.st_blocks * 512 < sparse.st_size  # the hole stayed a hole
    done = run_cli("-r", cli_repo, "restore-test", "--jobs", "2", "--json")
    assert done.code == 0, done.stdout + done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["passed"] is True


def test_parallel_read_back_finds_the_same_damage(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, source: Path
) -> None:
    backed_up(run_cli, cli_repo, source)
    packs = sorted(p for p in Path(cli_repo, "data").rglob("*") if p.is_file())
    assert len(packs) >= 3
    damaged = bytearray(packs[1].read_bytes())
    damaged[len(damaged) // 3] ^= 0x55
    packs[1].write_bytes(bytes(damaged))
    packs[2].unlink()
    runs = []
    for jobs in ("1", "2"):
        done = run_cli("-r", cli_repo, "verify", "--read-data", "--jobs", jobs, "--json")
        assert done.code == 13, done.stderr
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        findings = [x for x in lines if x["message_type"] == "finding"]
        summary = lines[-1]
        # the workers' downloads are counted (the first run also fills the cache: not equal)
        assert summary["requests"]["bytes_down"] >= summary["bytes_read"]
        # (the ledger file names this run's proofs with its time: one per run)
        for volatile in ("total_duration", "bytes_per_second", "requests", "ledger_file"):
            del summary[volatile]
        runs.append((findings, summary))
    assert runs[0] == runs[1]
    assert any(f["paths"] for f in runs[0][0])  # the damage is attributed to lost paths
    text = [run_cli("-r", cli_repo, "verify", "--read-data", "-j", j) for j in ("1", "2")]
    assert text[0].code == text[1].code == 13
    assert text[0].stderr == text[1].stderr


def test_a_killed_restore_worker_fails_the_restore_and_claims_nothing_complete(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str], source: Path
) -> None:
    backed_up(run_cli, cli_repo, source)
    target = tmp_path / "r"
    env = {**cli_env, "S3VAULT_TEST_CRASH_AT": "restore-worker:2"}  # after its second range
    done = run_cli("-r", cli_repo, "restore", "latest", "-t", str(target), "-j", "2", env=env)
    assert done.code == 1, done.stderr
    assert "restore worker process" in done.stderr
    assert "killed by signal 9" in done.stderr
    assert "run the restore again" in done.stderr
    # A file that carries the snapshot's mtime was given its metadata, so it is complete
    # (directories get theirs at the very end: none has).
    expected = snapshot_tree(source)
    got = snapshot_tree(target / "src")
    complete = [
        rel
        for rel, entry in got.items()
        if stat.S_ISREG(int(entry[0])) and entry[2] == expected[rel][2]
    ]

    def content(entry: tuple[object, ...]) -> tuple[object, ...]:
        # a complete file's hard links may not all be made yet when the kill came
        return tuple(x for x in entry if not (isinstance(x, tuple) and x[:1] == ("link-group",)))

    for rel in complete:
        assert content(got[rel]) == content(expected[rel]), rel
    assert len(complete) < len(expected)  # the kill stopped it part way
    again = run_cli("-r", cli_repo, "restore", "latest", "-t", str(target), "-j", "2")
    assert again.code == 0, again.stderr
    assert snapshot_tree(target / "src") == expected


def test_a_parallel_restore_stopped_by_the_target_says_what_it_left_incomplete(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, source: Path
) -> None:
    """Found by an attack pass (2026-12-07): in a target that was not empty, the parent makes
    every file to rewrite anew (empty) before the workers write; a target that could take no
    more then stopped the restore with thousands of files emptied, and the message named only
    the file it could not write. It says how many it left incomplete, and a second restore
    completes them. (A full file system below the target, here; a read-only one below it
    refuses its own entries and the restore goes on: test_restore_targets.py.)"""
    backed_up(run_cli, cli_repo, source)
    target = tmp_path / "r"
    done = run_cli("-r", cli_repo, "restore", "latest", "-t", str(target), "-j", "2")
    assert done.code == 0, done.stderr
    for f in range(40):  # local changes in d0 and d1, which come first
        (target / "src" / "d0" / f"f{f}").write_bytes(b"a local version")
        (target / "src" / "d1" / f"f{f}").write_bytes(b"a local version")
    full = target / "src" / "d2"  # 1.2 MB of files into 256 KiB
    reason = mount_tmpfs(full, "size=256k")
    if reason is not None:
        pytest.skip(reason)
    try:
        stopped = run_cli("-r", cli_repo, "restore", "latest", "-t", str(target), "-j", "2")
    finally:
        unmount(full)
    assert stopped.code == 1, stopped.stderr
    said = stopped.stderr.strip().splitlines()[-1]
    assert "no space left on device while writing" in said and str(full) in said, said
    assert re.search(r"; up to \d+ file\(s\) this restore had emptied to rewrite are", said)
    assert "run the restore again into the same target to complete them" in said
    again = run_cli("-r", cli_repo, "restore", "latest", "-t", str(target), "-j", "2")
    assert again.code == 0, again.stderr
    assert snapshot_tree(target / "src") == snapshot_tree(source)


def test_a_stopped_parallel_restore_leaves_the_files_it_had_not_reached_as_they_were(
    tmp_path: Path, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    """In a target that was not empty the parent makes each file anew (empty) just before the
    first range that writes it goes to a worker, not all of them before the first range: a
    restore that stops (a killed worker here; a full or read-only target alike) leaves the
    files it had not reached as they were (they were all emptied), and a second restore
    completes the target."""
    src = tmp_path / "src"
    for n in range(60):  # about 30 packs of 1 MiB: many more ranges than the workers hold
        write_file(src / f"f{n:02d}", os.urandom(500_000))
    repo = str(tmp_path / "repo")
    init = ("init", "--kdf-cost", "minimum", "--pack-size", "1", "--no-recovery-key")
    assert run_cli("-r", repo, *init).code == 0
    backed_up(run_cli, repo, src)
    target = tmp_path / "r"
    done = run_cli("-r", repo, "restore", "latest", "-t", str(target), "-j", "2")
    assert done.code == 0, done.stderr
    restored = sorted((target / "src").iterdir())
    for path in restored:
        path.write_bytes(b"a local version")
    env = {**cli_env, "S3VAULT_TEST_CRASH_AT": "restore-worker:2"}  # after its second range
    stopped = run_cli("-r", repo, "restore", "latest", "-t", str(target), "-j", "2", env=env)
    assert stopped.code == 1 and "killed by signal 9" in stopped.stderr, stopped.stderr
    untouched = [p.name for p in restored if p.read_bytes() == b"a local version"]
    assert 0 < len(untouched) < len(restored)
    again = run_cli("-r", repo, "restore", "latest", "-t", str(target), "-j", "2")
    assert again.code == 0, again.stderr
    assert snapshot_tree(target / "src") == snapshot_tree(src)


def test_a_killed_verify_worker_fails_the_verify(
    cli_repo: str, run_cli: RunCli, cli_env: dict[str, str], source: Path
) -> None:
    backed_up(run_cli, cli_repo, source)
    env = {**cli_env, "S3VAULT_TEST_CRASH_AT": "verify-worker"}
    done = run_cli("-r", cli_repo, "verify", "--read-data", "-j", "2", env=env)
    assert done.code == 1, done.stdout + done.stderr
    assert "verify worker process" in done.stderr
    assert "run verify again" in done.stderr


def test_workers_read_through_s3(
    s3_bucket: str,
    s3_server: str,
    tmp_path: Path,
    cli_env: dict[str, str],
    run_cli: RunCli,
) -> None:
    """Through S3 the parent fetches and the workers decode and write: a worker never opens
    a connection (workerpool.py: the fork hazard of issue 16)."""
    source = tmp_path / "src"
    for n in range(2):  # two packs: two ranges (a range is a whole pack on S3)
        write_file(source / f"f{n}", os.urandom(2_500_000))
    write_file(source / "small", b"small")
    env = s3_env(cli_env, s3_server)
    url = f"s3://{s3_bucket}/par"
    init = ("init", "--kdf-cost", "minimum", "--pack-size", "4", "--no-recovery-key")
    assert run_cli("-r", url, *init, env=env).code == 0
    done = run_cli("-r", url, "backup", "--root", str(source.parent), "/src", env=env)
    assert done.code == 0, done.stderr
    target = tmp_path / "r"
    done = run_cli("-r", url, "restore", "latest", "-t", str(target), "-j", "2", env=env)
    assert done.code == 0, done.stderr
    assert snapshot_tree(target / "src") == snapshot_tree(source)
    done = run_cli("-r", url, "verify", "--read-data", "-j", "2", env=env)
    assert done.code == 0, done.stdout + done.stderr
    done = run_cli("-r", url, "restore-test", "-j", "2", "--json", env=env)
    assert done.code == 0, done.stdout + done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["passed"] is True


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: the default is one process")
def test_every_engine_defaults_to_one_worker_per_core(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str], source: Path
) -> None:
    """The defaults docs/performance.md gives: a worker's crash point is reached (the run
    fails, exit 1) where the default forks workers: a backup of SERIAL_BELOW_FILES files or
    SERIAL_BELOW_BYTES or more (by its parent's counts, or a walk of a first backup's
    sources), a restore or a drill when it reads SERIAL_BELOW_BYTES or more (this one is
    smaller: one process, the crash point is not reached, until -j 2 asks for workers), and
    so does a verify's read-back (the last part: one of SERIAL_BELOW_BYTES reaches it)."""
    crash = {**cli_env, "S3VAULT_TEST_CRASH_AT": "backup-worker-task"}
    backup = ("-r", cli_repo, "backup", "--root", str(source.parent), "/src")
    done = run_cli(*backup, env=crash)
    assert done.code == 0, done.stderr  # a small backup: one process
    assert run_cli(*backup, "-j", "2", env=crash).code == 1
    assert sum(f.stat().st_size for f in source.rglob("*") if f.is_file()) < SERIAL_BELOW_BYTES
    target = str(tmp_path / "r")
    engines = [
        (("restore-test", "--no-record"), "restore-worker"),
        (("restore", "latest", "-t", target), "restore-worker"),
        (("verify", "--read-data"), "verify-worker"),
    ]
    for argv, point in engines:
        env = {**cli_env, "S3VAULT_TEST_CRASH_AT": point}
        done = run_cli("-r", cli_repo, *argv, env=env)
        assert done.code == 0, (argv, done.stdout, done.stderr)  # small: one process
        done = run_cli("-r", cli_repo, *argv, "-j", "2", env=env)
        assert done.code == 1, (argv, done.stdout, done.stderr)
        assert "worker process" in done.stderr
        if argv[0] == "restore-test":  # its target is gone: not "restore again into it"
            assert "the drill stopped" in done.stderr and "same target" not in done.stderr
    large = source / "large.bin"
    large.write_bytes(random.Random(7).randbytes(SERIAL_BELOW_BYTES))  # incompressible
    # Its parent counted a small backup, but the sources grew past SERIAL_BELOW_BYTES since:
    # workers at once (it ran in one process once, until 2026-12-07)
    done = run_cli(*backup, env=crash)
    assert done.code == 1, done.stderr
    assert "backup worker process" in done.stderr
    assert run_cli(*backup, "-j", "1", env=crash).code == 0  # stored: a large read-back below
    env = {**cli_env, "S3VAULT_TEST_CRASH_AT": "verify-worker"}
    done = run_cli("-r", cli_repo, "verify", "--read-data", env=env)
    assert done.code == 1, done.stdout + done.stderr  # a large read-back: workers by default
    assert "verify worker process" in done.stderr


def test_verify_through_a_remote_store_on_two_cores_reads_in_one_process() -> None:
    """read_back_jobs: --jobs wins; through a remote store on SERIAL_REMOTE_UP_TO_CORES cores
    or fewer one process (measured faster and smaller there); else by size (jobs_for)."""
    large = SERIAL_BELOW_BYTES
    assert read_back_jobs(3, True, large) == 3 and read_back_jobs(1, False, large) == 1
    assert read_back_jobs(0, False, large) == jobs_for(0, large)
    few = default_jobs() <= SERIAL_REMOTE_UP_TO_CORES
    assert read_back_jobs(0, True, large) == (1 if few else jobs_for(0, large))


def test_a_large_read_defaults_to_one_worker_per_core_a_small_one_to_one() -> None:
    """jobs_for: --jobs wins; without it a read of SERIAL_BELOW_BYTES or more gets one worker
    per core, a smaller one a single process."""
    assert jobs_for(0, SERIAL_BELOW_BYTES) == default_jobs()
    assert jobs_for(0, SERIAL_BELOW_BYTES - 1) == 1
    assert jobs_for(3, 0) == 3 and jobs_for(1, 1 << 40) == 1


def _objects(repo: str) -> dict[str, bytes]:
    """Every object but the audit records (every command appends one, a failed one too)."""
    root = Path(repo)
    files = (p for p in root.rglob("*") if p.is_file() and p.relative_to(root).parts[0] != "audit")
    return {str(p): p.read_bytes() for p in files}


def test_a_stuck_worker_is_stopped_and_the_command_fails_changing_nothing(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    """A worker that stops sending (SIGSTOP: a hang) is killed after --worker-timeout; the
    command fails in one line with exit 1, the repository as it was (restore-test records no
    drill)."""
    small = tmp_path / "src"
    for n in range(2):  # two packs
        write_file(small / f"f{n}", os.urandom(2_500_000))
    backed_up(run_cli, cli_repo, small)
    before = _objects(cli_repo)
    stop = {**cli_env, "S3VAULT_TEST_STOP_AT": "restore-worker"}  # after its first range
    target = str(tmp_path / "r")
    argv = ("restore-test", "-t", target, "-j", "2", "--worker-timeout", "0.3s")
    done = run_cli("-r", cli_repo, *argv, env=stop)
    assert done.code == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "restore worker process" in lines[0], lines
    assert re.search(r"sent nothing for [\d.]+ s \(limit 0.3 s\) and was stopped", lines[0])
    assert _objects(cli_repo) == before  # no drill record, nothing else (but the audit)
    for bad in ("0", "soon"):
        done = run_cli("-r", cli_repo, "restore-test", "--worker-timeout", bad)
        assert done.code == 2, done.stderr
        assert "--worker-timeout" in done.stderr


def test_jobs_must_not_be_negative(cli_repo: str, run_cli: RunCli, tmp_path: Path) -> None:
    for argv in (
        ("restore", "latest", "-t", str(tmp_path / "r"), "--jobs", "-1"),
        ("verify", "--read-data", "--jobs", "-1"),
        ("restore-test", "--jobs", "x"),
    ):
        done = run_cli("-r", cli_repo, *argv)
        assert done.code == 2, done.stderr
        assert "--jobs" in done.stderr
    assert not (tmp_path / "r").exists()


def test_a_killed_restore_run_again_with_overwrite_if_changed_is_complete(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str], source: Path
) -> None:
    """restic 0.17's --overwrite if-changed leaves a file with the snapshot's size and mtime:
    a file the killed run left part written has the mtime of its writing (the snapshot's is
    set once it is whole), so the second run writes it again."""
    backed_up(run_cli, cli_repo, source)
    target = tmp_path / "r"
    env = {**cli_env, "S3VAULT_TEST_CRASH_AT": "restore-worker:2"}
    killed = run_cli("-r", cli_repo, "restore", "latest", "-t", str(target), "-j", "2", env=env)
    assert killed.code == 1, killed.stderr
    again = run_cli(
        "-r",
        cli_repo,
        "restore",
        "latest",
        "-t",
        str(target),
        "-j",
        "2",
        "--overwrite",
        "if-changed",
    )
    assert again.code == 0, again.stderr
    assert snapshot_tree(target / "src") == snapshot_tree(source)
