"""The tagged compression codec round-trips; incompressible data is stored raw."""

from __future__ import annotations

import os

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from s3vault import compression
from s3vault.errors import IntegrityError


@given(st.binary(max_size=300_000), st.integers(0, 19))
def test_compress_round_trips(data: bytes, level: int) -> None:
    packed = compression.compress(data, level)
    assert compression.decompress(packed, len(data)) == data


def test_repetitive_data_is_compressed() -> None:
    data = b"hello world " * 100_000
    packed = compression.compress(data, 3)
    assert packed[0] == compression.ZSTD
    assert len(packed) < len(data) // 50


def test_random_data_is_stored_raw() -> None:
    data = os.urandom(1 << 20)
    packed = compression.compress(data, 3)
    assert packed[0] == compression.RAW
    assert len(packed) == len(data) + 1


def test_wrong_length_or_tag_is_refused() -> None:
    packed = compression.compress(b"abc" * 1000, 3)
    with pytest.raises(IntegrityError):
        compression.decompress(packed, 10)
    with pytest.raises(IntegrityError):
        compression.decompress(b"\x07data")


@given(st.lists(st.binary(max_size=5000) | st.just(b"abc" * 2000), max_size=20), st.integers(0, 9))
def test_compress_many_matches_compress(items: list[bytes], level: int) -> None:
    packed = compression.compress_many(items, level, threads=2)
    assert [compression.decompress(p, len(d)) for p, d in zip(packed, items, strict=True)] == items
    assert [p[0] for p in packed] == [compression.compress(d, level)[0] for d in items]


def _zeros_frame(size: int, *, declared: bool) -> bytes:
    """A tagged zstd frame of ``size`` zero bytes, its content size in the header or not."""
    out = bytearray()
    cobj = zstandard.ZstdCompressor(level=1, write_content_size=declared).compressobj(
        size=size if declared else -1
    )
    zeros = bytes(1 << 20)
    for _ in range(size >> 20):
        out += cobj.compress(zeros)
    out += cobj.flush()
    return bytes([compression.ZSTD]) + bytes(out)


def claiming(size: int) -> bytes:
    """A tagged zstd frame of 1 MiB of zeros whose header claims ``size`` bytes (< 4 GiB): what
    a bomb looks like to a reader that checks the claim first (51 bytes, none allocated)."""
    frame = bytearray(
        zstandard.ZstdCompressor(level=1, write_content_size=True).compress(bytes(1 << 20))
    )
    descriptor = frame[4]
    assert descriptor >> 6 == 2 and not descriptor & 3  # a 4-byte content size, no dictionary
    at = 5 + (0 if descriptor & 0x20 else 1)  # after the window descriptor, if any
    frame[at : at + 4] = size.to_bytes(4, "little")
    assert zstandard.frame_content_size(bytes(frame)) == size
    return bytes([compression.ZSTD]) + bytes(frame)


def test_a_standalone_file_that_claims_more_than_it_may_hold_is_refused_unread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bomb (4 GiB of zeros would take 131 KB): its declared size is refused before anything
    is allocated (zstandard allocates a frame's declared size whatever max_output_size says);
    a frame that declares no size stops at the limit."""
    bomb = claiming((1 << 32) - 1)
    limit = compression.file_limit(len(bomb))
    assert limit == compression.FILE_FLOOR < 1 << 32
    with pytest.raises(IntegrityError, match="a bomb"):
        compression.decompress(bomb, limit=limit)
    monkeypatch.setattr(compression, "FILE_FLOOR", 16 << 20)  # below the frames made here
    with pytest.raises(IntegrityError):
        compression.decompress(_zeros_frame(32 << 20, declared=False), limit=16 << 20)
    fits = _zeros_frame(8 << 20, declared=True)
    assert compression.decompress(fits, limit=compression.file_limit(len(fits))) == bytes(8 << 20)
