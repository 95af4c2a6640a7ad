"""A put-only host's state (design.md §6a): round-trips, and refuses what it cannot trust."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.errors import FormatVersionError, IntegrityError
from s3vault.format import codec
from s3vault.format.hoststatefile import HostStateFile
from s3vault.ids import ObjectId

ids = st.binary(min_size=32, max_size=32).map(ObjectId)


@given(
    snapshot=ids,
    paths=st.lists(st.text(max_size=20), max_size=3),
    trees=st.dictionaries(ids, st.binary(max_size=64), max_size=4),
)
def test_a_state_round_trips(snapshot: ObjectId, paths: list[str], trees: dict) -> None:  # type: ignore[type-arg]
    state = HostStateFile(
        snapshot=snapshot,
        time="2026-12-05T10:00:00+00:00",
        paths=tuple(paths),
        tree=snapshot,
        trees=trees,
    )
    assert HostStateFile.decode(state.encode()) == state
    assert "trees=" in repr(state) and "paths" not in repr(state)


def test_a_newer_or_malformed_state_is_refused() -> None:
    good = HostStateFile(
        snapshot=ObjectId(os.urandom(32)), time="t", paths=("/srv",), tree=ObjectId(os.urandom(32))
    )
    obj = codec.loads(good.encode(), "test")
    with pytest.raises(FormatVersionError):
        HostStateFile.decode(codec.dumps({**obj, "v": 2}))
    with pytest.raises(IntegrityError):
        HostStateFile.decode(codec.dumps({**obj, "tree": "zz"}))
    with pytest.raises(IntegrityError):
        HostStateFile.decode(codec.dumps({**obj, "trees": {"ab": "AA=="}}))
