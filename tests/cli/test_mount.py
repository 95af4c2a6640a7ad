"""``s3vault mount`` on a real FUSE mount, through the real entry point: ``diff -r`` of a
snapshot against its source, ``cat`` of a large file, what ``stat`` shows, writes refused,
SIGTERM/SIGINT unmount, a damaged blob failing its file only; and the one-line error when
the binding is missing (which needs no FUSE, so it always runs).

Where FUSE cannot work (no /dev/fuse, no libfuse3, no binding, or the kernel refuses the
mount, as in an unprivileged container), the mount tests skip and say exactly why: `make test`
installs the binding (the mount extra) and, as root, the system package fuse3.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import errno
import hashlib
import importlib.util
import os
import random
import select
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3vault import RepoOptions, ls, open_repository
from s3vault.format.layout import ObjectKind
from s3vault.format.packfile import BlobType
from tests.conftest import PASSWORD, S3VAULT, RunCli, write_file

READY = "mounted at"


def _unavailable() -> str | None:
    """Why a FUSE mount cannot be tried here, or None."""
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse is missing (no FUSE in this kernel or container)"
    if ctypes.util.find_library("fuse3") is None:
        return "libfuse3 is missing: apt-get install fuse3"
    try:
        import mfusepy  # noqa: F401
    except ImportError:
        return "the binding mfusepy is missing: pip install 's3vault[mount]'"
    except OSError as exc:
        return f"mfusepy cannot load libfuse: {exc}"
    return None


needs_fuse = pytest.mark.skipif(_unavailable() is not None, reason=str(_unavailable()))


class Mount:
    """A running ``s3vault mount`` process and its mount point."""

    def __init__(self, repo: str, point: Path, env: dict[str, str], *options: str) -> None:
        self.point = point
        self.proc = subprocess.Popen(
            [S3VAULT, "-r", repo, "mount", str(point), *options],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.stderr = b""
        self._wait_ready()

    def _wait_ready(self) -> None:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 60
        while READY not in self.stderr.decode(errors="replace"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stderr], [], [], max(left, 0))
            chunk = os.read(self.proc.stderr.fileno(), 65536) if ready else b""
            if not chunk:
                self.proc.kill()
                _out, err = self.proc.communicate(timeout=30)
                text = (self.stderr + err).decode(errors="replace")
                if "fuse:" in text or "fusermount" in text:  # libfuse's reason: mount refused
                    pytest.skip(f"the kernel refused the FUSE mount here: {text.strip()}")
                pytest.fail(f"mount did not become ready: {text}")
            self.stderr += chunk
        assert os.path.ismount(self.point)

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.proc.send_signal(sig)
        _out, err = self.proc.communicate(timeout=60)
        return self.proc.returncode, (self.stderr + err).decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        if os.path.ismount(self.point):
            subprocess.run(["fusermount3", "-u", "-z", str(self.point)], check=False)


@pytest.fixture
def mounts(cli_env: dict[str, str]) -> Iterator[list[Mount]]:
    started: list[Mount] = []
    yield started
    for m in started:
        m.close()


def _source(tmp_path: Path, big: int = 50 << 20) -> Path:
    src = tmp_path / "src"
    write_file(src / "big.bin", random.Random(5).randbytes(big))  # incompressible
    write_file(src / "etc" / "hosts", b"127.0.0.1 localhost\n").chmod(0o600)
    write_file(src / "etc" / "empty", b"")
    write_file(src / "bin" / "tool", b"#!/bin/sh\necho hi\n").chmod(0o755)
    write_file(src / "odd" / "name\x01 with space", b"odd\n")
    (src / "etc" / "link").symlink_to("hosts")
    (src / "dangling").symlink_to("/nowhere/at/all")
    os.utime(src / "etc" / "hosts", ns=(1_500_000_000_987_654_321,) * 2)
    with contextlib.suppress(OSError):  # a file system without user xattrs: none to show
        os.setxattr(src / "etc" / "hosts", "user.origin", b"cmdb\x00\xff")
        os.setxattr(src / "etc", "user.empty", b"")
    return src


def _damage_first_blob(url: str, path: Path) -> None:
    """Flip a byte inside the first blob of ``path`` in the latest snapshot (only that blob)."""
    repo = open_repository(RepoOptions(url=url, password=PASSWORD.encode(), cache_dir=None))
    _sid, entries = ls(repo, "latest", str(path))
    (entry,) = list(entries)
    loc = repo.index.lookup(BlobType.DATA, entry.node.content[0])
    assert loc is not None
    pack = Path(url) / repo.name_of(ObjectKind.DATA, loc.pack_id)
    raw = bytearray(pack.read_bytes())
    raw[loc.offset + loc.length // 2] ^= 0xFF
    pack.chmod(0o644)
    pack.write_bytes(bytes(raw))


def _backup(run_cli: RunCli, repo: str, *args: str) -> None:
    done = run_cli("-r", repo, "backup", *args)
    assert done.code == 0, done.stderr


@needs_fuse
def test_mount_serves_the_snapshots_read_only_and_sigterm_unmounts(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str], mounts: list[Mount]
) -> None:
    src = _source(tmp_path)
    _backup(run_cli, cli_repo, "--host", "web1", "--tag", "daily", str(src))
    point = tmp_path / "mnt"
    point.mkdir()
    m = Mount(cli_repo, point, cli_env)
    mounts.append(m)
    assert sorted(os.listdir(point)) == ["hosts", "ids", "snapshots", "tags"]
    inside = point / "snapshots" / "latest" / str(src).lstrip("/")
    assert os.readlink(point / "snapshots" / "latest") in os.listdir(point / "snapshots")
    diff = subprocess.run(
        ["diff", "-r", "--no-dereference", str(src), str(inside)], capture_output=True, check=False
    )
    assert diff.returncode == 0, diff.stdout + diff.stderr
    cat = subprocess.run(["cat", str(inside / "big.bin")], capture_output=True, check=True)
    assert (
        hashlib.sha256(cat.stdout).digest()
        == hashlib.sha256((src / "big.bin").read_bytes()).digest()
    )
    for rel in ("big.bin", "etc", "etc/hosts", "etc/empty", "etc/link", "bin/tool", "dangling"):
        want, got = os.lstat(src / rel), os.lstat(inside / rel)
        assert got.st_mode == want.st_mode, rel
        assert got.st_mtime_ns == want.st_mtime_ns, rel
        assert (got.st_uid, got.st_gid) == (want.st_uid, want.st_gid), rel
        if not stat.S_ISDIR(want.st_mode):
            assert got.st_size == want.st_size, rel
    assert os.readlink(inside / "dangling") == "/nowhere/at/all"
    # the stored xattrs, as restic's mount shows them (it answered "not supported")
    for rel in ("etc/hosts", "etc", "big.bin"):
        want_names = sorted(os.listxattr(src / rel))
        assert sorted(os.listxattr(inside / rel)) == want_names, rel
        for name in want_names:
            assert os.getxattr(inside / rel, name) == os.getxattr(src / rel, name), (rel, name)
    with pytest.raises(OSError) as absent:
        os.getxattr(inside / "big.bin", "user.none")
    assert absent.value.errno == errno.ENODATA
    assert os.listxattr(point / "snapshots") == []
    for other in ("hosts/web1/latest", "tags/daily/latest"):
        assert (point / other / str(src).lstrip("/") / "etc" / "hosts").read_bytes() == (
            src / "etc" / "hosts"
        ).read_bytes()
    (short,) = os.listdir(point / "ids")
    assert (point / "ids" / short / str(src).lstrip("/") / "bin" / "tool").is_file()
    for attempt in (
        lambda: (inside / "etc" / "hosts").write_bytes(b"x"),
        lambda: (inside / "new").write_bytes(b"x"),
        (inside / "newdir").mkdir,
        (inside / "etc" / "hosts").unlink,
        lambda: os.rename(inside / "bin", inside / "bin2"),
    ):
        with pytest.raises(OSError) as refused:
            attempt()
        assert refused.value.errno == errno.EROFS
    code, err = m.stop(signal.SIGTERM)
    assert code == 0, err
    assert f"unmounted {point}" in err
    assert not os.path.ismount(point)


@needs_fuse
def test_a_damaged_blob_gives_eio_for_its_file_only_and_sigint_unmounts(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str], mounts: list[Mount]
) -> None:
    src = _source(tmp_path, big=3 << 20)
    _backup(run_cli, cli_repo, str(src))
    _damage_first_blob(cli_repo, src / "big.bin")
    point = tmp_path / "mnt"
    point.mkdir()
    m = Mount(cli_repo, point, cli_env)
    mounts.append(m)
    inside = point / "snapshots" / "latest" / str(src).lstrip("/")
    with pytest.raises(OSError) as damaged:
        (inside / "big.bin").read_bytes()
    assert damaged.value.errno == errno.EIO
    assert (inside / "etc" / "hosts").read_bytes() == b"127.0.0.1 localhost\n"
    assert sorted(os.listdir(inside / "etc")) == ["empty", "hosts", "link"]
    code, err = m.stop(signal.SIGINT)
    assert code == 13, err
    assert "cannot be read" in err and "s3vault verify" in err
    assert not os.path.ismount(point)


def test_a_missing_binding_is_one_line_naming_the_package_and_the_extra(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str]
) -> None:
    point = tmp_path / "mnt"
    point.mkdir()
    script = "import sys; sys.modules['mfusepy'] = None; from s3vault.cli import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", script, "-r", cli_repo, "mount", str(point)],
        env=cli_env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert len(err.strip().splitlines()) == 1, err
    assert "fuse3" in err and "pip install 's3vault[mount]'" in err
    assert not os.path.ismount(point)


def test_a_missing_libfuse_is_one_line_naming_the_package(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    if not os.path.exists("/dev/fuse"):
        pytest.skip("/dev/fuse is missing: mount stops at that before looking for libfuse")
    if importlib.util.find_spec("mfusepy") is None:
        pytest.skip("the binding mfusepy is missing: mount stops at that before libfuse")
    point = tmp_path / "mnt"
    point.mkdir()
    env = {**cli_env, "FUSE_LIBRARY_PATH": str(tmp_path / "no-libfuse.so")}  # mfusepy's own
    done = run_cli("-r", cli_repo, "mount", str(point), env=env)
    assert done.code == 1, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "libfuse3" in done.stderr and "fuse3" in done.stderr
    assert "s3vault[mount]" in done.stderr


def test_a_mount_point_that_is_not_a_directory_is_a_usage_error(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    done = run_cli("-r", cli_repo, "mount", str(tmp_path / "missing"))
    assert done.code == 2, done.stderr
    assert "does not exist: create it first" in done.stderr


@needs_fuse
def test_a_killed_mounts_mount_point_says_to_unmount_it(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str], mounts: list[Mount]
) -> None:
    """A mount killed with SIGKILL leaves its mount point answering ENOTCONN: mounting there
    again said "is not a directory: create it first", or mounted over it while the kernel's
    cache still answered for the root (an attack pass, 2026-12-07); so did a second mount
    over a live one."""
    _backup(run_cli, cli_repo, str(_source(tmp_path, big=1000)))
    point = tmp_path / "mnt"
    point.mkdir()
    m = Mount(cli_repo, point, cli_env)
    mounts.append(m)
    over = run_cli("-r", cli_repo, "mount", str(point), timeout=60)  # it mounted over the first
    assert over.code == 2, over.stderr
    assert "has a file system mounted on it already" in over.stderr
    m.proc.kill()
    m.proc.wait(timeout=30)
    done = run_cli("-r", cli_repo, "mount", str(point), timeout=60)
    assert done.code == 2, done.stderr
    assert f"mount point {point} is a mount whose server is gone" in done.stderr
    assert f"`fusermount3 -u {point}`" in done.stderr


@needs_fuse
def test_mount_shows_only_the_snapshots_the_filters_select(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, cli_env: dict[str, str], mounts: list[Mount]
) -> None:
    src = tmp_path / "src"
    write_file(src / "f", b"x")
    _backup(run_cli, cli_repo, str(src), "--host", "web1", "--tag", "nightly")
    _backup(run_cli, cli_repo, str(src), "--host", "db1")
    point = tmp_path / "mnt"
    point.mkdir()
    m = Mount(cli_repo, point, cli_env, "--host", "web1")
    mounts.append(m)
    assert sorted(os.listdir(point / "hosts")) == ["web1"]
    assert sorted(os.listdir(point / "tags")) == ["nightly"]
    assert len([n for n in os.listdir(point / "snapshots") if n != "latest"]) == 1
    code, err = m.stop()
    assert code == 0, err
