"""A put-only host's cache (repository/putcache.py): the high-water mark of its states only
rises, is kept per key, and a damaged mark counts as none (design.md §6a)."""

from __future__ import annotations

import os
from pathlib import Path

from s3vault.ids import ObjectId
from s3vault.repository.cache import FileCache
from s3vault.repository.putcache import MARKS, HostCache

REPO, KEY, OTHER = (ObjectId(os.urandom(32)) for _ in range(3))


def test_the_high_water_mark_only_rises_and_is_per_key(tmp_path: Path) -> None:
    cache = HostCache(FileCache(tmp_path, REPO))
    assert cache.high_water(KEY) == 0
    cache.raise_high_water(KEY, 7)
    cache.raise_high_water(KEY, 3)  # an older state used after a newer: the mark stays
    assert (cache.high_water(KEY), cache.high_water(OTHER)) == (7, 0)
    assert HostCache(None).high_water(KEY) == 0  # no cache: no memory
    HostCache(None).raise_high_water(KEY, 9)


def test_a_damaged_mark_counts_as_none(tmp_path: Path) -> None:
    files = FileCache(tmp_path, REPO)
    cache = HostCache(files)
    for junk in (b"", b"-3", b"7\n", b"\xd9\xa3", b"9" * 5000):  # (5000 digits: too many)
        files.store(MARKS, KEY, junk)
        assert cache.high_water(KEY) == 0, junk
