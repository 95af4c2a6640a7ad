"""copy's IdMap behaves like a dict of (kind, source id) → target id, also across save/load."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.ids import ObjectId
from s3vault.ops.copy import CONTENT, DATA, TREE, IdMap
from tests import strategies as s

# A narrow alphabet makes records share buckets and contain each other's bytes.
narrow = st.lists(st.sampled_from([0, 1]), min_size=32, max_size=32).map(bytes).map(ObjectId)
some_ids = st.one_of(s.ids, narrow)
puts = st.lists(st.tuples(st.sampled_from([DATA, TREE, CONTENT]), some_ids, some_ids), max_size=40)


@given(puts, puts)
def test_idmap_matches_a_dict_model(first: list, second: list) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "copy.map"
        model: dict[tuple[int, bytes], bytes] = {}
        ids = IdMap(path)
        for kind, source, target in first:
            ids.put(kind, source, target)
            model[(kind, source)] = target
        ids.save()
        again = IdMap(path)  # what was saved comes back, later records winning
        for kind, source, target in second:
            again.put(kind, source, target)
            model[(kind, source)] = target
        for kind, source, _ in first + second:
            assert again.get(kind, source) == model[(kind, source)]
            assert again.get(3 - kind if kind else 1, source) == model.get(
                (3 - kind if kind else 1, source)
            )


def test_idmap_appends_after_a_torn_record_stay_aligned(tmp_path: Path) -> None:
    path = tmp_path / "copy.map"
    a, b, c = (ObjectId(bytes([n]) * 32) for n in (1, 2, 3))
    ids = IdMap(path)
    ids.put(DATA, a, b)
    ids.save()
    with path.open("ab") as f:
        f.write(bytes([CONTENT]) + c[:20])  # a run killed in the middle of a record
    ids = IdMap(path)
    assert ids.get(DATA, a) == b
    ids.put(TREE, c, a)
    ids.save()
    again = IdMap(path)
    assert again.get(DATA, a) == b and again.get(TREE, c) == a
    assert again.get(CONTENT, c) is None
    assert path.stat().st_size == 2 * 65


def test_a_map_that_cannot_be_saved_is_said_once_and_still_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A cache it cannot write: one warning for the run (it was one per snapshot copied), and
    what was learnt still answers for this run."""
    (tmp_path / "file").write_bytes(b"")
    ids = IdMap(tmp_path / "file" / "copy.map")  # its directory cannot be made
    a, b = ObjectId(bytes(32)), ObjectId(bytes([1]) * 32)
    for n in range(3):  # three snapshots copied
        ids.put(DATA, ObjectId(bytes([n + 2]) * 32), b)
        ids.save()
    ids.put(DATA, a, b)
    assert ids.get(DATA, a) == b
    ids.close()
    said = [r for r in caplog.records if "could not save the copy map" in r.getMessage()]
    assert len(said) == 1


def test_trees_are_forgotten_once_an_index_file_of_the_target_is_gone(tmp_path: Path) -> None:
    """A tree's mapping says everything below it is stored in the target: it holds while
    every index file the last copy saw is still there; one gone (a repair index, a prune)
    drops the trees' mappings, the data's stay (each is checked against the target)."""
    path = tmp_path / "copy.map"
    a, b, c = (ObjectId(bytes([n]) * 32) for n in (1, 2, 3))
    first = IdMap(path, frozenset({a}))
    first.put(TREE, b, c)
    first.put(DATA, c, b)
    first.ended_with(frozenset({a, b}))  # the copy wrote index file b
    first.close()
    grown = IdMap(path, frozenset({a, b, c}))  # a backup added c: nothing lost
    assert not grown.trees_dropped and grown.get(TREE, b) == c
    grown.close()
    lost = IdMap(path, frozenset({b, c}))  # a is gone
    assert lost.trees_dropped and lost.get(TREE, b) is None and lost.get(DATA, c) == b
    lost.close()
    old = tmp_path / "old.map"  # a map from before the note: its trees are not trusted
    plain = IdMap(old)
    plain.put(TREE, b, c)
    plain.close()
    assert IdMap(old).get(TREE, b) == c  # the map alone (no index given) keeps them
    assert IdMap(old, frozenset({a})).get(TREE, b) is None
