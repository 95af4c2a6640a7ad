"""repository/copies.py: which copy of each blob a reader of a file takes (``file_layout``),
which it reads instead of a bad one (``other_copies``), and which of a blob's copies a reader
tries at all (``copy_order``), on an in-memory index."""

from __future__ import annotations

import os
from collections.abc import Callable

from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from s3vault.repository.copies import PUT_COPIES_TRIED, copy_order, file_layout, other_copies
from s3vault.repository.index import BlobIndex, BlobLocation


def _id() -> ObjectId:
    return ObjectId(os.urandom(32))


def _never(bid: ObjectId) -> int:
    raise AssertionError(f"{bid.short} read: the index's lengths decide")


def _pack(index: BlobIndex, blobs: list[tuple[ObjectId, int]], sender: bytes = b"") -> ObjectId:
    """A pack holding these (blob, raw length), added after every pack before it
    (``sender``: a put-only writer's)."""
    pack = _id()
    entries = [(BlobType.DATA, bytes(b), 100 * i, 50, n) for i, (b, n) in enumerate(blobs)]
    index.add_pack(pack, 100 * len(blobs), entries, sender=sender)
    return pack


def test_first_copies_that_fit_are_taken() -> None:
    index = BlobIndex()
    a, b = _id(), _id()
    first = _pack(index, [(a, 10), (b, 20)])
    _pack(index, [(a, 10)])
    layout = file_layout(index, [a, b], 30, _never)
    assert layout.fits and not layout.passed_over
    assert [loc.pack_id for loc in layout.locations] == [first, first]


def test_bad_first_copies_of_several_blobs_are_passed_over() -> None:
    """An attacker's pack listed first holds three blobs of a file with lengths of its own
    (one of them right): each blob whose copies disagree is read once to learn its length,
    and the copy of that length taken; the others are not read."""
    index = BlobIndex()
    blobs = [_id() for _ in range(5)]
    bad = _pack(index, [(blobs[0], 18), (blobs[2], 7_000), (blobs[3], 4_000)])
    good = _pack(index, [(b, 4_000) for b in blobs])
    read: list[ObjectId] = []

    def measure(bid: ObjectId) -> int:
        read.append(bid)
        return 4_000

    layout = file_layout(index, blobs, 20_000, measure)
    assert layout.fits and layout.total == 20_000
    assert read == [blobs[0], blobs[2]]
    assert all(loc.pack_id == good for loc in layout.locations[:3])
    assert layout.locations[3].pack_id == bad  # its length is right: the first copy is kept
    assert [(bid, old.pack_id) for bid, old, _new in layout.passed_over] == [
        (blobs[0], bad),
        (blobs[2], bad),
    ]


def test_many_bad_first_copies_in_no_one_order() -> None:
    index = BlobIndex()
    blobs = [_id() for _ in range(200)]
    good_first = _pack(index, [(b, 1_000) for b in blobs[:100]])
    _pack(index, [(b, 1) for b in blobs])  # the attacker's, listed between
    good_last = _pack(index, [(b, 1_000) for b in blobs[100:]])
    layout = file_layout(index, blobs, 1_000 * len(blobs), lambda _bid: 1_000)
    assert layout.fits and {loc.pack_id for loc in layout.locations} == {good_first, good_last}
    assert len(layout.passed_over) == 100


def test_no_choice_fits_an_unreadable_blob_and_a_missing_blob() -> None:
    index = BlobIndex()
    a, b = _id(), _id()
    first = _pack(index, [(a, 10), (b, 20)])
    _pack(index, [(a, 11)])
    for measure in (lambda _bid: 12, lambda _bid: None):  # no copy of that length; unreadable
        layout = file_layout(index, [a, b], 35, measure)
        assert not layout.fits and layout.total == 30
        assert [loc.pack_id for loc in layout.locations] == [first, first]
        assert layout.unreadable == (a if measure(a) is None else None)
    assert not file_layout(index, [b], 25, _never).fits  # one copy only: nothing to read
    missing = _id()
    assert file_layout(index, [a, missing], 30, _never).missing == missing


def test_other_copies_leave_out_the_bad_pack_and_other_lengths() -> None:
    index = BlobIndex()
    a = _id()
    first = _pack(index, [(a, 10)])
    _pack(index, [(a, 12)])  # another length: cannot stand in at the planned offsets
    third = _pack(index, [(a, 10)])
    planned = index.locations(BlobType.DATA, a)[0]
    assert planned.pack_id == first
    assert [loc.pack_id for loc in other_copies(index, BlobType.DATA, a, planned)] == [third]


def test_put_only_lies_that_cancel_out_are_read_through() -> None:
    """Only put-only writers hold the file; the attacker's copies, first, have lengths that
    still add up (+500, -500): each of its blobs is checked against the other copies and the
    two that disagree are read. A full key's first copies are trusted as they are."""
    attacker, victim = b"a" * 64, b"v" * 64
    index = BlobIndex()
    a, b, c = _id(), _id(), _id()
    bad = _pack(index, [(a, 1_500), (b, 500), (c, 1_000)], sender=attacker)
    good = _pack(index, [(a, 1_000), (b, 1_000), (c, 1_000)], sender=victim)
    read: list[ObjectId] = []

    def measure(bid: ObjectId) -> int:
        read.append(bid)
        return 1_000

    layout = file_layout(index, [a, b, c], 3_000, measure)
    assert layout.fits and read == [a, b]
    assert [loc.pack_id for loc in layout.locations] == [good, good, bad]
    trusted = BlobIndex()
    _pack(trusted, [(a, 1_500), (b, 500)])
    _pack(trusted, [(a, 1_000), (b, 1_000)])
    assert file_layout(trusted, [a, b], 2_000, _never).fits  # a full key's lengths: no read


def _writer_of(writers: dict[bytes, bytes]) -> Callable[[BlobLocation], bytes]:
    return lambda loc: writers[loc.sender]


def test_full_key_copies_first_then_a_bounded_number_of_put_only_ones() -> None:
    """2,000 copies one put-only writer names, listed before a full key's and another writer's:
    the full key's copy is tried first, then one copy per writer before a second of any, at
    most PUT_COPIES_TRIED put-only copies in all; the note says how many were passed over."""
    index = BlobIndex()
    bid = _id()
    attacker, victim = os.urandom(64), os.urandom(64)
    fakes = [_pack(index, [(bid, 10)], sender=attacker) for _ in range(2000)]
    good = _pack(index, [(bid, 10)], sender=victim)
    full = _pack(index, [(bid, 10)])
    locations = [*index.locations(BlobType.DATA, bid)]
    locations.sort(key=lambda loc: loc.pack_id != full)  # whatever order: full key's first
    order = copy_order(locations, (), _writer_of({attacker: b"web-01", victim: b"web-02"}))
    tried = [locations[i].pack_id for i in order.tried]
    assert tried[0] == full
    assert len(tried) == 1 + PUT_COPIES_TRIED
    assert good in tried[1:3] and set(tried[1:]) - {good} <= set(fakes)
    assert order.passed_over == 2001 - PUT_COPIES_TRIED and order.unlisted == 0
    assert "put-only writers' packs not tried" in order.note()


def test_copies_in_packs_the_store_does_not_list_are_never_tried() -> None:
    """Made-up packs the reader knows are not stored are left out before the bound counts:
    the stored copies are all tried, and the writer of none is asked for."""
    index = BlobIndex()
    bid = _id()
    sender = os.urandom(64)
    fakes = {_pack(index, [(bid, 10)], sender=sender) for _ in range(50)}
    stored = [_pack(index, [(bid, 10)], sender=sender) for _ in range(2)]
    locations = index.locations(BlobType.DATA, bid)
    order = copy_order(locations, fakes, _writer_of({}))
    assert [locations[i].pack_id for i in order.tried] == stored
    assert order.unlisted == 50 and order.passed_over == 0
    assert "50 copies in packs the store does not list" in order.note()


def test_a_blob_with_few_copies_asks_no_writer() -> None:
    index = BlobIndex()
    bid = _id()
    packs = [_pack(index, [(bid, 10)], sender=os.urandom(64)) for _ in range(PUT_COPIES_TRIED)]
    locations = index.locations(BlobType.DATA, bid)
    order = copy_order(locations, (), _writer_of({}))
    assert [locations[i].pack_id for i in order.tried] == packs and not order.note()
