"""archiver/changes.py: which differences from the parent make a file changed, with restic's
--ignore-ctime and --ignore-inode."""

from __future__ import annotations

import os

import pytest

from s3vault.archiver.changes import ChangeRules, unchanged
from s3vault.format.tree import Node, NodeType
from s3vault.ids import ObjectId
from s3vault.repository.index import BlobIndex

PARENT = Node(
    name=b"f",
    type=NodeType.FILE,
    size=10,
    mtime_ns=100,
    ctime_ns=200,
    inode=7,
    content=(),  # an empty file: no blob to look up
    content_hash=ObjectId(bytes(32)),
)


def stat(*, size: int = 10, mtime: int = 100, ctime: int = 200, inode: int = 7) -> os.stat_result:
    # st_mode, st_ino, st_dev, st_nlink, st_uid, st_gid, st_size, three int times, then the
    # float times and the nanosecond ones (atime, mtime, ctime)
    fields = (0o100644, inode, 1, 1, 0, 0, size, 0, 0, 0)
    extra = (0.0, 0.0, 0.0, 0, mtime, ctime)
    return os.stat_result(fields + extra)


def test_the_stat_helper_fills_what_change_detection_reads() -> None:
    st = stat(size=1, mtime=2, ctime=3, inode=4)
    assert (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino) == (1, 2, 3, 4)


@pytest.mark.parametrize(
    ("st", "rules", "same"),
    [
        (stat(), ChangeRules(), True),
        (stat(ctime=201), ChangeRules(), False),
        (stat(ctime=201), ChangeRules(ignore_ctime=True), True),
        (stat(inode=8), ChangeRules(ignore_ctime=True), False),
        (stat(inode=8, ctime=201), ChangeRules(ignore_inode=True), True),  # ctime left out too
        (stat(mtime=101), ChangeRules(ignore_ctime=True, ignore_inode=True), False),
        (stat(size=11), ChangeRules(ignore_inode=True), False),
    ],
)
def test_unchanged_leaves_out_what_the_rules_say(
    st: os.stat_result, rules: ChangeRules, same: bool
) -> None:
    assert unchanged(st, PARENT, BlobIndex(), rules) is same
