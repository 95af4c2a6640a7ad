"""Fixed-size chunking: the baseline that shows what content-defined chunking buys."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO


class FixedChunker:
    """Cuts every ``size`` bytes."""

    def __init__(self, size: int) -> None:
        self._size = size

    def chunks(self, stream: BinaryIO) -> Iterator[memoryview]:
        """Yield fixed-size chunks (the last may be shorter)."""
        while block := stream.read(self._size):
            yield memoryview(block)
