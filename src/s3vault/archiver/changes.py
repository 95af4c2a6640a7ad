"""Change detection: is a file the same as in the parent snapshot, so it need not be read?

A file is unchanged when its type, size, mtime, ctime and inode all match the parent's node and
every content blob is still in the index (a pruned blob forces a re-read). ctime catches
``touch -m`` games and in-place rewrites that restore mtime.
"""

from __future__ import annotations

import os

from s3vault.format.packfile import BlobType
from s3vault.format.tree import Node, NodeType
from s3vault.repository.index import BlobIndex


def unchanged(st: os.stat_result, parent: Node | None, index: BlobIndex) -> bool:
    """True when the parent's content can be reused without opening the file."""
    if parent is None or parent.type is not NodeType.FILE:
        return False
    if (
        parent.size != st.st_size
        or parent.mtime_ns != st.st_mtime_ns
        or parent.ctime_ns != st.st_ctime_ns
        or parent.inode != st.st_ino
        or parent.content_hash is None
    ):
        return False
    return all(index.has(BlobType.DATA, bid) for bid in parent.content)
