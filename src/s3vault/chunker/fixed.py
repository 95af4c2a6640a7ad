"""Fixed-size chunking: the baseline that shows what content-defined chunking buys."""

from __future__ import annotations

from collections.abc import Iterator

from s3vault.chunker import ByteStream


class FixedChunker:
    """Cuts every ``size`` bytes."""

    def __init__(self, size: int) -> None:
        self._size = size

    def chunks(self, stream: ByteStream, size_hint: int = -1) -> Iterator[memoryview]:
        """Yield fixed-size chunks (the last may be shorter)."""
        while block := stream.read(self._size):
            yield memoryview(block)
