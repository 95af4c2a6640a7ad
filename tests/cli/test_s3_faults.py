"""Through a proxy that injects 500, 503 SlowDown, resets, truncated bodies and latency:
backups and restores still succeed and restore byte-identical; nothing is left half-done."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from s3vault.cli import STOP_GRACE
from tests.conftest import S3VAULT, RunCli, write_file
from tests.faultproxy import FaultProxy
from tests.s3stores import S3Store
from tests.trees import snapshot_tree


def test_backup_and_restore_survive_five_percent_faults(
    s3_store: S3Store, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    src = tmp_path / "src"
    write_file(src / "big.bin", os.urandom(9 << 20))
    for i in range(40):
        write_file(src / "conf" / f"c{i}.txt", f"line {i}\n".encode() * 100)
    repo = f"s3://{s3_store.bucket}/faulty"
    with FaultProxy(s3_store.endpoint, rate=0.05, seed=7) as proxy:
        env = s3_store.env(cli_env, proxy.url)
        args = ("-r", repo, "--retry-deadline", "60", *s3_store.cli_args)
        assert (
            run_cli(*args, "init", "--kdf-cost", "minimum", "--pack-size", "4", env=env).code == 0
        )
        for round_ in range(2):
            if round_:
                (src / "conf" / "c1.txt").write_bytes(os.urandom(50))
            done = run_cli(*args, "backup", str(src), env=env)
            assert done.code == 0, done.stderr
        target = tmp_path / "t"
        done = run_cli(*args, "restore", "latest", "-t", str(target), env=env)
        assert done.code == 0, done.stderr
        verify = run_cli(*args, "verify", "--read-data", env=env)
        assert verify.code == 0, verify.stdout + verify.stderr
        assert sum(proxy.injected.values()) >= 3, proxy.injected
    assert snapshot_tree(target / str(src).lstrip("/")) == snapshot_tree(src)
    client = s3_store.client()
    assert client.list_multipart_uploads(Bucket=s3_store.bucket).get("Uploads", []) == []


def test_store_that_always_fails_exits_14_and_writes_no_snapshot(
    s3_store: S3Store, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    src = tmp_path / "src"
    write_file(src / "a.bin", os.urandom(1 << 20))
    repo = ("-r", f"s3://{s3_store.bucket}/down", *s3_store.cli_args)
    assert run_cli(*repo, "init", "--kdf-cost", "minimum", env=s3_store.env(cli_env)).code == 0
    with FaultProxy(s3_store.endpoint, rate=1.0, kinds=("503",)) as proxy:
        done = run_cli(
            *repo, "--retry-deadline", "2", "backup", str(src), env=s3_store.env(cli_env, proxy.url)
        )
    assert done.code == 14, done.stderr
    assert "storage unavailable" in done.stderr
    listed = s3_store.client().list_objects_v2(Bucket=s3_store.bucket, Prefix="down/snapshots/")
    assert listed.get("Contents", []) == []


def test_a_store_down_for_data_stops_restore_and_drill_as_unavailable_not_damaged(
    s3_bucket: str, s3_server: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A store that throttles every read of data: restore and restore-test exit 14 (run them
    again), as verify and dump do; not 13 with advice to drop data, nor a failed drill on
    record. The old code called every file damaged."""
    src = tmp_path / "src"
    for i in range(5):
        write_file(src / f"f{i}.bin", os.urandom(100_000))
    repo = ("-r", f"s3://{s3_bucket}/throttled")
    env = cli_env
    assert run_cli(*repo, "init", "--kdf-cost", "minimum", env=env).code == 0
    assert run_cli(*repo, "backup", str(src), env=env).code == 0
    data_reads = lambda method, path: method == "GET" and "/data/" in path  # noqa: E731
    with FaultProxy(s3_server, rate=1.0, kinds=("503",), where=data_reads) as proxy:
        down = (*repo, "--retry-deadline", "1")
        proxied = {**cli_env, "AWS_ENDPOINT_URL": proxy.url}
        for jobs in ("1", "2"):
            target = tmp_path / f"t{jobs}"
            done = run_cli(
                *down, "restore", "latest", "-t", str(target), "--jobs", jobs, env=proxied
            )
            assert done.code == 14, done.stderr
            assert "storage unavailable" in done.stderr
            assert "repair snapshots" not in done.stderr
        drill = run_cli(*down, "restore-test", "latest", env=proxied)
        assert drill.code == 14, drill.stdout + drill.stderr
        assert "FAIL" not in drill.stdout
    history = run_cli(*repo, "restore-test", "--history", "--json", env=env)
    assert history.code == 0, history.stderr
    assert "FAIL" not in history.stdout.upper()
    assert run_cli(*repo, "restore", "latest", "-t", str(tmp_path / "ok"), env=env).code == 0


def test_a_signal_ends_a_restore_waiting_on_a_store_that_stalls(
    s3_bucket: str, s3_server: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """Found by a helper's attack (2026-12-06): SIGTERM during a read that the store never
    answers waited for the request's 60 s timeout (a listing that never ends, for good): the
    threads still in requests held the interpreter's exit. The command now stops within its
    grace (cli STOP_GRACE) and says so, exit 130."""
    src = tmp_path / "src"
    write_file(src / "f.bin", os.urandom(200_000))
    repo = ("-r", f"s3://{s3_bucket}/stalled")
    assert run_cli(*repo, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    assert run_cli(*repo, "backup", str(src)).code == 0
    data_reads = lambda method, path: method == "GET" and "/data/" in path  # noqa: E731
    with FaultProxy(s3_server, rate=1.0, kinds=("stall",), where=data_reads) as proxy:
        env = {**cli_env, "AWS_ENDPOINT_URL": proxy.url}
        args = [S3VAULT, *repo, "restore", "latest", "-t", str(tmp_path / "t")]
        with subprocess.Popen(args, env=env, stderr=subprocess.PIPE) as proc:
            for _ in range(300):  # until the restore waits on its first data read
                if proxy.requests or proc.poll() is not None:
                    break
                time.sleep(0.1)
            assert proxy.requests, "the restore never read data"
            proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            _, err = proc.communicate(timeout=STOP_GRACE + 20)
            took = time.monotonic() - signalled
    assert proc.returncode == 130, err
    assert took < STOP_GRACE + 5, took  # the old code: the read's 60 s timeout
