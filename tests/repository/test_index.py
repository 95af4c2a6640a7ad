"""BlobIndex behaves like a dict of (type, id) → location, through compaction and dump/load."""

from __future__ import annotations

import os
import struct
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from s3vault.repository import index as index_mod
from s3vault.repository.index import NBUCKETS, BlobIndex
from tests import strategies as s

entries = st.lists(st.tuples(st.sampled_from(BlobType), s.ids, s.u32, s.u32, s.u32), max_size=60)


@settings(max_examples=60)
@given(st.lists(st.tuples(s.ids, s.u63, entries), max_size=6), st.lists(s.ids, max_size=10))
def test_index_matches_a_dict_model(packs: list, probes: list[ObjectId]) -> None:
    idx = BlobIndex()
    model: dict[tuple[BlobType, bytes], tuple[ObjectId, int, int, int]] = {}
    for pack_id, size, ents in packs:
        idx.add_pack(pack_id, size, ents)
        for btype, bid, off, length, raw in ents:
            model.setdefault((btype, bid), (pack_id, off, length, raw))
    for image in (idx, BlobIndex.load(idx.dump())):
        for (btype, bid), (pack_id, off, length, raw) in model.items():
            loc = image.lookup(btype, bid)
            assert loc is not None
            assert (loc.pack_id, loc.offset, loc.length, loc.raw_length) == (
                pack_id,
                off,
                length,
                raw,
            )
        for probe in probes:
            for btype in BlobType:
                assert image.has(btype, probe) == ((btype, probe) in model)
        assert len(image) == len(model)
        assert sorted((t, i) for t, i, _ in image.entries()) == sorted(model)


def test_index_survives_compaction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_mod, "COMPACT_AT", 100)
    idx = BlobIndex()
    ids = [ObjectId(os.urandom(32)) for _ in range(1000)]
    for n in range(10):
        chunk = ids[n * 100 : (n + 1) * 100]
        idx.add_pack(
            ObjectId(os.urandom(32)), 1, [(BlobType.DATA, b, i, 1, 1) for i, b in enumerate(chunk)]
        )
    assert all(idx.has(BlobType.DATA, b) for b in ids)
    assert not any(idx.has(BlobType.TREE, b) for b in ids)
    assert len(idx) == 1000


def test_reservations_prevent_double_storage() -> None:
    idx = BlobIndex()
    bid = ObjectId(os.urandom(32))
    assert idx.reserve(BlobType.DATA, bid)
    assert not idx.reserve(BlobType.DATA, bid)
    assert idx.reserve(BlobType.TREE, bid)  # types are separate namespaces
    idx.release(BlobType.DATA, bid)
    assert idx.reserve(BlobType.DATA, bid)
    idx.add_pack(ObjectId(os.urandom(32)), 10, [(BlobType.DATA, bid, 0, 10, 5)])
    assert not idx.reserve(BlobType.DATA, bid)


def test_damaged_image_is_refused() -> None:
    idx = BlobIndex()
    idx.add_pack(ObjectId(os.urandom(32)), 1, [(BlobType.DATA, os.urandom(32), 0, 1, 1)])
    raw = idx.dump()
    with pytest.raises((ValueError, Exception)):
        BlobIndex.load(raw[:-5])


@settings(max_examples=60)
@given(
    st.lists(st.tuples(s.ids, s.u63, entries), min_size=1, max_size=6),
    st.sets(st.integers(0, 5), max_size=3),
)
def test_index_keeps_every_copy_and_drops_lost_packs(packs: list, dropped: set[int]) -> None:
    """A blob stored in several packs keeps every location, the first first; dropping packs
    (gone from the store) makes the next copy the first, and blobs with no copy left vanish."""
    idx = BlobIndex()
    model: dict[tuple[BlobType, bytes], list[tuple[ObjectId, int, int, int]]] = {}
    for pack_id, size, ents in packs:
        idx.add_pack(pack_id, size, ents)
        for btype, bid, off, length, raw in ents:
            places = model.setdefault((btype, bid), [])
            if all(p[0] != pack_id for p in places):
                places.append((pack_id, off, length, raw))
    gone = {packs[i][0] for i in dropped if i < len(packs)}
    idx.drop_packs(gone)
    for key in list(model):
        model[key] = [p for p in model[key] if p[0] not in gone]
        if not model[key]:
            del model[key]
    for image in (idx, BlobIndex.load(idx.dump())):
        assert len(image) == len(model)
        for (btype, bid), places in model.items():
            found = [
                (loc.pack_id, loc.offset, loc.length, loc.raw_length)
                for loc in image.locations(btype, bid)
            ]
            assert found == places
            first = image.lookup(btype, bid)
            assert first is not None and first.pack_id == places[0][0]
        assert sorted((t, i) for t, i, _ in image.entries()) == sorted(model)


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(s.ids, st.sampled_from(BlobType), st.lists(s.ids, max_size=12, unique=True)),
        max_size=6,
        unique_by=lambda p: p[0],
    ),
    st.lists(s.ids, max_size=3),
)
def test_pack_entries_gives_back_what_each_pack_holds(packs: list, strangers: list) -> None:
    idx = BlobIndex()
    model: dict[ObjectId, list[tuple[BlobType, bytes, int, int, int]]] = {}
    for pack_id, btype, ids in packs:
        entries = [(btype, bid, 100 * i, 10 + i, 20 + i) for i, bid in enumerate(ids)]
        idx.add_pack(pack_id, 1000, entries)
        model[pack_id] = entries
    asked = [p for p, _, _ in packs[::2]] + [p for p in strangers if p not in model]
    found = idx.pack_entries(asked)
    assert set(found) == {p for p in asked if p in model}
    for pack_id, entries in found.items():
        got = [(e.type, e.id, e.offset, e.length, e.raw_length) for e in entries]
        assert got == model[pack_id]


def test_the_image_counts_records_in_the_bucket_of_their_first_two_bytes() -> None:
    """The cache image (repository/index.py, "Serialisation"): after the packs, per blob
    type 2^16 record counts (u32), one per bucket (a blob id's first two bytes), then the
    records; the first and the last bucket are counted where they are, and an empty index's
    image is all zero counts."""
    empty = BlobIndex().dump()
    assert empty == struct.pack("<I", 0) + 2 * (bytes(4 * NBUCKETS) + struct.pack("<I", 0))
    pack = ObjectId(b"p" * 32)
    first, last = b"\x00\x00" + b"a" * 30, b"\xff\xff" + b"b" * 30
    idx = BlobIndex()
    idx.add_pack(pack, 99, [(BlobType.DATA, first, 0, 5, 4), (BlobType.DATA, last, 5, 6, 5)])
    idx.add_pack(ObjectId(b"q" * 32), 9, [(BlobType.DATA, last, 0, 6, 5)])  # a second copy
    image = idx.dump()
    start = 4 + 2 * 32 + 2 * 8 + 2 * 2  # two packs: ids, sizes, epochs
    counts = array("I", image[start : start + 4 * NBUCKETS])
    assert (counts[0], counts[NBUCKETS - 1], sum(counts)) == (1, 2, 3)
    assert BlobIndex.load(image).lookup(BlobType.DATA, ObjectId(last)) is not None
