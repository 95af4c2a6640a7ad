"""A put-only host's cache (repository/putcache.py): the high-water mark of its states only
rises, is kept per key, and a damaged mark counts as none (design.md §6a)."""

from __future__ import annotations

import os
from pathlib import Path

from s3vault.crypto.hashing import storage_id
from s3vault.ids import ObjectId
from s3vault.repository.cache import FileCache
from s3vault.repository.putcache import MARKS, SEQ_DIGITS, HostCache

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


def test_a_mark_of_more_digits_than_a_seq_counts_as_none(tmp_path: Path) -> None:
    """A state's seq has at most 10 digits: a longer mark is one this host never wrote."""
    files = FileCache(tmp_path, REPO)
    cache = HostCache(files)
    files.store(MARKS, KEY, b"9" * (SEQ_DIGITS + 1))
    assert cache.high_water(KEY) == 0
    files.store(MARKS, KEY, b"9" * SEQ_DIGITS)
    assert cache.high_water(KEY) == 10**SEQ_DIGITS - 1
    cache.raise_high_water(KEY, 5, lower=True)  # a mark that left no seq: lowered
    assert cache.high_water(KEY) == 5


def test_names_passed_over_are_remembered_only_for_their_bytes_and_while_listed(
    tmp_path: Path,
) -> None:
    cache = HostCache(FileCache(tmp_path, REPO))
    sealed = os.urandom(100)
    name = f"state/tag/0000000009-{storage_id(sealed).hex()}"
    cache.pass_over(name, os.urandom(100))  # not the bytes its name says: damage in transit
    assert not cache.passed_over(name)
    cache.pass_over(name, sealed)
    assert cache.passed_over(name)
    assert not cache.passed_over(name.replace("0000000009", "0000000010"))  # another seq
    cache.keep_passed([name])
    assert cache.passed_over(name)
    cache.keep_passed([])  # no longer listed: forgotten
    assert not cache.passed_over(name)
    assert not HostCache(None).passed_over(name)
