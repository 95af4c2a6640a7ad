"""FastCDC invariants: lossless, bounded sizes, insertions disturb only nearby boundaries."""

from __future__ import annotations

import io
import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3vault.chunker import ChunkerParams, make_chunker

SMALL = ChunkerParams(min_size=2048, avg_size=8192, max_size=32768, seed=12345)


def cut(data: bytes, params: ChunkerParams = SMALL) -> list[bytes]:
    return [bytes(c) for c in make_chunker(params).chunks(io.BytesIO(data))]


@settings(max_examples=50)
@given(st.binary(max_size=200_000), st.integers(1, 2**63 - 1))
def test_chunks_concatenate_to_the_input(data: bytes, seed: int) -> None:
    params = ChunkerParams(min_size=2048, avg_size=8192, max_size=32768, seed=seed)
    assert b"".join(cut(data, params)) == data


@settings(max_examples=30)
@given(st.integers(0, 2**32), st.integers(10_000, 400_000))
def test_chunk_sizes_stay_in_bounds(rseed: int, size: int) -> None:
    data = random.Random(rseed).randbytes(size)
    chunks = cut(data)
    for chunk in chunks[:-1]:
        assert SMALL.min_size <= len(chunk) <= SMALL.max_size
    assert 0 < len(chunks[-1]) <= SMALL.max_size


@settings(max_examples=30)
@given(st.integers(0, 2**32), st.integers(1, 64), st.integers(0, 1_000_000))
def test_an_insertion_changes_only_nearby_chunks(rseed: int, n: int, where: int) -> None:
    data = random.Random(rseed).randbytes(1_000_000)
    pos = where % len(data)
    changed = data[:pos] + os.urandom(n) + data[pos:]
    before, after = set(cut(data)), cut(changed)
    new = [c for c in after if c not in before]
    assert sum(map(len, new)) <= 3 * SMALL.max_size


def test_the_seed_changes_the_boundaries() -> None:
    data = random.Random(1).randbytes(500_000)
    other = ChunkerParams(min_size=2048, avg_size=8192, max_size=32768, seed=999)
    assert [len(c) for c in cut(data)] != [len(c) for c in cut(data, other)]


def test_default_parameters_average_about_one_mebibyte() -> None:
    data = random.Random(2).randbytes(64 << 20)
    chunks = cut(data, ChunkerParams(seed=77))
    average = len(data) / len(chunks)
    assert 0.6 * (1 << 20) < average < 1.6 * (1 << 20)
    assert all(len(c) >= 512 * 1024 for c in chunks[:-1])


@settings(max_examples=10)
@given(st.integers(0, 2**32), st.integers(0, 3))
def test_windowed_stream_cuts_like_one_pass(rseed: int, extra: int) -> None:
    from s3vault.chunker import fastcdc

    params = ChunkerParams(min_size=64 * 1024, avg_size=128 * 1024, max_size=512 * 1024, seed=5)
    data = random.Random(rseed).randbytes(fastcdc.WINDOW * 2 + extra * 1_000_003)
    chunker = fastcdc.FastCdcChunker(params)
    one_pass = [bytes(c) for c in chunker.chunks_of(data)]
    streamed = [bytes(c) for c in chunker.chunks(io.BytesIO(data))]
    assert streamed == one_pass


@pytest.mark.parametrize("hint", [-1, 0, 10, 99_999, 100_000, 100_001, 5_000_000])
def test_size_hint_never_changes_the_result(hint: int) -> None:
    data = random.Random(3).randbytes(100_000)
    expected = cut(data)
    got = [bytes(c) for c in make_chunker(SMALL).chunks(io.BytesIO(data), hint)]
    assert got == expected


@pytest.mark.parametrize("shift", [-1, 0, 1, 3_000_000])
def test_a_large_size_hint_reads_into_the_window_and_cuts_alike(shift: int) -> None:
    """A file announced at a window or more is read straight into the reused buffer (no
    first window kept beside it); the cuts are the one-pass cuts, whatever the hint, also when
    the file turns out shorter than announced (shift > 0) or shorter than a window."""
    from s3vault.chunker import fastcdc

    params = ChunkerParams(min_size=64 * 1024, avg_size=128 * 1024, max_size=512 * 1024, seed=5)
    chunker = fastcdc.FastCdcChunker(params)
    for size in (fastcdc.WINDOW + 777_777, fastcdc.WINDOW - 1):
        data = random.Random(size).randbytes(size)
        one_pass = [bytes(c) for c in chunker.chunks_of(data)]
        hint = max(fastcdc.WINDOW, size + shift)
        assert [bytes(c) for c in chunker.chunks(io.BytesIO(data), hint)] == one_pass
