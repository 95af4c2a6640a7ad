"""Index files that disagree on a pack's sender (design.md §6a): the description readers keep
does not depend on the order the files are read in; a description without a sender (only a
full key writes one) wins, else the pack's header decides; one that cannot be settled keeps
the first. Over a real BlobIndex, as Repository.read_index uses it."""

from __future__ import annotations

import itertools

import pytest

from s3vault.errors import IntegrityError
from s3vault.format.indexfile import IndexedPack
from s3vault.format.packfile import BlobType, PackEntry
from s3vault.ids import ObjectId
from s3vault.repository.compactpack import CompactPack
from s3vault.repository.index import BlobIndex
from s3vault.repository.senderdisputes import Settled, one_per_pack, record_in_index

PACK = ObjectId(b"\x07" * 32)
REAL, OTHER = b"r" * 64, b"a" * 64  # put-only senders (epk ‖ masked writer)
BLOB, FAKE = ObjectId(b"\x01" * 32), ObjectId(b"\x02" * 32)


def _desc(sender: bytes, bid: ObjectId, source: int) -> tuple[CompactPack, ObjectId]:
    entry = PackEntry(type=BlobType.DATA, id=bid, offset=0, length=40, raw_length=9)
    pack = CompactPack.of(IndexedPack(id=PACK, size=99, entries=(entry,), sender=sender))
    return pack, ObjectId(bytes([source]) * 32)


def _read(
    order: list[tuple[CompactPack, ObjectId]], header: bytes | None
) -> tuple[BlobIndex, list[Settled]]:
    """What Repository.read_index does with these descriptions, in this order; and checks
    that copy's one description per pack agrees."""

    def header_sender(_pack: CompactPack) -> bytes:
        if header is None:
            raise IntegrityError("the header does not open")
        return header

    index = BlobIndex()
    described = [(source, pack) for pack, source in order]
    settled = record_in_index(index, described, header_sender)
    packs, same = one_per_pack(described, header_sender)
    assert same == settled and (packs[PACK].sender, packs[PACK].epoch) == index.description(PACK)
    return index, settled


@pytest.mark.parametrize(
    ("honest", "header"), [(b"", None), (REAL, REAL)], ids=["full key's pack", "put-only pack"]
)
def test_the_honest_description_wins_in_every_order(honest: bytes, header: bytes | None) -> None:
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


def test_agreeing_descriptions_are_merged_without_a_dispute() -> None:
    index, settled = _read([_desc(REAL, BLOB, 1), _desc(REAL, FAKE, 2)], header=None)
    assert settled == [] and index.description(PACK) == (REAL, 1)
    assert index.has(BlobType.DATA, BLOB) and index.has(BlobType.DATA, FAKE)


def test_a_header_that_cannot_settle_keeps_the_first_and_says_why() -> None:
    for header in (None, b"x" * 64):  # unreadable; names neither sender
        index, settled = _read([_desc(REAL, BLOB, 1), _desc(OTHER, FAKE, 2)], header)
        (outcome,) = settled
        assert outcome.unsettled and not outcome.replaces_first
        assert index.description(PACK) == (REAL, 1)
        assert not index.has(BlobType.DATA, FAKE)
