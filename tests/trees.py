"""Comparing source and restored trees: exact bytes, names, types, modes, times, links."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path


def snapshot_tree(root: Path, *, times: bool = True) -> dict[bytes, tuple[object, ...]]:
    """Everything observable about a tree, keyed by relative path bytes."""
    out: dict[bytes, tuple[object, ...]] = {}
    base = os.fsencode(root)
    inodes: dict[int, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        for name in sorted(dirnames) + sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, base)
            st = os.lstat(full)
            kind = stat.S_IFMT(st.st_mode)
            entry: list[object] = [kind, stat.S_IMODE(st.st_mode)]
            if times and not stat.S_ISDIR(st.st_mode):
                entry.append(st.st_mtime_ns)
            if stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    entry.append(f.read())
                if st.st_nlink > 1:
                    entry.append(("link-group", inodes.setdefault(st.st_ino, rel)))
            elif stat.S_ISLNK(st.st_mode):
                entry.append(os.readlink(full))
            out[rel] = tuple(entry)
    return out


def remove_deep(root: Path) -> None:
    """Remove a tree of any depth: shutil.rmtree (and so pytest's clean-up of old temporary
    directories) recurses and fails beyond ~1,000 levels; GNU rm does not."""
    subprocess.run(["rm", "-rf", "--", str(root)], check=True)
