"""Source-side behaviour: files changing while read, owners and xattrs, file system bounds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import S3VAULT, WITHOUT_ROOT_OVERRIDE, RunCli, write_file


def test_file_growing_during_backup_is_a_warning(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str]
) -> None:
    src = tmp_path / "src"
    growing = write_file(src / "growing.log", os.urandom(64 << 20))
    write_file(src / "quiet.txt", b"calm")
    stop = threading.Event()

    def append() -> None:
        with open(growing, "ab") as f:
            while not stop.is_set():
                f.write(b"x" * 65536)
                f.flush()
                time.sleep(0.0005)

    writer = threading.Thread(target=append)
    writer.start()
    try:
        done = subprocess.run(
            [S3VAULT, "-r", cli_repo, "backup", str(src), "--json"],
            capture_output=True,
            env=cli_env,
            check=False,
            timeout=120,
        )
    finally:
        stop.set()
        writer.join()
    assert done.returncode == 3, done.stderr
    lines = [json.loads(x) for x in done.stdout.decode().splitlines()]
    warnings = [x for x in lines if x["message_type"] == "warning"]
    assert [w["item"] for w in warnings] == [str(growing)]
    assert "changed while being read" in warnings[0]["message"]
    assert lines[-1]["incomplete"] is True


def test_owner_and_xattrs_are_restored(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    src = tmp_path / "src"
    f = write_file(src / "owned", b"data")
    odd = b"user.odd\xff\x01name"  # a name that is no UTF-8: the backup's internal error
    try:
        os.setxattr(f, "user.s3vault-test", b"\x00value\xff")
        os.setxattr(f, odd, b"odd")
    except OSError:
        pytest.skip("this file system has no user xattrs")
    if os.geteuid() == 0:
        os.chown(f, 1234, 5678)
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    target = tmp_path / "t"
    assert run_cli("-r", cli_repo, "restore", "latest", "-t", str(target)).code == 0
    out = target / str(f).lstrip("/")
    assert os.getxattr(out, "user.s3vault-test") == b"\x00value\xff"
    assert os.getxattr(out, odd) == b"odd"
    assert sorted(map(os.fsencode, os.listxattr(out))) == sorted(map(os.fsencode, os.listxattr(f)))
    if os.geteuid() == 0:
        assert (os.stat(out).st_uid, os.stat(out).st_gid) == (1234, 5678)


def test_one_file_system_stops_at_mount_points(cli_repo: str, run_cli: RunCli) -> None:
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    if "/dev/shm" not in mounts or "/dev" not in mounts:
        pytest.skip("needs /dev and /dev/shm as separate mounts")
    marker = Path("/dev/shm") / f"s3vault-test-{os.getpid()}"
    marker.write_bytes(b"on another file system")
    try:
        done = run_cli("-r", cli_repo, "backup", "/dev", "--one-file-system", "--json")
        assert done.code in (0, 3), done.stderr
        inside = run_cli("-r", cli_repo, "ls", "latest", "/dev/shm")
        dev = run_cli("-r", cli_repo, "ls", "latest", "/dev").stdout.splitlines()
    finally:
        marker.unlink()
    assert "/dev/shm" in dev  # the mount point itself is kept ...
    assert inside.code == 0
    assert inside.stdout.splitlines() == ["/dev/shm"]  # ... but nothing mounted there


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_one_file_system_keeps_a_named_path_on_another_file_system(
    cli_repo: str, run_cli: RunCli, jobs: str
) -> None:
    """``backup /dev /dev/shm/x --one-file-system``: x, named by the user, lies below /dev on
    another file system. It was dropped without a word ("0 files", and ``ls`` said it is not
    in the snapshot); restic backs it up, with the directories on the way to it and nothing
    else of the other file system. Both engines (serial and worker processes)."""
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    if "/dev/shm" not in mounts or "/dev" not in mounts:
        pytest.skip("needs /dev and /dev/shm as separate mounts")
    top = Path("/dev/shm") / f"s3vault-test-ofs-{os.getpid()}-{jobs}"
    write_file(top / "named" / "d" / "f", b"named")
    write_file(top / "named" / "e", b"also")
    write_file(top / "file" / "d" / "f", b"a named file")
    write_file(top / "file" / "d" / "beside", b"not named")
    write_file(top / "file" / "other" / "g", b"not named")
    odd = os.fsencode(top) + b"/n\xff"  # a name that is no UTF-8, on the other file system
    os.makedirs(odd + b"/d")
    with open(odd + b"/d/f", "wb") as f:
        f.write(b"odd")
    t = str(top)
    try:
        listed = {}
        for named in (top / "named", top / "file" / "d" / "f", Path(os.fsdecode(odd))):
            args = ["backup", "--jobs", jobs, "--one-file-system", "/dev", str(named)]
            done = run_cli("-r", cli_repo, *args)
            assert done.code in (0, 3), done.stderr
            shown = run_cli("-r", cli_repo, "ls", "latest").stdout.splitlines()
            listed[named.name] = sorted(line for line in shown if line.startswith(str(top)))
            assert "/dev/shm" in shown  # the mount point on the way
            others = [x for x in shown if x.startswith("/dev/shm/") and not x.startswith(t)]
            assert others == []  # nothing else of the other file system
    finally:
        shutil.rmtree(top)
    assert listed["named"] == [t, f"{t}/named", f"{t}/named/d", f"{t}/named/d/f", f"{t}/named/e"]
    assert listed["f"] == [t, f"{t}/file", f"{t}/file/d", f"{t}/file/d/f"]
    assert listed[os.fsdecode(b"n\xff")] == [t, f"{t}/n\\xff", f"{t}/n\\xff/d", f"{t}/n\\xff/d/f"]


def test_a_named_path_that_cannot_be_looked_at_is_a_failure_line_not_missing(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str]
) -> None:
    """A named file below a directory of mode 000 (an attack pass): it was "does not exist,
    skipping", and alone "nothing to back up" with exit 2 (a usage error); restic says
    "permission denied". Now the walk says why, exit 3, as for any unreadable file."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to drop root's permission override")
    locked = write_file(tmp_path / "src" / "locked" / "f", b"x").parent
    readable = write_file(tmp_path / "src" / "ok", b"y")
    locked.chmod(0)
    try:
        for named in ([locked / "f"], [locked / "f", readable]):
            done = subprocess.run(
                [*WITHOUT_ROOT_OVERRIDE, S3VAULT, "-r", cli_repo, "backup", *map(str, named)],
                env=cli_env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 3, done.stderr
            assert f"{locked / 'f'}: cannot read: Permission denied" in done.stderr
            assert "does not exist" not in done.stderr
    finally:
        locked.chmod(0o755)
