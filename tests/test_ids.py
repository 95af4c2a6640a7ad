"""ids.unique_prefix: the one rule by which `cat`, `forget` and `repair packs` turn what a user
typed (an id, a prefix of one in any case, or a storage name) into one id."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.errors import UsageError
from s3vault.ids import unique_prefix

IDS = ["ab" * 32, "abcd" + "0" * 60, "ff" * 32]


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=20, unique=True))
def test_the_full_id_or_its_shortest_unique_prefix_names_it(raw: list[bytes]) -> None:
    ids = [r.hex() for r in raw]
    for i in ids:
        assert unique_prefix(i.upper(), ids, command="t", what="x") == i
        n = next(n for n in range(1, 65) if sum(j.startswith(i[:n]) for j in ids) == 1)
        assert unique_prefix(i[:n], ids, command="t", what="x") == i
        assert unique_prefix(f"data/{i[:2]}/{i[:n]}", ids, command="t", what="x") == i


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("", "t: '' is not a pack id (up to 64 hex digits)"),
        ("xyz", "t: 'xyz' is not a pack id"),
        ("a" * 65, "is not a pack id"),
        ("ee", "t: no pack with id 'ee' (hint)"),
        ("ab", "t: id prefix 'ab' is ambiguous (2 matches: abababababab, abcd00000000); give more"),
    ],
)
def test_what_names_no_single_id_is_refused_in_one_line(ref: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        unique_prefix(ref, IDS, command="t", what="pack", hint=" (hint)")
    assert message in str(err.value) and "\n" not in str(err.value)
