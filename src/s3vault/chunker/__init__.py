"""Chunkers: cut a byte stream into blobs.

``Chunker.chunks(stream)`` yields memoryviews that stay valid only until the next one is yielded
(callers hash or copy each before asking for the next).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkerParams:
    """Chunk size bounds and the per-repository secret seed."""

    min_size: int = 512 * 1024
    avg_size: int = 1024 * 1024
    max_size: int = 8 * 1024 * 1024
    seed: int = 0

    def __repr__(self) -> str:  # the seed is derived from the master key
        return f"ChunkerParams({self.min_size}/{self.avg_size}/{self.max_size})"


class ByteStream(Protocol):
    """What a chunker reads from: ``read`` returns fewer bytes than asked only at the end."""

    def read(self, n: int, /) -> bytes:
        """Up to n bytes."""
        ...

    def readinto(self, buf: memoryview, /) -> int:
        """Fill buf; 0 at the end."""
        ...


@runtime_checkable
class SparseStream(ByteStream, Protocol):
    """A stream that knows where its file has holes (runs the file system keeps as zeros
    without storing them: ``/var/log/lastlog``, disk images), so that a chunker can pass over
    them without reading them."""

    def hole_after(self, pos: int, /) -> tuple[int, int]:
        """(start, end) offsets of the first hole at or after ``pos``; start == end: none."""
        ...

    def seek(self, pos: int, /) -> None:
        """Continue reading at offset ``pos``."""
        ...


def zero_run(length: int) -> memoryview:
    """A chunk of ``length`` zero bytes that ``is_zero_run`` recognises (one shared block per
    length: its pages are never written, so they cost no memory)."""
    block = _ZERO_BLOCKS.get(length)
    if block is None:
        block = _ZERO_BLOCKS.setdefault(length, bytes(length))
    return memoryview(block)


def is_zero_run(chunk: memoryview) -> bool:
    """Whether ``chunk`` is a whole ``zero_run`` (a hole passed over): its id is the same
    every time, so it need not be hashed again."""
    block = _ZERO_BLOCKS.get(len(chunk))
    return block is not None and chunk.obj is block


_ZERO_BLOCKS: dict[int, bytes] = {}


class Chunker(Protocol):
    """Cuts streams into chunks."""

    def chunks(self, stream: ByteStream, size_hint: int = -1) -> Iterator[memoryview]:
        """Yield consecutive chunks whose concatenation is the stream's content."""
        ...


def make_chunker(params: ChunkerParams, kind: str = "fastcdc") -> Chunker:
    """The chunker for a repository ("fastcdc") or the fixed-size baseline ("fixed")."""
    if kind == "fixed":
        from s3vault.chunker.fixed import FixedChunker

        return FixedChunker(params.avg_size)
    from s3vault.chunker.fastcdc import FastCdcChunker

    return FastCdcChunker(params)
