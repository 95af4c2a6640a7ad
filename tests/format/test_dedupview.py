"""The dedup view's codec (design.md §6a): round trips, and refuses what is not one."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.errors import FormatVersionError, IntegrityError
from s3vault.format.dedupview import DedupView, ViewPack
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId

ids = st.binary(min_size=32, max_size=32).map(ObjectId)
packs = st.builds(
    ViewPack,
    id=ids,
    size=st.integers(0, 2**64 - 1),
    blobs=st.lists(st.tuples(st.sampled_from(BlobType), ids), max_size=5).map(tuple),
)
views = st.builds(
    DedupView,
    packs=st.lists(packs, max_size=4).map(tuple),
    supersedes=st.lists(ids, max_size=3).map(tuple),
)


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


def test_a_view_holds_no_offsets_or_lengths() -> None:
    bid = ObjectId(os.urandom(32))
    view = DedupView(packs=(ViewPack(id=bid, size=100, blobs=((BlobType.DATA, bid),)),))
    assert len(view.encode()) == 9 + 4 + 44 + 33  # head, count, pack, one blob: type and id


def test_bad_magic_type_and_newer_versions_are_refused() -> None:
    bid = ObjectId(os.urandom(32))
    raw = DedupView(packs=(ViewPack(id=bid, size=1, blobs=((BlobType.TREE, bid),)),)).encode()
    with pytest.raises(IntegrityError, match="magic"):
        DedupView.decode(b"XXXX" + raw[4:])
    with pytest.raises(FormatVersionError, match="upgrade"):
        DedupView.decode(raw[:4] + b"\x02" + raw[5:])
    typed = bytearray(raw)
    typed[-33] = 9
    with pytest.raises(IntegrityError):
        DedupView.decode(bytes(typed))
