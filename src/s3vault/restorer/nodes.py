"""What a restore accepts from a tree node: every field is checked against what the OS can take
before it is used, so a crafted or damaged node fails that one entry (or that one attribute)
with a named reason, never the whole restore.

Two levels:

- ``refusal``: the entry cannot be restored as the snapshot describes it (a file whose size
  disagrees with its content, a symlink without a usable target, a device number out of range);
  the planner leaves it out and reports it.
- ``owner_problem``, ``mode_problem``, ``times_problem``, ``xattr_problem``: one attribute cannot
  be applied; the content is restored and the attribute is reported.

Ranges are those of Linux: uid_t and gid_t are 32 bits with -1 reserved, modes are permission
bits (``S_IMODE``, what backup stores), times are signed 64-bit nanoseconds, dev_t is 64 bits.
"""

from __future__ import annotations

import stat

from s3vault.format.tree import Node, NodeType

ID_MAX = 2**32 - 2  # (uid_t)-1 means "leave unchanged" to chown
MODE_MAX = 0o7777
NS_MIN, NS_MAX = -(2**63), 2**63 - 1  # what os.utime takes (1677 to 2262)
TIME_MIN, TIME_MAX = -(2**63) * 10**9, (2**63 - 1) * 10**9  # what utimensat takes (time_t)
DEV_MAX = 2**64 - 1


def refusal(node: Node) -> str:
    """Why the entry cannot be restored at all, or empty (file sizes are checked against the
    content by the planner, which knows the blob lengths)."""
    if node.type is NodeType.FILE:
        return f"size {node.size} is negative" if node.size < 0 else ""
    if node.type is NodeType.SYMLINK:
        if not node.link_target:
            return "symlink without a target"
        if b"\0" in node.link_target:
            return "symlink target contains NUL"
    elif node.type in (NodeType.CHARDEV, NodeType.BLOCKDEV) and not 0 <= node.rdev <= DEV_MAX:
        return f"device number {node.rdev} is out of range"
    return ""


def applicable(node: Node) -> bool:
    """Whether every attribute is in range (one test for the common case)."""
    return (
        0 <= node.uid <= ID_MAX
        and 0 <= node.gid <= ID_MAX
        and 0 <= node.mode <= MODE_MAX
        and TIME_MIN <= node.mtime_ns <= TIME_MAX
        and TIME_MIN <= node.atime_ns <= TIME_MAX
        and all(key and b"\0" not in key for key, _value in node.xattrs)
    )


def owner_problem(node: Node) -> str:
    """Why uid/gid cannot be applied, or empty."""
    for what, value in (("uid", node.uid), ("gid", node.gid)):
        if not 0 <= value <= ID_MAX:
            return f"{what} {value} is out of range"
    return ""


def mode_problem(node: Node) -> str:
    """Why the mode cannot be applied, or empty."""
    return "" if 0 <= node.mode <= MODE_MAX else f"{node.mode:o} is out of range"


def times_problem(node: Node) -> str:
    """Why the times cannot be applied, or empty."""
    for what, value in (("mtime", node.mtime_ns), ("atime", node.atime_ns)):
        if not TIME_MIN <= value <= TIME_MAX:
            return f"{what} {value} ns is out of range"
    return ""


def xattr_problem(name: bytes) -> str:
    """Why an extended attribute with this name cannot be set, or empty."""
    if not name:
        return "empty name"
    if b"\0" in name:
        return f"the name {name!r} contains NUL"
    return ""


SETID = stat.S_ISUID | stat.S_ISGID


def setid_for_owner(node: Node, uid: int, gid: int) -> tuple[int, list[str]]:
    """The mode a restored file owned by ``uid``:``gid`` gets, and each set-id bit left off.

    A setuid or setgid bit means "run as this file's owner (group)": it is kept only where
    the file has the snapshot's owner (group). Where the owner could not be restored, a
    restore by root of a user's setuid program left a setuid-root program (chown refused
    inside a user namespace, or on a file system that squashes owners), and a restore by a
    user made a program that runs as that user for whoever starts it. GNU tar and cp -p drop
    the bits then, and so do we (sinks.py; root's restore says so); restic keeps them. A
    drill's proof expects the mode this returns (proof.py).
    """
    mode, dropped = node.mode, list[str]()
    if node.type is not NodeType.FILE or not mode & SETID:
        return mode, dropped
    if mode & stat.S_ISUID and uid != node.uid:
        mode &= ~stat.S_ISUID
        dropped.append(f"setuid: the file is owned by uid {uid}, not uid {node.uid}")
    if mode & stat.S_ISGID and gid != node.gid:
        mode &= ~stat.S_ISGID
        dropped.append(f"setgid: its group is gid {gid}, not gid {node.gid}")
    return mode, dropped
