"""Files of the kernel's own file systems (/proc, /sys): read as they are, as restic reads
them. Their size says nothing of their content (0 for /proc/version, 4096 in /sys), and a
/proc/sys file refuses one read of many megabytes (ENOMEM): every backup of `/` warned
"changed while being read" for each and failed the sysctls, exit 3 every night."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from s3vault.archiver.chunking import FdReader
from s3vault.archiver.pseudofs import GENERATED, generated_devices, is_generated
from tests.conftest import RunCli

KERNEL_FILES = [
    p
    for p in ("/proc/version", "/proc/sys/kernel/hostname", "/sys/class/net/lo/address")
    if os.path.exists(p)
]
needs_proc = pytest.mark.skipif(
    not os.path.exists("/proc/self/mountinfo"), reason="no /proc here (not Linux)"
)


def test_the_mount_table_names_the_generated_file_systems_devices(tmp_path: Path) -> None:
    table = tmp_path / "mountinfo"
    table.write_text(
        "22 28 0:21 / /proc rw,nosuid shared:12 - proc proc rw\n"
        "23 28 0:22 / /sys rw shared:7 - sysfs sysfs rw\n"
        "28 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "30 23 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"
        "31 28 0:28 / /dev/shm rw - tmpfs tmpfs rw\n"
        "garbage line without a separator\n"
        "40 28 x:y / /odd rw - proc proc rw\n"
        # a mount point and a source that spell " - proc" (the table escapes a space as \040)
        "41 28 0:30 / /tmp/p\\040-\\040proc rw - tmpfs src\\040-\\040proc rw\n"
        "42 28 0:31 / /tmp/q rw - fuse.proc proc rw\n"  # FUSE names its type fuse.X
        # a container's lxcfs (LXC, Proxmox): generated proc files served through FUSE
        "43 22 0:45 /proc/cpuinfo /proc/cpuinfo rw - fuse.lxcfs lxcfs rw,user_id=0\n"
    )
    assert generated_devices(str(table)) == {
        os.makedev(0, 21): GENERATED["proc"],
        os.makedev(0, 22): GENERATED["sysfs"],
        os.makedev(0, 27): GENERATED["cgroup2"],
        os.makedev(0, 45): 0x65735546,  # FUSE's: the type an lxcfs file must show
    }  # not ext4, not tmpfs (stored data), nothing from malformed lines
    assert generated_devices(str(tmp_path / "none")) == {}


@needs_proc
def test_proc_and_sys_are_known_and_tmp_is_not() -> None:
    found = generated_devices()
    assert os.stat("/proc/version").st_dev in found
    assert os.stat(Path(__file__)).st_dev not in found


@needs_proc
def test_a_sysctl_file_is_read_whole_by_reads_of_any_size() -> None:
    """One read of 8 MiB from /proc/sys/kernel/hostname fails with ENOMEM in the kernel;
    the reader takes it in smaller pieces."""
    fd = os.open("/proc/sys/kernel/hostname", os.O_RDONLY)
    try:
        got = FdReader(fd).read(8 << 20)
    finally:
        os.close(fd)
    assert got == Path("/proc/sys/kernel/hostname").read_bytes()


@needs_proc
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_backup_of_kernel_files_warns_of_nothing_and_restores_them(
    tmp_path: Path, cli_repo: str, run_cli: RunCli, jobs: str
) -> None:
    done = run_cli("-r", cli_repo, "backup", "--jobs", jobs, *KERNEL_FILES)
    assert (done.code, done.stderr) == (0, ""), done.stderr
    out = tmp_path / "out"
    assert run_cli("-r", cli_repo, "restore", "latest", "--target", str(out)).code == 0
    for path in KERNEL_FILES:
        assert (out / path.lstrip("/")).read_bytes() == Path(path).read_bytes(), path


@needs_proc
def test_a_device_number_the_mount_table_named_is_not_taken_on_trust(tmp_path: Path) -> None:
    """Device numbers of virtual file systems are handed out again as soon as one is
    unmounted: a proc mount gone during a backup left its number to a tmpfs whose file,
    changing while it was read, was saved torn with no warning. The kernel's word for the
    open file (fstatfs) decides."""
    ordinary = tmp_path / "f"
    ordinary.write_bytes(b"data")
    for path, expected in (("/proc/version", True), (str(ordinary), False)):
        fd = os.open(path, os.O_RDONLY)
        try:
            dev = os.fstat(fd).st_dev
            assert is_generated(fd, dev, {dev: GENERATED["proc"]}) is expected, path
            assert not is_generated(fd, dev, {})
            # a number the table gave an lxcfs (FUSE) mount: a proc file there is not taken
            # either, its type is not the one named
            assert not is_generated(fd, dev, {dev: GENERATED["fuse.lxcfs"]})
        finally:
            os.close(fd)
