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


class HoleyStream(io.BytesIO):
    """An in-memory file with holes where ``holes`` says (each a run of zeros in the data),
    as chunking.FdReader reports a sparse file's; counts the bytes actually read."""

    def __init__(self, data: bytes, holes: list[tuple[int, int]]) -> None:
        super().__init__(data)
        self.holes = holes
        self.read_bytes = 0

    def hole_after(self, pos: int) -> tuple[int, int]:
        ahead = [(max(s, pos), e) for s, e in sorted(self.holes) if e > pos]
        return ahead[0] if ahead else (0, 0)

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        n = super().readinto(buf)
        self.read_bytes += n
        return n


def layout(rng: random.Random, size: int, pieces: int) -> tuple[bytes, list[tuple[int, int]]]:
    """Data islands between runs of zeros; some of the runs declared as holes."""
    data = bytearray(size)
    holes = []
    marks = sorted(rng.sample(range(size), pieces * 2))
    for n, (start, end) in enumerate(zip(marks[::2], marks[1::2], strict=True)):
        data[start:end] = rng.randbytes(end - start)
        zeros_end = marks[2 * n + 2] if 2 * n + 2 < len(marks) else size
        if rng.random() < 0.7 and zeros_end > end:  # the zeros after this island: a hole
            holes.append((end + rng.randrange(0, 3) * 4096, zeros_end))
    if marks and rng.random() < 0.7:
        holes.append((0, marks[0]))
    return bytes(data), [(s, e) for s, e in holes if s < e]


@settings(max_examples=25)
@given(st.integers(0, 2**32), st.integers(0, 6), st.integers(0, 2))
def test_holes_are_passed_over_with_the_cuts_of_one_pass(rseed: int, pieces: int, k: int) -> None:
    """A sparse file's holes are not read, and cut exactly as if they were: the chunks
    (and so the blob ids and the snapshot) are those of reading every byte. Also where a
    run of zeros is read (not a hole) and its chunks end at the window's end."""
    from s3vault.chunker import fastcdc

    params = ChunkerParams(min_size=64 * 1024, avg_size=128 * 1024, max_size=512 * 1024, seed=k)
    rng = random.Random(rseed)
    size = fastcdc.WINDOW * rng.choice([1, 2, 3]) + rng.randrange(0, 3_000_000)
    data, holes = layout(rng, size, pieces)
    chunker = fastcdc.FastCdcChunker(params)
    one_pass = [bytes(c) for c in chunker.chunks_of(data)]
    stream = HoleyStream(data, holes)
    assert [bytes(c) for c in chunker.chunks(stream, size)] == one_pass
    longest = max((e - s for s, e in holes), default=0)
    if longest > 2 * (fastcdc.WINDOW + params.max_size):  # at most a window of it read, twice
        assert stream.read_bytes < size


def test_a_file_that_is_one_hole_reads_next_to_nothing() -> None:
    from s3vault.chunker import fastcdc, is_zero_run

    size = 40 * fastcdc.WINDOW + 12345
    data = bytes(size)
    stream = HoleyStream(data, [(0, size)])
    chunks = list(fastcdc.FastCdcChunker(ChunkerParams(seed=3)).chunks(stream, size))
    assert sum(map(len, chunks)) == size
    assert sum(is_zero_run(c) for c in chunks) == len(chunks) - 1  # all but the short tail
    assert stream.read_bytes < 3 * fastcdc.WINDOW  # one window, and the tail
