"""File systems whose files are made when read (/proc, /sys and their kind, and lxcfs's
files in a container's /proc).

A file there reports a size that is not its content's: 0 for /proc/cpuinfo, 4096 for most of
/sys, while a read returns what the kernel makes of it at that moment. Checking the bytes read
against the size (how a backup tells a file changed while it was read) would warn on every
such file at every run, and a backup of ``/`` would exit 3 night after night for no change.
restic and borg read these files as they are; so does s3vault: their content is what one read
gave, with no size check. Which devices hold such file systems comes from the mount table
(``/proc/self/mountinfo``), read once per backup; a file on one of them is taken as generated
only when the kernel confirms it for the open file itself (``fstatfs``): device numbers of
virtual file systems come from one pool and are handed out again at once, so a proc mount
that goes away during a backup can leave its number to a tmpfs or FUSE mount whose files
must keep the check: the type the kernel gives must be the one the mount table named.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

# Linux file systems whose regular files are generated when read, not stored, with the
# statfs f_type (linux/magic.h) an open file on one must show
GENERATED = {
    "proc": 0x9FA0,
    "sysfs": 0x62656572,
    "cgroup": 0x27E0EB,
    "cgroup2": 0x63677270,
    "debugfs": 0x64626720,
    "tracefs": 0x74726163,
    "securityfs": 0x73636673,
    "pstore": 0x6165676C,
    "bpf": 0xCAFE4A11,
    "configfs": 0x62656570,
    "efivarfs": 0xDE5E81E4,
    "selinuxfs": 0xF97CFF8C,
    "fusectl": 0x65735543,
    "binfmt_misc": 0x42494E4D,
    "rpc_pipefs": 0x67596969,
    "nfsd": 0x6E667364,
    # LXC and Proxmox containers: lxcfs (FUSE) serves the container's own /proc/cpuinfo,
    # meminfo, stat, uptime, loadavg, diskstats, swaps and /sys/devices/system/cpu/online,
    # size 0 and made when read, as proc's are (a backup of a container's / warned on each)
    "fuse.lxcfs": 0x65735546,  # FUSE_SUPER_MAGIC
}
MOUNTINFO = "/proc/self/mountinfo"
_STATFS_SIZE = 256  # bytes: more than struct statfs takes on any Linux ABI
_libc: Any = None


def generated_devices(mountinfo: str = MOUNTINFO) -> dict[int, int]:
    """The device numbers (``st_dev``) of the mounted file systems in GENERATED, each with
    the f_type its files must show; none where the mount table cannot be read (not Linux, no
    /proc)."""
    try:
        with open(mountinfo, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return {}
    found = {}
    for line in lines:
        # "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue"
        fields, _, rest = line.partition(" - ")
        parts = fields.split()
        if len(parts) < 3 or not rest or rest.split()[0] not in GENERATED:
            continue
        major, _, minor = parts[2].partition(":")
        if major.isdigit() and minor.isdigit():
            found[os.makedev(int(major), int(minor))] = GENERATED[rest.split()[0]]
    return found


def is_generated(fd: int, dev: int, devices: Mapping[int, int]) -> bool:
    """Whether the open file ``fd`` (on device ``dev``, from its fstat) is on a generated
    file system: its device is one of ``devices`` (``generated_devices``, the cheap test that
    rules out almost every file) and ``fstatfs`` says the file system is of the type the
    mount table gave that device."""
    expected = devices.get(dev)
    return expected is not None and _fs_magic(fd) == expected


def _fs_magic(fd: int) -> int | None:
    """The file system type (statfs f_type) of an open file, or None if it cannot be had."""
    global _libc  # noqa: PLW0603 - loaded once, on the first file that needs it
    import ctypes  # only a backup that meets such a file pays for the import

    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    buf = ctypes.create_string_buffer(_STATFS_SIZE)
    if _libc.fstatfs(fd, buf) != 0:
        return None
    return int(ctypes.c_long.from_buffer(buf).value) & 0xFFFFFFFF  # f_type: the first word
