"""Change detection: is a file the same as in the parent snapshot, so it need not be read?

A file is unchanged when its type, size, mtime, ctime and inode all match the parent's node and
every content blob is still in the index (a pruned blob forces a re-read). ctime catches
``touch -m`` games and in-place rewrites that restore mtime. As in restic, ``--ignore-ctime``
leaves the ctime out, and ``--ignore-inode`` both the inode and the ctime (file systems whose
inodes are not stable, FUSE or network mounts, have no trustworthy ctime either).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from s3vault.format.packfile import BlobType
from s3vault.format.tree import Node, NodeType
from s3vault.repository.index import BlobIndex


@dataclass(frozen=True, slots=True)
class ChangeRules:
    """What change detection leaves out (``backup --ignore-ctime``, ``--ignore-inode``)."""

    ignore_ctime: bool = False
    ignore_inode: bool = False  # implies ignore_ctime


def unchanged(
    st: os.stat_result, parent: Node | None, index: BlobIndex, rules: ChangeRules | None = None
) -> bool:
    """True when the parent's content can be reused without opening the file."""
    if parent is None or parent.type is not NodeType.FILE:
        return False
    rules = rules or _DEFAULT
    if (
        parent.size != st.st_size
        or parent.mtime_ns != st.st_mtime_ns
        or parent.content_hash is None
        or (not rules.ignore_inode and parent.inode != st.st_ino)
        or (not (rules.ignore_ctime or rules.ignore_inode) and parent.ctime_ns != st.st_ctime_ns)
    ):
        return False
    return all(index.has(BlobType.DATA, bid) for bid in parent.content)


_DEFAULT = ChangeRules()
