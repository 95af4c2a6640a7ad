"""Directories this process may not write, for the read-only tests (issue 14, defect 5).

Three ways, each usable where the others may not be:
- ``mount``: a read-only bind mount (EROFS, also for root); needs root and the right to mount;
- ``chmod``: mode 0555 (EACCES); only for a user that is not root (root ignores modes);
- ``not-a-directory``: a path below a regular file (ENOTDIR on every write, for everyone); the
  same failures the first two give a cache: mkdir, create and even unlink fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

KINDS = ("mount", "chmod", "not-a-directory")


def mount_read_only(source: Path, target: Path) -> str | None:
    """Bind-mount source read-only at target; returns why not when the kernel refuses."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return "a read-only bind mount needs root and mount(8)"
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "--bind", "-o", "ro", str(source), str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return f"mount --bind -o ro refused: {done.stderr.strip()}"
    probe = target / ".probe"
    try:
        probe.touch()
    except OSError:
        return None
    probe.unlink()
    unmount(target)
    return "this kernel ignores ro on bind mounts"


def mount_tmpfs(where: Path, options: str) -> str | None:
    """A tmpfs mounted at ``where`` with ``options`` (``ro``, ``size=256k``); returns why not
    when this host refuses (not root, no mount(8))."""
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    return None if done.returncode == 0 else f"cannot mount a tmpfs here: {done.stderr.strip()}"


def unmount(target: Path) -> None:
    """Undo mount_read_only."""
    subprocess.run(["umount", str(target)], capture_output=True, check=False)


@contextmanager
def unwritable(directory: Path, kind: str) -> Iterator[Path]:
    """``directory`` (created if missing, its contents kept) as a path this process may read
    but not write, made so in the way ``kind`` names; skips the test when that way is not
    available here, with the reason."""
    directory.mkdir(parents=True, exist_ok=True)
    if kind == "mount":
        target = directory.with_name(directory.name + "-ro")
        reason = mount_read_only(directory, target)
        if reason is not None:
            pytest.skip(reason)
        try:
            yield target
        finally:
            unmount(target)
    elif kind == "chmod":
        if os.geteuid() == 0:
            pytest.skip("root ignores file modes (the mount and not-a-directory kinds cover it)")
        modes = {p: p.stat().st_mode for p in [directory, *directory.rglob("*")] if p.is_dir()}
        for path in modes:
            path.chmod(0o555)
        try:
            yield directory
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
    else:
        blocker = directory / "a-file"
        blocker.write_bytes(b"not a directory\n")
        yield blocker / "cache"
