"""--read-data-subset: n/m groups are disjoint and cover every pack; x% and sizes sample."""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3vault.checker.selection import PackSelection
from s3vault.errors import UsageError
from s3vault.ids import ObjectId


@given(st.integers(1, 400), st.integers(1, 12))
def test_groups_cover_every_pack_exactly_once(count: int, m: int) -> None:
    packs = [(ObjectId(os.urandom(32)), 1000) for _ in range(count)]
    seen: list[ObjectId] = []
    for n in range(1, m + 1):
        seen.extend(PackSelection.parse(f"{n}/{m}").choose(packs, random.Random(0)))
    assert sorted(seen) == sorted(p for p, _ in packs)


def test_percent_and_size() -> None:
    packs = [(ObjectId(os.urandom(32)), 100) for _ in range(50)]
    assert len(PackSelection.parse("10%").choose(packs, random.Random(1))) == 5
    assert len(PackSelection.parse("1K").choose(packs, random.Random(1))) == 11  # >= 1024 bytes
    assert PackSelection.parse("5G").size == 5 << 30


@pytest.mark.parametrize("bad", ["0/3", "4/3", "0%", "150%", "lots", "3/"])
def test_bad_subsets_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError):
        PackSelection.parse(bad)


@pytest.mark.parametrize("zero", ["0", "0M", "0G", "0b", "0.0K"])
def test_a_subset_of_no_bytes_is_refused(zero: str) -> None:
    """`--read-data-subset=0M` (a templated ${N}M that came out 0) read nothing and said "no
    errors were found", exit 0, on a damaged repository; restic refuses it."""
    with pytest.raises(UsageError, match="above 0"):
        PackSelection.parse(zero)
