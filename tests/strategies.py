"""Hypothesis strategies for s3vault's records."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import strategies as st

from s3vault.format.indexfile import IndexedPack, IndexFile
from s3vault.format.packfile import BlobType, PackEntry
from s3vault.format.snapshotfile import SnapshotFile, SnapshotSummary
from s3vault.format.tree import Node, NodeType, Tree
from s3vault.ids import ObjectId

ids = st.binary(min_size=32, max_size=32).map(ObjectId)
u32 = st.integers(min_value=0, max_value=2**32 - 1)
u63 = st.integers(min_value=0, max_value=2**63 - 1)
names = st.binary(min_size=1, max_size=255).filter(lambda b: b"/" not in b and b"\0" not in b)
texts = st.text(max_size=30)

pack_entries = st.builds(
    PackEntry, type=st.sampled_from(BlobType), id=ids, offset=u32, length=u32, raw_length=u32
)


@st.composite
def nodes(draw: st.DrawFn) -> Node:
    ntype = draw(st.sampled_from(NodeType))
    return Node(
        name=draw(names),
        type=ntype,
        mode=draw(st.integers(0, 0o7777)),
        uid=draw(u32),
        gid=draw(u32),
        user=draw(texts),
        group=draw(texts),
        mtime_ns=draw(st.integers(-(2**62), 2**62)),
        atime_ns=draw(st.integers(0, 2**62)),
        ctime_ns=draw(st.integers(0, 2**62)),
        inode=draw(u63),
        device=draw(u63),
        links=draw(st.integers(1, 2**31)),
        size=draw(u63) if ntype is NodeType.FILE else 0,
        content=tuple(draw(st.lists(ids, max_size=5))) if ntype is NodeType.FILE else (),
        content_hash=draw(ids) if ntype is NodeType.FILE else None,
        subtree=draw(ids) if ntype is NodeType.DIR else None,
        link_target=draw(st.binary(max_size=300)) if ntype is NodeType.SYMLINK else None,
        rdev=draw(u63) if ntype in (NodeType.CHARDEV, NodeType.BLOCKDEV) else 0,
        xattrs=tuple(draw(st.lists(st.tuples(names, st.binary(max_size=50)), max_size=3))),
    )


trees = st.lists(nodes(), max_size=8, unique_by=lambda n: n.name).map(
    lambda ns: Tree(nodes=tuple(sorted(ns, key=lambda n: n.name)))
)

summaries = st.builds(
    SnapshotSummary,
    **{f: u32 for f in SnapshotSummary.__dataclass_fields__ if not f.startswith("backup_")},
    backup_start=texts,
    backup_end=texts,
)

snapshots = st.builds(
    SnapshotFile,
    time=st.datetimes(timezones=st.just(UTC), min_value=datetime(1971, 1, 1)),
    tree=ids,
    paths=st.lists(texts, min_size=1, max_size=3).map(tuple),
    hostname=texts,
    username=texts,
    tags=st.lists(texts, max_size=3).map(tuple),
    parent=st.none() | ids,
    excludes=st.lists(texts, max_size=3).map(tuple),
    program_version=texts,
    incomplete=st.booleans(),
    summary=summaries,
)

index_files = st.builds(
    IndexFile,
    packs=st.lists(
        st.builds(
            IndexedPack,
            id=ids,
            size=u63,
            epoch=st.integers(0, 65535),
            entries=st.lists(pack_entries, max_size=5).map(tuple),
        ),
        max_size=4,
    ).map(tuple),
    supersedes=st.lists(ids, max_size=3).map(tuple),
)
