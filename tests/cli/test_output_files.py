"""Files an operator names for output (s3vault/outfile.py): ``--metrics-file``, ``report
--html`` and ``dump --target``. Found by an operator's attack pass (2026-12-06): both metrics
and report renamed a temporary file over what was there, so `--metrics-file /dev/null` (to
turn the metrics off) made /dev/null a regular file when run as root; `dump --target` on a
full disk ended in an internal error and left a cut-off archive; report's failure exited 2 (a
usage error) and a metrics write that failed left its temporary file."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import S3VAULT, RunCli, write_file
from tests.readonly import unwritable


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
        # and no compiled module written: under the limit Python wrote .pyc files cut short
        # into the suite's shared .pycache (it does not check its writes), and every later
        # `report` of a clean clone's run failed ("EOFError: marshal data too short")
        env={**env, "PYTHONDONTWRITEBYTECODE": "1"},
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
        ["-r", repo, "dump", "latest", str(src), "--target", str(out / "new.tar")], cli_env, 100_000
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == f"Fatal: cannot write {out}/new.tar: File too large"
    assert not (out / "new.tar").exists()  # a file it made is not left cut off
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


def test_outputs_keep_the_file_they_write_to(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """Found by a review of the first version of s3vault/outfile.py (2026-12-06): dump
    --target replaced an existing file (a private 0600 file came out 0644 and root's, a hard
    link parted, a symbolic link became a file) and needed room for two copies; the metrics
    file and the report replaced a link with a file. dump writes in place, as a shell's >
    does; the metrics and the report replace the file a link leads to, keeping its mode."""
    repo, src = _repo(tmp_path, run_cli)
    out = tmp_path / "out"
    out.mkdir()
    private = write_file(out / "db.sql", b"old")
    private.chmod(0o600)
    os.link(private, out / "db-link.sql")
    inode = private.stat().st_ino
    done = run_cli("-r", repo, "dump", "latest", f"{src}/big.bin", "--target", str(private))
    assert done.code == 0, done.stderr
    assert (private.stat().st_ino, stat.S_IMODE(private.stat().st_mode)) == (inode, 0o600)
    assert (out / "db-link.sql").read_bytes() == (src / "big.bin").read_bytes()
    real = write_file(out / "real.bin", b"old")
    (out / "link.bin").symlink_to("real.bin")
    done = run_cli("-r", repo, "dump", "latest", f"{src}/small", "--target", str(out / "link.bin"))
    assert done.code == 0, done.stderr
    assert (out / "link.bin").is_symlink() and real.read_bytes() == b"hi\n"
    for name in ("m.prom", "r.html"):
        target = write_file(out / "real" / name, b"")
        target.chmod(0o640)
        link = out / f"via-{name}"
        link.symlink_to(target)
        if name == "m.prom":
            done = run_cli("-r", repo, "--metrics-file", str(link), "snapshots")
        else:
            done = run_cli("-r", repo, "report", "--html", str(link))
        assert done.code == 0, done.stderr
        assert link.is_symlink(), name
        assert target.stat().st_size > 0 and stat.S_IMODE(target.stat().st_mode) == 0o640
    # the lock beside the file the link leads to: one lock whatever name a writer uses
    assert sorted(os.listdir(out / "real")) == [".m.prom.lock", "m.prom", "r.html"]  # no temp


def test_links_are_followed_and_never_removed_or_replaced(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """Found by a review of the second version (2026-12-06): a dump through a dangling link
    that failed removed the link and left the partial file it had made; a metrics file that
    is a loop of links was replaced by a regular file."""
    repo, src = _repo(tmp_path, run_cli)
    out = tmp_path / "out"
    out.mkdir()
    dangling = out / "via.bin"
    dangling.symlink_to("made.bin")
    args = ["-r", repo, "dump", "latest", f"{src}/big.bin", "--target", str(dangling)]
    done = _limited(args, cli_env, 100_000)
    assert done.returncode == 1, done.stderr
    assert dangling.is_symlink() and not (out / "made.bin").exists()  # the link stays
    (out / "loop1").symlink_to("loop2")
    (out / "loop2").symlink_to("loop1")
    done = run_cli("-r", repo, "--metrics-file", str(out / "loop1"), "snapshots")
    assert done.code == 0, done.stderr
    assert "Too many levels of symbolic links" in done.stderr
    assert (out / "loop1").is_symlink() and (out / "loop2").is_symlink()
    done = run_cli("-r", repo, "dump", "latest", f"{src}/small", "--target", str(dangling))
    assert done.code == 0, done.stderr
    assert dangling.is_symlink() and (out / "made.bin").read_bytes() == b"hi\n"


def test_a_damaged_file_dumped_to_a_new_target_leaves_no_file(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """A blob that fails its check half way (exit 13): a --target the dump made is removed,
    not left holding the bytes before the damage; one that existed is left, as it says."""
    repo, src = _repo(tmp_path, run_cli)
    for pack in (Path(repo) / "data").rglob("*"):
        if pack.is_file():
            data = bytearray(pack.read_bytes())
            data[len(data) // 2] ^= 0xFF
            pack.write_bytes(bytes(data))
    target = tmp_path / "new.bin"
    done = run_cli("-r", repo, "--no-cache", "dump", "latest", f"{src}/big.bin", "-t", str(target))
    assert done.code == 13, done.stderr
    assert not target.exists()


def test_outputs_into_a_read_only_place_say_so_and_leave_nothing(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """A read-only file system under the metrics file, the report and the dump's target: one
    line each, the command's own exit code for the metrics (a warning), 1 for the others,
    and the files there as they were."""
    repo, src = _repo(tmp_path, run_cli)
    write_file(tmp_path / "out" / "m.prom", b"# before\n")
    with unwritable(tmp_path / "out", "mount") as out:
        done = run_cli("-r", repo, "--metrics-file", str(out / "m.prom"), "snapshots")
        assert done.code == 0, done.stderr
        assert f"metrics not written to {out}/m.prom: Read-only file system" in done.stderr
        done = run_cli("-r", repo, "report", "--html", str(out / "r.html"))
        assert done.code == 1, done.stderr
        assert f"cannot write {out}/r.html: Read-only file system" in done.stderr
        done = run_cli("-r", repo, "dump", "latest", f"{src}/small", "-t", str(out / "d.bin"))
        assert done.code == 1, done.stderr
        assert f"cannot write {out}/d.bin: Read-only file system" in done.stderr
        assert sorted(os.listdir(out)) == ["m.prom"]
        assert (out / "m.prom").read_bytes() == b"# before\n"


def test_a_dump_killed_half_way_is_done_whole_by_the_next_run(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """SIGKILL while dump --target writes: the target is cut off (written in place, as a
    shell's > writes); the same command again writes it whole."""
    repo, src = _repo(tmp_path, run_cli)
    big = write_file(src / "huge.bin", os.urandom(40 << 20))
    assert run_cli("-r", repo, "backup", str(src)).code == 0
    target = tmp_path / "huge.out"
    args = [S3VAULT, "-r", repo, "dump", "latest", str(big), "-t", str(target)]
    with subprocess.Popen(args, env=cli_env, stderr=subprocess.DEVNULL) as proc:
        deadline = time.monotonic() + 60
        while (not target.exists() or target.stat().st_size == 0) and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.kill()
    assert target.stat().st_size < big.stat().st_size or proc.returncode == 0
    done = run_cli("-r", repo, "dump", "latest", str(big), "-t", str(target))
    assert done.code == 0, done.stderr
    assert target.read_bytes() == big.read_bytes()


def test_a_compiled_module_cut_short_is_an_internal_error_not_an_interruption(
    tmp_path: Path, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    """Found by a clean clone's run (2026-12-06): a .pyc file cut short (written under a file
    size limit) raised EOFError in `report`, which click turns into an Abort, which s3vault
    said as "interrupted", exit 130. It is an internal error, exit 1, that says what."""
    import importlib.util
    import py_compile
    import sys

    import importlib_metadata

    repo, _ = _repo(tmp_path, run_cli)
    prefix = tmp_path / "pycache"
    kept, sys.pycache_prefix = sys.pycache_prefix, str(prefix)
    try:
        source = importlib_metadata.__file__
        assert source is not None
        compiled = importlib.util.cache_from_source(source)
    finally:
        sys.pycache_prefix = kept
    py_compile.compile(source, cfile=compiled)
    data = Path(compiled).read_bytes()
    Path(compiled).write_bytes(data[: 16 + 40])  # its header whole, its code cut short
    env = {**cli_env, "PYTHONPYCACHEPREFIX": str(prefix), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [S3VAULT, "-r", repo, "report", "--html", str(tmp_path / "r.html")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "internal error: EOFError: marshal data too short" in done.stderr


@pytest.fixture
def shm_dir() -> Iterator[Path]:
    """A directory of its own in /dev/shm (POSIX shared memory: an ordinary tmpfs)."""
    if not os.access("/dev/shm", os.W_OK):
        pytest.skip("no writable /dev/shm here")
    made = Path(tempfile.mkdtemp(prefix="s3vault-test-", dir="/dev/shm"))
    yield made
    shutil.rmtree(made, ignore_errors=True)


def test_outputs_under_dev_shm_are_files_like_any_other(
    tmp_path: Path, run_cli: RunCli, shm_dir: Path
) -> None:
    """/dev/shm is a filesystem for files, not a descriptor: a metrics file there gets its
    directory made and its lock, and keeps every command's series; a report is replaced whole.
    They were written in place as if /dev/stdout: the directory was not made (no metrics) and
    two commands' series were not merged under the lock."""
    repo, _ = _repo(tmp_path, run_cli)
    metrics = shm_dir / "textfile" / "s3vault.prom"
    for command in ("snapshots", "verify"):
        done = run_cli("-r", repo, "--metrics-file", str(metrics), command)
        assert done.code == 0, done.stderr
        assert "metrics" not in done.stderr, done.stderr
    text = metrics.read_text()
    assert 'command="snapshots"' in text and 'command="verify"' in text, text
    assert sorted(os.listdir(metrics.parent)) == [".s3vault.prom.lock", "s3vault.prom"]
    report = shm_dir / "r.html"
    report.write_text(  # an earlier report (only one is replaced)
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="generator" content="s3vault report"><title>s3vault fleet report</title>'
    )
    old_inode = report.stat().st_ino
    assert run_cli("-r", repo, "report", "--html", str(report)).code == 0
    assert report.stat().st_ino != old_inode  # replaced whole, as a reader needs
    assert "<html" in report.read_text().lower()


def test_a_metrics_warning_keeps_the_json_array_on_stdout_whole(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """``--json snapshots`` and ``key list`` print restic's one array: a metrics file that
    cannot be written is warned about on stderr (after the array on stdout, it no longer
    parsed)."""
    repo, _ = _repo(tmp_path, run_cli)
    for command in (["snapshots"], ["key", "list"]):
        done = run_cli("-r", repo, "--json", "--metrics-file", "/proc/m.prom", *command)
        assert done.code == 0, done.stderr
        assert isinstance(json.loads(done.stdout), list)
        warning = json.loads(done.stderr.strip().splitlines()[-1])
        assert warning["message_type"] == "warning" and "metrics" in warning["message"]
