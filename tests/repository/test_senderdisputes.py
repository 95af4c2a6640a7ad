"""Index files that disagree on a pack (its sender, or its entries: design.md §6a): the
description readers keep does not depend on the order the files are read in; a description
without a sender (only a full key writes one) wins, else the pack's header decides; one that
cannot be settled keeps the first; identical descriptions cost no read. Over a real
BlobIndex, as Repository.read_index uses it."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import pytest

from s3vault.format.indexfile import IndexedPack
from s3vault.format.packfile import BlobType, PackEntry
from s3vault.ids import ObjectId
from s3vault.repository.compactpack import CompactPack
from s3vault.repository.index import BlobIndex
from s3vault.repository.senderdisputes import (
    HeaderReader,
    Settled,
    one_per_pack,
    record_in_index,
    tell,
)

PACK = ObjectId(b"\x07" * 32)
REAL, OTHER = b"r" * 64, b"a" * 64  # put-only senders (epk ‖ masked writer)
BLOB, FAKE = ObjectId(b"\x01" * 32), ObjectId(b"\x02" * 32)


def _desc(
    sender: bytes, bid: ObjectId, source: int, *, more: tuple[PackEntry, ...] = ()
) -> tuple[CompactPack, ObjectId]:
    entry = PackEntry(type=BlobType.DATA, id=bid, offset=0, length=40, raw_length=9)
    pack = CompactPack.of(IndexedPack(id=PACK, size=99, entries=(entry, *more), sender=sender))
    return pack, ObjectId(bytes([source]) * 32)


def _headers(header: CompactPack | None, reads: list[ObjectId] | None = None) -> HeaderReader:
    """A HeaderReader whose every pack has ``header`` (None: it does not open)."""

    def read(packs: Sequence[CompactPack]) -> Mapping[ObjectId, CompactPack | str]:
        if reads is not None:
            reads.extend(p.id for p in packs)
        return {p.id: header if header is not None else "the header does not open" for p in packs}

    return read


def _read(
    order: list[tuple[CompactPack, ObjectId]], header: CompactPack | None
) -> tuple[BlobIndex, list[Settled]]:
    """What Repository.read_index does with these descriptions, in this order; and checks
    that copy's one description per pack agrees."""
    index = BlobIndex()
    described = [(source, pack) for pack, source in order]
    settled = record_in_index(index, described, _headers(header))
    packs, same = one_per_pack(described, _headers(header))
    assert same == settled and (packs[PACK].sender, packs[PACK].epoch) == index.description(PACK)
    return index, settled


@pytest.mark.parametrize(
    ("honest", "readable"), [(b"", False), (REAL, True)], ids=["full key's pack", "put-only pack"]
)
def test_the_honest_description_wins_in_every_order(honest: bytes, readable: bool) -> None:
    header = _desc(honest, BLOB, 0)[0] if readable else None  # a full key's wins unread
    descriptions = [_desc(honest, BLOB, 1), _desc(OTHER, FAKE, 2), _desc(honest, BLOB, 3)]
    for order in itertools.permutations(descriptions):
        index, settled = _read(list(order), header)
        assert index.description(PACK) == (honest, 1)
        assert index.has(BlobType.DATA, BLOB) and not index.has(BlobType.DATA, FAKE)
        found = index.lookup(BlobType.DATA, BLOB)
        assert found is not None and found.sender == honest  # what opens its blobs
        (outcome,) = settled
        assert [lost.sender for lost in outcome.refused] == [OTHER]
        named = [lost.source for lost in outcome.refused]
        assert named in ([ObjectId(b"\x02" * 32)], [None])  # None: it was recorded first


def test_identical_descriptions_cost_no_read_and_no_dispute() -> None:
    """A retried index write, prune's carry-over: the same pack described again, its entries
    in another order."""
    extra = PackEntry(type=BlobType.DATA, id=FAKE, offset=40, length=40, raw_length=9)
    one, src = _desc(REAL, BLOB, 1, more=(extra,))
    again = CompactPack.of(IndexedPack(id=PACK, size=99, entries=one.entries[::-1], sender=REAL))
    reads: list[ObjectId] = []
    index = BlobIndex()
    settled = record_in_index(index, [(src, one), (None, again)], _headers(None, reads))
    assert settled == [] and reads == [] and index.description(PACK) == (REAL, 1)
    assert index.has(BlobType.DATA, BLOB) and index.has(BlobType.DATA, FAKE)


def _swapped() -> tuple[tuple[CompactPack, ObjectId], tuple[CompactPack, ObjectId]]:
    """The honest description of a pack holding BLOB and FAKE, and one by the same sender
    with the two blobs at each other's places."""
    a = PackEntry(type=BlobType.DATA, id=BLOB, offset=0, length=40, raw_length=9)
    b = PackEntry(type=BlobType.DATA, id=FAKE, offset=40, length=60, raw_length=20)
    swapped = (
        PackEntry(type=BlobType.DATA, id=BLOB, offset=40, length=60, raw_length=20),
        PackEntry(type=BlobType.DATA, id=FAKE, offset=0, length=40, raw_length=9),
    )
    honest = CompactPack.of(IndexedPack(id=PACK, size=99, entries=(a, b), sender=REAL))
    forged = CompactPack.of(IndexedPack(id=PACK, size=99, entries=swapped, sender=REAL))
    return (honest, ObjectId(b"\x01" * 32)), (forged, ObjectId(b"\x02" * 32))


def test_descriptions_that_swap_blobs_are_settled_by_the_header_in_every_order() -> None:
    (honest, hsrc), forged = _swapped()
    for order in ([(honest, hsrc), forged], [forged, (honest, hsrc)]):
        index, settled = _read(order, header=honest)
        found = index.lookup(BlobType.DATA, BLOB)
        assert found is not None and (found.offset, found.length) == (0, 40)
        assert index.locations(BlobType.DATA, BLOB) == [found]
        (outcome,) = settled
        assert [lost.source for lost in outcome.refused] == [forged[1]]


def test_a_description_read_from_the_index_cache_is_compared_too() -> None:
    """The local index cache covers the file first read; a description read later that
    differs from the cached one is a dispute all the same, whichever the cache holds."""
    (honest, hsrc), (forged, fsrc) = _swapped()
    for cached, fresh in (((honest, hsrc), (forged, fsrc)), ((forged, fsrc), (honest, hsrc))):
        index = BlobIndex()
        assert record_in_index(index, [(cached[1], cached[0])], _headers(None)) == []
        index = BlobIndex.load(index.dump())  # what the cache gives back
        reads: list[ObjectId] = []
        (outcome,) = record_in_index(index, [(fresh[1], fresh[0])], _headers(honest, reads))
        assert reads == [PACK] and not outcome.unsettled
        found = index.lookup(BlobType.DATA, BLOB)
        assert found is not None and (found.offset, found.length) == (0, 40)
        assert index.locations(BlobType.DATA, BLOB) == [found]
        again: list[ObjectId] = []
        assert record_in_index(index, [(hsrc, honest)], _headers(None, again)) == []
        assert again == []


def test_unsettled_packs_are_told_once_per_index_file() -> None:
    """A writer names 50 made-up packs in two index files under two senders: two lines."""
    packs = [ObjectId(bytes([i]) * 32) for i in range(50)]
    f1, f2 = ObjectId(b"\x0a" * 32), ObjectId(b"\x0b" * 32)
    described = [
        (src, CompactPack(id=p, size=100, encoded=b"", sender=sender))
        for src, sender in ((f1, REAL), (f2, OTHER))
        for p in packs
    ]
    _, settled = one_per_pack(described, _headers(None))
    assert len(settled) == 50 and all(s.unsettled for s in settled)
    told: dict[str, str] = {}
    tell(settled, {}, told.__setitem__, lambda _e, _s: (b"k" * 8, b""))
    assert sorted(told) == sorted(f"index/{f.hex()}" for f in (f1, f2))
    assert all("and 49 more" in reason for reason in told.values())
    assert all("each by put-only key 6b6b6b6b: its own doing" in r for r in told.values())


def test_a_header_that_cannot_settle_keeps_the_first_and_says_why() -> None:
    for header in (None, _desc(b"x" * 64, BLOB, 0)[0]):  # unreadable; matches neither
        index, settled = _read([_desc(REAL, BLOB, 1), _desc(OTHER, FAKE, 2)], header)
        (outcome,) = settled
        assert outcome.unsettled and not outcome.replaces_first
        assert index.description(PACK) == (REAL, 1)
        assert not index.has(BlobType.DATA, FAKE)
