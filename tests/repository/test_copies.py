"""repository/copies.py: which copy of each blob a reader of a file takes (``file_layout``)
and which it reads instead of a bad one (``other_copies``), on an in-memory index."""

from __future__ import annotations

import os

from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from s3vault.repository.copies import MAX_CHOICES, file_layout, other_copies
from s3vault.repository.index import BlobIndex


def _id() -> ObjectId:
    return ObjectId(os.urandom(32))


def _pack(index: BlobIndex, blobs: list[tuple[ObjectId, int]]) -> ObjectId:
    """A pack holding these (blob, raw length), added after every pack before it."""
    pack = _id()
    entries = [(BlobType.DATA, bytes(b), 100 * i, 50, n) for i, (b, n) in enumerate(blobs)]
    index.add_pack(pack, 100 * len(blobs), entries)
    return pack


def test_first_copies_that_fit_are_taken() -> None:
    index = BlobIndex()
    a, b = _id(), _id()
    first = _pack(index, [(a, 10), (b, 20)])
    _pack(index, [(a, 10)])
    layout = file_layout(index, [a, b], 30)
    assert layout.fits and not layout.passed_over
    assert [loc.pack_id for loc in layout.locations] == [first, first]


def test_bad_first_copies_of_several_blobs_are_passed_over() -> None:
    """An attacker's pack listed first holds three blobs of a file with lengths of its own
    (one of them right): the good pack's copies are chosen where the lengths differ."""
    index = BlobIndex()
    blobs = [_id() for _ in range(5)]
    bad = _pack(index, [(blobs[0], 18), (blobs[2], 7_000), (blobs[3], 4_000)])
    good = _pack(index, [(b, 4_000) for b in blobs])
    layout = file_layout(index, blobs, 20_000)
    assert layout.fits and layout.total == 20_000
    assert all(loc.pack_id == good for loc in layout.locations[:3])
    assert layout.locations[3].pack_id == bad  # its length is right: the first copy is kept
    assert [(bid, old.pack_id) for bid, old, _new in layout.passed_over] == [
        (blobs[0], bad),
        (blobs[2], bad),
    ]


def test_past_the_search_bound_blobs_are_read_to_learn_their_length() -> None:
    """More disagreeing blobs than the search looks at, their good copies in no one order:
    without ``measure`` no choice; with it, each such blob read once, the good copies."""
    index = BlobIndex()
    blobs = [_id() for _ in range(MAX_CHOICES + 10)]
    half = len(blobs) // 2
    good_first = _pack(index, [(b, 1_000) for b in blobs[:half]])
    _pack(index, [(b, 1) for b in blobs])  # the attacker's, listed between
    good_last = _pack(index, [(b, 1_000) for b in blobs[half:]])
    size = 1_000 * len(blobs)
    assert not file_layout(index, blobs, size).fits
    read: list[ObjectId] = []

    def measure(bid: ObjectId) -> int:
        read.append(bid)
        return 1_000

    layout = file_layout(index, blobs, size, measure)
    assert layout.fits and {loc.pack_id for loc in layout.locations} == {good_first, good_last}
    assert read == blobs  # every blob's copies disagree: each read once, in order


def test_no_choice_fits_and_a_missing_blob() -> None:
    index = BlobIndex()
    a, b = _id(), _id()
    first = _pack(index, [(a, 10), (b, 20)])
    _pack(index, [(a, 11)])
    layout = file_layout(index, [a, b], 35)
    assert not layout.fits and layout.total == 30
    assert [loc.pack_id for loc in layout.locations] == [first, first]
    missing = _id()
    assert file_layout(index, [a, missing], 30).missing == missing


def test_other_copies_leave_out_the_bad_pack_and_other_lengths() -> None:
    index = BlobIndex()
    a = _id()
    first = _pack(index, [(a, 10)])
    _pack(index, [(a, 12)])  # another length: cannot stand in at the planned offsets
    third = _pack(index, [(a, 10)])
    planned = index.locations(BlobType.DATA, a)[0]
    assert planned.pack_id == first
    assert [loc.pack_id for loc in other_copies(index, BlobType.DATA, a, planned)] == [third]
