"""RecordTable behaves like a dict of key → list of records (in the order added), whether the
records are in memory, in one run on disk, in several, or merged; StoredBlobs answers a
BlobWriter as a BlobIndex would."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.format.packfile import BlobType
from s3vault.repository.recordtable import RecordTable
from s3vault.repository.stored import StoredBlobs
from tests import strategies as s

# Keys over a two-letter alphabet share buckets and contain each other's bytes at every offset:
# a match that straddles two records must not count.
narrow = st.lists(st.sampled_from([0, 1]), min_size=33, max_size=33).map(bytes)
keys = st.one_of(s.ids.map(lambda b: b"\x01" + b), narrow)
values = st.binary(min_size=7, max_size=7)
adds = st.lists(st.tuples(keys, values), max_size=60)


@given(adds, st.lists(keys, max_size=20), st.sampled_from([40, 200, 1 << 20]), st.integers(2, 4))
def test_recordtable_matches_a_multimap_model(
    added: list[tuple[bytes, bytes]], probes: list[bytes], flush_bytes: int, max_runs: int
) -> None:
    # flush_bytes of one record, of a few, or never: memory only, many runs, merged runs
    table = RecordTable(40, 33, 1, flush_bytes=flush_bytes, max_runs=max_runs)
    model: dict[bytes, list[bytes]] = {}
    try:
        for n, (key, value) in enumerate(added):
            table.add(key + value)
            model.setdefault(key, []).append(key + value)
            if n % 7 == 6:
                table.flush()
        assert len(table) == len(added)
        for key in [k for k, _ in added] + probes:
            assert table.find(key) == model.get(key, [])
            assert table.last(key) == (model[key][-1] if key in model else None)
        table.compact()
        for key in [k for k, _ in added] + probes:
            assert table.find(key) == model.get(key, [])
    finally:
        table.close()


def test_recordtable_refuses_records_and_keys_of_the_wrong_size() -> None:
    table = RecordTable(48)
    with pytest.raises(ValueError, match="48 bytes"):
        table.add(b"x" * 47)
    with pytest.raises(ValueError, match="32 bytes"):
        table.find(b"x" * 33)
    with pytest.raises(ValueError, match="bucketed"):
        RecordTable(40, 33, 32)
    table.close()


@given(st.lists(st.tuples(st.sampled_from(list(BlobType)), s.ids), max_size=30))
def test_stored_blobs_reserves_as_a_blob_index_does(blobs: list) -> None:
    stored = StoredBlobs()
    model: set[tuple[BlobType, bytes]] = set()
    for btype, bid in blobs:
        first = (btype, bid) not in model
        assert stored.has(btype, bid) == (not first)
        assert stored.reserve(btype, bid) == first  # in flight: not twice
        assert not stored.reserve(btype, bid)
        if first:
            stored.add_pack(b"p" * 32, 1, [(btype, bid, 0, 1, 1)])
            model.add((btype, bid))
        assert stored.has(btype, bid)
        assert not stored.reserve(btype, bid)  # stored: not again
    assert len(stored) == len(model)
    stored.reserve(BlobType.DATA, b"n" * 32)
    stored.release(BlobType.DATA, b"n" * 32)  # given up: may be stored after all
    assert stored.reserve(BlobType.DATA, b"n" * 32)
