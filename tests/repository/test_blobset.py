"""BlobSet behaves like a Python set of 32-byte ids: membership, add, len, iteration."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.ids import ObjectId
from s3vault.repository.blobset import BlobFlags, BlobSet
from tests import strategies as s

# Ids over a two-letter alphabet share buckets and contain each other's bytes at every offset:
# a match that straddles two stored ids must not count as membership.
narrow_ids = st.lists(st.sampled_from([0, 1]), min_size=32, max_size=32).map(bytes)
any_ids = st.one_of(s.ids, narrow_ids)


@given(st.lists(any_ids, max_size=80), st.lists(any_ids, max_size=40))
def test_blobset_matches_a_set_model(added: list[bytes], probes: list[bytes]) -> None:
    blobs = BlobSet()
    model: set[bytes] = set()
    for bid in added:
        assert blobs.add(bid) == (bid not in model)
        model.add(bid)
        assert len(blobs) == len(model)
    for bid in added + probes:
        assert (bid in blobs) == (bid in model)
    listed = list(blobs)
    assert len(listed) == len(model)
    assert set(listed) == model
    assert all(isinstance(bid, ObjectId) for bid in listed)
    assert bool(blobs) == bool(model)


@given(st.lists(any_ids, max_size=40))
def test_blobset_from_an_iterable_equals_adding_one_by_one(ids: list[bytes]) -> None:
    assert set(BlobSet(ids)) == set(ids)
    assert len(BlobSet(ids)) == len(set(ids))


def test_blobset_answers_no_for_what_is_not_an_id() -> None:
    blobs = BlobSet([b"\x01" * 32])
    assert b"\x01" * 31 not in blobs
    assert b"\x01" * 64 not in blobs
    assert "x" not in blobs
    with pytest.raises(ValueError, match="32 bytes"):
        blobs.add(b"short")


@given(st.lists(any_ids, max_size=60), st.lists(any_ids, max_size=60))
def test_blobflags_leave_clear_exactly_the_ids_never_flagged(
    ids: list[bytes], seen: list[bytes]
) -> None:
    blobs = BlobSet(ids)
    flags = BlobFlags(blobs)
    for bid in seen:
        assert flags.set(bid) == (bid in set(ids))
    assert sorted(flags.clear_ids()) == sorted(set(ids) - set(seen))


@given(st.lists(any_ids, max_size=60), st.lists(any_ids, max_size=60))
def test_blobflags_claim_answers_first_again_or_not_in_the_set(
    ids: list[bytes], claims: list[bytes]
) -> None:
    """claim: True for the first claim of an id of the set, False for every later one, None
    for an id not in the set (prune keeps one copy of a blob stored twice by it)."""
    flags = BlobFlags(BlobSet(ids))
    claimed: set[bytes] = set()
    for bid in claims:
        expected = None if bid not in set(ids) else bid not in claimed
        assert flags.claim(bid) is expected
        if expected is not None:
            claimed.add(bid)
    assert sorted(flags.clear_ids()) == sorted(set(ids) - claimed)
