"""Compact packs stand for exactly the packs an index file describes, and write the same bytes."""

from __future__ import annotations

from hypothesis import given

from s3vault.format.indexfile import IndexFile
from s3vault.repository.compactpack import CompactPack, compact_index_file, encode_compact
from s3vault.repository.names import pack_kind, pack_name
from tests import strategies as s


@given(s.index_files)
def test_compact_index_file_holds_what_the_index_file_says(ifile: IndexFile) -> None:
    compact = compact_index_file(ifile.encode())
    assert compact.supersedes == ifile.supersedes
    assert [p.full() for p in compact.packs] == list(ifile.packs)
    for cp, pack in zip(compact.packs, ifile.packs, strict=True):
        assert CompactPack.of(pack) == cp
        assert len(cp) == len(pack.entries)
        assert list(cp.blobs()) == [(e.type, e.id, e.length) for e in pack.entries]
        assert cp.index_entries() == [
            (e.type, e.id, e.offset, e.length, e.raw_length) for e in pack.entries
        ]
        assert (cp.kind, cp.name) == (pack_kind(pack), pack_name(pack))
        assert cp.facts().name == pack_name(pack)


@given(s.index_files)
def test_encode_compact_writes_the_index_file_bytes(ifile: IndexFile) -> None:
    packs = [CompactPack.of(p) for p in ifile.packs]
    assert encode_compact(packs, ifile.supersedes) == ifile.encode()
