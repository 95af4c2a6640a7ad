"""Stage 1b, the walk's frames: directories on an explicit stack, never recursion.

Each directory being walked is a ``DirFrame`` on the archiver's stack, so a tree 10,000 levels
deep costs a longer list, not a deeper Python stack. Paths longer than the kernel accepts
(PATH_MAX, 4096 bytes) are handled too: a directory whose absolute path is shorter than
``DEEP_AT`` is reached by that path; a deeper one is opened relative to its parent and reached
through ``/proc/self/fd/N``. Only the innermost deep directory holds a descriptor: going down
closes the parent's, coming back reopens it through ``..`` and checks it is still the same
directory (device and inode), so a tree moved during the backup is noticed, never misread.

The path of the directory being walked is kept once, in a shared buffer (``PathBuffer``): a
frame records only its length, so memory follows the depth, not the depth squared.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from s3vault.archiver.reuse import ParentListing
from s3vault.archiver.trees import PendingDir

DEEP_AT = 3072  # bytes of absolute path; a name (≤ 255) more stays below PATH_MAX

Listing = list[tuple[bytes, os.stat_result | OSError]]


@dataclass(slots=True)
class DirFrame:
    """One directory being walked: its pending tree, the entries still to visit."""

    pdir: PendingDir
    entries: Iterator[tuple[bytes, os.stat_result | OSError]]
    parent: ParentListing | None  # the parent snapshot's tree of it
    plen: int  # length of its path in the PathBuffer
    io: bytes  # reaches it: its absolute path, or /proc/self/fd/N while ``fd`` is open
    ident: tuple[int, int]  # (device, inode)
    tagged: frozenset[bytes] | None = None  # a tag file's directory: the entries that stay
    root_dev: int = 0  # the device its entries stay on (--one-file-system)
    fd: int | None = None  # deep directories only
    reopen: bytes = field(default=b"")  # the child's io, to come back through ".."

    def child_io(self, name: bytes) -> bytes:
        """How to reach an entry of this directory (valid while this frame's fd is open)."""
        return self.io + b"/" + name if self.io != b"/" else b"/" + name


class PathBuffer:
    """The path of the directory being walked, shared by every frame on the stack."""

    def __init__(self, base: bytes) -> None:
        self._buf = bytearray(base)

    def enter(self, plen: int, name: bytes) -> int:
        """The child ``name`` of the directory whose path has length ``plen``; returns the
        child's length."""
        del self._buf[plen:]
        if not self._buf.endswith(b"/"):
            self._buf += b"/"
        self._buf += name
        return len(self._buf)

    def path(self, plen: int, name: bytes = b"") -> bytes:
        """The path of a frame (of length ``plen``), or of one of its entries."""
        head = bytes(self._buf[:plen])
        if not name:
            return head
        return head + name if head.endswith(b"/") else head + b"/" + name


def is_deep(path_length: int) -> bool:
    """Whether a directory at this path length must be reached relative to its parent."""
    return path_length >= DEEP_AT


def fd_path(fd: int) -> bytes:
    """A short path that reaches an open directory."""
    return b"/proc/self/fd/%d" % fd


def close(fd: int | None) -> None:
    """Close a frame's descriptor, if it holds one."""
    if fd is not None:
        os.close(fd)
