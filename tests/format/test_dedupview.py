"""The dedup view's codec (design.md §6a): round trips, refuses what is not one, and lists
view digests of blob ids, never the ids."""

from __future__ import annotations

import os
from functools import partial

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.crypto.hashing import view_digest
from s3vault.errors import FormatVersionError, IntegrityError
from s3vault.format.dedupview import DedupView, ViewPack, view_of_index
from s3vault.format.indexfile import IndexFile
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from tests.strategies import index_files

ids = st.binary(min_size=32, max_size=32).map(ObjectId)
digests = st.binary(min_size=32, max_size=32)
packs = st.builds(
    ViewPack,
    id=ids,
    size=st.integers(0, 2**64 - 1),
    blobs=st.lists(st.tuples(st.sampled_from(BlobType), digests), max_size=5).map(tuple),
)
views = st.builds(
    DedupView,
    packs=st.lists(packs, max_size=4).map(tuple),
    supersedes=st.lists(ids, max_size=3).map(tuple),
)
REPO = os.urandom(32)


@given(views)
def test_views_round_trip(view: DedupView) -> None:
    assert DedupView.decode(view.encode()) == view


@given(views, st.data())
def test_truncated_or_extended_views_are_refused(view: DedupView, data: st.DataObject) -> None:
    raw = view.encode()
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(IntegrityError):
        DedupView.decode(raw[:cut])
    with pytest.raises(IntegrityError):
        DedupView.decode(raw + b"\x00")


@given(index_files)
def test_a_view_lists_the_digest_of_every_blob_and_no_blob_id(index: IndexFile) -> None:
    """Whoever holds an id finds its digest in the view; the view's bytes hold no id of a blob
    (design.md §6a: a put-only host recovers no id it has not computed)."""
    raw = view_of_index(index.encode(), partial(view_digest, REPO)).encode()
    assert DedupView.decode(raw) == view_of_index(index.encode(), partial(view_digest, REPO))
    named = {p.id for p in index.packs} | set(index.supersedes)  # listed as themselves
    for pack in index.packs:
        for entry in pack.entries:
            assert entry.id in named or bytes(entry.id) not in raw
            assert view_digest(REPO, entry.id) in raw


def test_the_digest_is_one_way_per_repository() -> None:
    bid = os.urandom(32)
    digest = view_digest(REPO, bid)
    assert len(digest) == 32 and digest != bid
    assert digest == view_digest(REPO, bid) != view_digest(os.urandom(32), bid)


def test_a_view_holds_no_offsets_or_lengths() -> None:
    bid = ObjectId(os.urandom(32))
    view = DedupView(packs=(ViewPack(id=bid, size=100, blobs=((BlobType.DATA, bytes(bid)),)),))
    assert len(view.encode()) == 9 + 4 + 44 + 33  # head, count, pack, one blob: type and digest


def test_a_digest_of_another_size_is_not_encoded() -> None:
    bid = ObjectId(os.urandom(32))
    with pytest.raises(ValueError, match="31 bytes"):
        DedupView(packs=(ViewPack(id=bid, size=1, blobs=((BlobType.DATA, b"x" * 31),)),)).encode()


def test_bad_magic_type_and_other_versions_are_refused() -> None:
    bid = ObjectId(os.urandom(32))
    raw = DedupView(
        packs=(ViewPack(id=bid, size=1, blobs=((BlobType.TREE, bytes(bid)),)),)
    ).encode()
    with pytest.raises(IntegrityError, match="magic"):
        DedupView.decode(b"XXXX" + raw[4:])
    with pytest.raises(FormatVersionError, match="upgrade"):
        DedupView.decode(raw[:4] + b"\x03" + raw[5:])
    with pytest.raises(FormatVersionError, match=r"version 1 \(it lists blob ids\).*prune"):
        DedupView.decode(raw[:4] + b"\x01" + raw[5:])  # the old layout, raw ids: not read
    typed = bytearray(raw)
    typed[-33] = 9
    with pytest.raises(IntegrityError):
        DedupView.decode(bytes(typed))
