"""backup --jobs: the process-parallel engine through the real entry point. The same source
gives the same tree ids with one job or four; a worker process killed mid-backup fails the
backup cleanly (no snapshot, nothing verify calls damage, the next backup completes); SIGTERM
stops the workers with the parent (exit 130); --jobs 1 runs no worker at all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.cli.test_s3 import s3_env
from tests.conftest import S3VAULT, RunCli, write_file
from tests.trees import snapshot_tree


def make_source(src: Path) -> None:
    for d in range(5):
        for s in range(3):
            for f in range(6):
                data = os.urandom(100 + 4000 * f) + bytes(20_000 * (f % 3))
                write_file(src / f"d{d}" / f"s{s}" / f"f{f}", data)
    write_file(src / "big.bin", os.urandom(3 << 20) * 3)
    for i in range(600):  # more entries than a slice (dirworker.SLICE)
        write_file(src / "many" / f"e{i:04d}", b"%d" % i)
    os.link(src / "big.bin", src / "d0" / "big-link.bin")
    (src / "link").symlink_to("big.bin")


def snapshots(run_cli: RunCli, repo: str) -> list[dict[str, object]]:
    done = run_cli("-r", repo, "snapshots", "--json")
    assert done.code == 0, done.stderr
    result: list[dict[str, object]] = json.loads(done.stdout)
    return result


def test_one_job_and_four_jobs_give_the_same_trees(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = tmp_path / "src"
    make_source(src)
    # below --root: the directories above (/tmp...) change as other tests run; the first
    # backup reads every symlink once, which sets its atime: the later ones compare
    root = ("--root", str(tmp_path), "/src")
    assert run_cli("-r", cli_repo, "backup", "--jobs", "1", *root).code == 0
    for jobs in ("1", "4", "2"):
        done = run_cli("-r", cli_repo, "backup", "--force", "--jobs", jobs, *root)
        assert done.code == 0, done.stderr
    (src / "d3" / "s1" / "f2").write_bytes(b"changed")
    parent = str(snapshots(run_cli, cli_repo)[-1]["id"])
    for jobs in ("4", "1"):
        done = run_cli("-r", cli_repo, "backup", "--jobs", jobs, "--parent", parent, *root)
        assert done.code == 0, done.stderr
    trees = [s["tree"] for s in snapshots(run_cli, cli_repo)]
    assert len(set(trees[1:4])) == 1
    assert trees[4] == trees[5] != trees[3]
    summaries = [s["summary"] for s in snapshots(run_cli, cli_repo)]
    counted = ("files_new", "files_changed", "files_unmodified", "dirs_changed", "dirs_new")
    assert [summaries[4][k] for k in counted] == [summaries[5][k] for k in counted]  # type: ignore[index]
    assert summaries[4]["files_changed"] == 1  # type: ignore[index]
    check = run_cli("-r", cli_repo, "verify", "--read-data")
    assert check.code == 0, check.stdout + check.stderr
    target = tmp_path / "restored"
    parallel = str(snapshots(run_cli, cli_repo)[4]["id"])
    assert run_cli("-r", cli_repo, "restore", parallel, "-t", str(target)).code == 0
    assert snapshot_tree(target / "src") == snapshot_tree(src)


def test_a_killed_worker_fails_the_backup_and_damages_nothing(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    src = tmp_path / "src"
    make_source(src)
    # a worker process kills itself (SIGKILL) after its second directory
    env = {**cli_env, "S3VAULT_TEST_CRASH_AT": "backup-worker-task:2"}
    done = run_cli("-r", cli_repo, "backup", "--jobs", "2", str(src), env=env)
    assert done.code == 1, done.stderr
    # The parent learns of the death by its pipe or by a send to the dead worker (EPIPE, which
    # click would turn into a silent exit 1): the message is there either way.
    assert "worker process" in done.stderr
    assert "killed by signal 9" in done.stderr
    _nothing_damaged_and_a_rerun_is_whole(tmp_path, cli_repo, run_cli, src)


def _nothing_damaged_and_a_rerun_is_whole(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, src: Path
) -> None:
    """After a killed run: no snapshot, nothing verify calls damage, and the next run stores
    everything again (its restore equals the source)."""
    assert snapshots(run_cli, cli_repo) == []
    check = run_cli("-r", cli_repo, "verify", "--read-data")
    assert check.code == 0, check.stdout + check.stderr
    done = run_cli("-r", cli_repo, "backup", "--jobs", "2", str(src))
    assert done.code == 0, done.stderr
    target = tmp_path / "restored"
    assert run_cli("-r", cli_repo, "restore", "latest", "-t", str(target)).code == 0
    assert snapshot_tree(target / str(src).lstrip("/")) == snapshot_tree(src)


def test_a_parent_killed_storing_the_workers_leftovers_damages_nothing(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    """The workers hand the blobs of their last, partly filled packs to the parent, which
    packs and stores them: killed as it stores its first pack, it leaves garbage at most,
    no snapshot, and the next run stores everything again."""
    src = tmp_path / "src"
    make_source(src)
    env = {**cli_env, "S3VAULT_TEST_CRASH_AT": "pack-stored:1"}  # only the parent indexes
    done = run_cli("-r", cli_repo, "backup", "--jobs", "2", str(src), env=env)
    assert done.code == -9, done.stderr
    _nothing_damaged_and_a_rerun_is_whole(tmp_path, cli_repo, run_cli, src)


def test_one_job_runs_no_worker_process(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    src = tmp_path / "src"
    make_source(src)
    env = {**cli_env, "S3VAULT_TEST_CRASH_AT": "backup-worker-task:1"}
    done = run_cli("-r", cli_repo, "backup", "--jobs", "1", str(src), env=env)
    assert done.code == 0, done.stderr
    done = run_cli("-r", cli_repo, "backup", "--stdin", "--jobs", "4", input=b"x", env=env)
    assert done.code == 0, done.stderr  # standard input: one stream, no workers


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _workers_of(proc: subprocess.Popen[bytes], ready: Callable[[], bool]) -> list[int]:
    """The backup's two worker processes, once they run and ``ready()`` (30 s at most)."""
    deadline = time.monotonic() + 30
    workers: list[int] = []
    while time.monotonic() < deadline and proc.poll() is None:
        workers = children(proc.pid)
        if len(workers) >= 2 and ready():
            break
        time.sleep(0.005)
    assert len(workers) >= 2, "the workers did not start"
    return workers


def test_sigterm_stops_the_workers_and_exits_130(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    src = tmp_path / "src"
    for d in range(4):
        for i in range(6):
            write_file(src / f"d{d}" / f"f{i}.bin", os.urandom(1 << 20))
    proc = subprocess.Popen(
        # Throttled, so the signal always lands while the backup is still running.
        [S3VAULT, "-r", cli_repo, "--limit-upload", "4096", "backup", "--jobs", "2", str(src)],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    workers = _workers_of(proc, lambda: bool(list(Path(cli_repo, "data").rglob("*"))))
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(alive(pid) for pid in workers)
    assert snapshots(run_cli, cli_repo) == []


def test_a_sigkilled_backup_leaves_no_worker_writing(
    s3_bucket: str, s3_server: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A backup SIGKILLed by its operator had a worker finish its upload through S3 and store
    a pack 15-25 s later (an attack pass on moto, 2026-12-07): the workers end with their
    parent."""
    src = tmp_path / "src"
    for d in range(2):
        for i in range(6):
            write_file(src / f"d{d}" / f"f{i}.bin", os.urandom(1 << 20))
    env = s3_env(cli_env, s3_server)
    url = f"s3://{s3_bucket}/killed"
    init = ("init", "--kdf-cost", "minimum", "--pack-size", "4", "--no-recovery-key")
    assert run_cli("-r", url, *init, env=env).code == 0
    proc = subprocess.Popen(  # throttled: each worker is inside a pack's upload for seconds
        [S3VAULT, "-r", url, "--limit-upload", "512", "backup", "--jobs", "2", str(src)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers = _workers_of(proc, lambda: True)
    time.sleep(1.5)  # reading, then uploading their first packs
    proc.kill()
    proc.wait(timeout=10)
    deadline = time.monotonic() + 2  # a worker looks every ORPHAN_CHECK_EVERY (0.2 s)
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(alive(pid) for pid in workers)


def test_a_jobs_count_no_machine_has_is_a_usage_error(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """--jobs 99999 forked workers until "Too many open files" (internal error, exit 1): above
    256 it is refused before anything starts; every command's --jobs alike."""
    write_file(tmp_path / "src" / "a", b"x")
    for args in (("backup", str(tmp_path / "src")), ("restore", "latest", "-t", "x")):
        done = run_cli("-r", cli_repo, *args, "--jobs", "99999")
        assert done.code == 2 and "0<=x<=256" in done.stderr, done.stderr
