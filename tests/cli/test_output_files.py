"""Files an operator names for output (s3vault/outfile.py): ``--metrics-file``, ``report
--html`` and ``dump --target``. Found by an operator's attack pass (2026-12-06): both metrics
and report renamed a temporary file over what was there, so `--metrics-file /dev/null` (to
turn the metrics off) made /dev/null a regular file when run as root; `dump --target` on a
full disk ended in an internal error and left a cut-off archive; report's failure exited 2 (a
usage error) and a metrics write that failed left its temporary file."""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from tests.conftest import S3VAULT, RunCli, write_file


def _repo(tmp_path: Path, run_cli: RunCli) -> tuple[str, Path]:
    src = tmp_path / "src"
    write_file(src / "big.bin", os.urandom(300_000))
    write_file(src / "small", b"hi\n")
    repo = str(tmp_path / "repo")
    assert run_cli("-r", repo, "init", "--kdf-cost", "minimum", "--no-recovery-key").code == 0
    assert run_cli("-r", repo, "backup", str(src)).code == 0
    return repo, src


def _limited(args: list[str], env: dict[str, str], size: int) -> subprocess.CompletedProcess[str]:
    """The command with files limited to ``size`` bytes (``ulimit -f``): a write past it fails
    with "File too large", as one on a full disk fails."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    return subprocess.run(
        [S3VAULT, "--no-cache", *args],  # (the cache's files would hit the limit too)
        env=env,
        preexec_fn=limit,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_metrics_into_a_device_are_written_in_place_not_over_it(
    tmp_path: Path, run_cli: RunCli
) -> None:
    if os.geteuid() != 0:
        pytest.skip("mknod needs root (the FIFO case covers the rest)")
    repo, _ = _repo(tmp_path, run_cli)
    null = tmp_path / "dev" / "null"
    null.parent.mkdir()
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's own numbers
    done = run_cli("-r", repo, "--metrics-file", str(null), "snapshots")
    assert done.code == 0, done.stderr
    assert stat.S_ISCHR(null.stat().st_mode)
    assert os.listdir(null.parent) == ["null"]  # no lock file, no temporary file beside it


def test_metrics_into_a_fifo_feed_its_reader(tmp_path: Path, run_cli: RunCli) -> None:
    repo, _ = _repo(tmp_path, run_cli)
    fifo = tmp_path / "out" / "metrics"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    done = run_cli("-r", repo, "--metrics-file", str(fifo), "snapshots", timeout=60)
    reader.join(timeout=30)
    assert done.code == 0, done.stderr
    assert b's3vault_exit_code{command="snapshots"' in got[0]
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert os.listdir(fifo.parent) == ["metrics"]


def test_outputs_that_cannot_be_written_say_which_and_leave_nothing_cut_off(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    repo, src = _repo(tmp_path, run_cli)
    out = tmp_path / "out"
    out.mkdir()
    write_file(out / "old.tar", b"yesterday's")
    done = _limited(
        ["-r", repo, "dump", "latest", str(src), "--target", str(out / "old.tar")], cli_env, 100_000
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == f"Fatal: cannot write {out}/old.tar: File too large"
    assert (out / "old.tar").read_bytes() == b"yesterday's"  # whole or not at all
    missing = out / "nodir" / "src.tar"
    done = _limited(
        ["-r", repo, "dump", "latest", str(src), "--target", str(missing)], cli_env, 1 << 30
    )
    assert (done.returncode, done.stderr.strip()) == (  # a bad argument, as report's
        2,
        f"Fatal: cannot write {missing}: No such file or directory",
    )
    done = _limited(["-r", repo, "report", "--html", str(out / "r.html")], cli_env, 10_000)
    assert done.returncode == 1, done.stderr  # the command failed; its arguments were fine
    assert f"cannot write {out}/r.html: File too large" in done.stderr
    done = _limited(["-r", repo, "--metrics-file", str(out / "m.prom"), "snapshots"], cli_env, 100)
    assert done.returncode == 0, done.stderr
    assert f"metrics not written to {out}/m.prom: File too large" in done.stderr
    assert sorted(os.listdir(out)) == [".m.prom.lock", "old.tar"]  # no temporary file left
    assert (
        run_cli("-r", repo, "dump", "latest", str(src), "--target", str(out / "new.tar")).code == 0
    )
    assert (out / "new.tar").stat().st_size > 300_000
