"""A put-only host's state (design.md §6a): round-trips, and refuses what it cannot trust."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.errors import FormatVersionError, IntegrityError
from s3vault.format import codec
from s3vault.format.hoststatefile import HostStateFile, OwnPack
from s3vault.format.packfile import BlobType
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


def test_the_own_packs_round_trip_and_a_state_without_them_has_none() -> None:
    """``packs`` (the host's own packs: size and blobs) is optional: a state written before
    has None, which is not an empty record."""
    blob = [ObjectId(os.urandom(32)) for _ in range(3)]
    packs = {
        ObjectId(os.urandom(32)): OwnPack(
            size=1234, blobs=((BlobType.DATA, min(blob[:2])), (BlobType.DATA, max(blob[:2])))
        ),
        ObjectId(os.urandom(32)): OwnPack(size=99, blobs=((BlobType.TREE, blob[2]),)),
    }
    base = HostStateFile(
        snapshot=blob[0], time="t", paths=("/srv",), tree=blob[2], trees={blob[2]: b"{}"}
    )
    state = HostStateFile(**{**_fields(base), "packs": packs})
    assert HostStateFile.decode(state.encode()) == state
    assert HostStateFile.decode(base.encode()).packs is None
    assert b'"packs"' not in base.encode()  # an older reader sees the state it knows
    empty = HostStateFile(**{**_fields(base), "packs": {}})
    assert HostStateFile.decode(empty.encode()).packs == {}


def _fields(state: HostStateFile) -> dict[str, object]:
    return {f: getattr(state, f) for f in ("snapshot", "time", "paths", "tree", "trees")}


@pytest.mark.parametrize(
    "packs",
    [
        [],
        {"zz": {"size": 1, "data": [], "tree": []}},
        {"ab" * 32: []},
        {"ab" * 32: {"size": -1, "data": [], "tree": []}},
        {"ab" * 32: {"size": True, "data": [], "tree": []}},
        {"ab" * 32: {"size": 1, "data": ["zz"], "tree": []}},
        {"ab" * 32: {"size": 1, "data": [7], "tree": []}},
        {"ab" * 32: {"size": 1, "data": []}},
    ],
)
def test_a_malformed_record_of_own_packs_is_refused(packs: object) -> None:
    good = HostStateFile(
        snapshot=ObjectId(os.urandom(32)), time="t", paths=(), tree=ObjectId(os.urandom(32))
    )
    obj = codec.loads(good.encode(), "test")
    with pytest.raises(IntegrityError):
        HostStateFile.decode(codec.dumps({**obj, "packs": packs}))
