"""Which files a process opened, seen through Linux inotify (IN_OPEN), via ctypes."""

from __future__ import annotations

import ctypes
import os
import struct
from pathlib import Path

IN_OPEN = 0x20
IN_ISDIR = 0x40000000
_EVENT = struct.Struct("iIII")


class OpenWatch:
    """Watches every directory under a root for files being opened."""

    def __init__(self, root: Path) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self._dirs: dict[int, Path] = {}
        for d in [root, *(p for p in root.rglob("*") if p.is_dir() and not p.is_symlink())]:
            wd = self._libc.inotify_add_watch(self._fd, os.fsencode(d), IN_OPEN)
            if wd < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch {d}")
            self._dirs[wd] = d

    def opened_files(self) -> set[Path]:
        """Files (not directories) opened since the watch began."""
        out: set[Path] = set()
        while True:
            try:
                data = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                break
            pos = 0
            while pos < len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, pos)
                name = data[pos + _EVENT.size : pos + _EVENT.size + length].rstrip(b"\0")
                pos += _EVENT.size + length
                if mask & IN_OPEN and not mask & IN_ISDIR and name:
                    out.add(self._dirs[wd] / os.fsdecode(name))
        return out

    def close(self) -> None:
        os.close(self._fd)
