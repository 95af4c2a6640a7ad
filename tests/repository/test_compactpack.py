"""Compact packs stand for exactly the packs an index file describes, and write the same bytes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from s3vault.format.indexfile import IndexFile
from s3vault.repository.compactpack import (
    CompactPack,
    SpillFile,
    compact_index_file,
    encode_compact,
)
from s3vault.repository.names import pack_kind, pack_name
from tests import strategies as s


@given(s.index_files, st.booleans())
def test_compact_index_file_holds_what_the_index_file_says(ifile: IndexFile, spilled: bool) -> None:
    compact = compact_index_file(ifile.encode(), SpillFile() if spilled else None)
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


@given(s.index_files, st.booleans())
def test_encode_compact_writes_the_index_file_bytes(ifile: IndexFile, spilled: bool) -> None:
    spill = SpillFile() if spilled else None
    packs = list(compact_index_file(ifile.encode(), spill).packs)
    assert encode_compact(packs, ifile.supersedes) == ifile.encode()
