"""Content-defined chunking with FastCDC 2020 (pyfastcdc, compiled, releases the GIL).

pyfastcdc's "average" excludes the skipped minimum (the paper's cut-point skipping), so we pass
avg - min to get chunks that average about ``avg_size``. The gear table is XORed with the
per-repository seed; design.md §13 says what that does and does not hide.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from pyfastcdc import FastCDC

from s3vault.chunker import ChunkerParams


class FastCdcChunker:
    """A FastCDC chunker; one instance per thread (pyfastcdc objects are not thread-safe)."""

    def __init__(self, params: ChunkerParams) -> None:
        self._params = params
        self._cdc = FastCDC(
            avg_size=max(256, params.avg_size - params.min_size),
            min_size=params.min_size,
            max_size=params.max_size,
            normalized_chunking=1,
            seed=params.seed,
        )

    def chunks(self, stream: BinaryIO) -> Iterator[memoryview]:
        """Yield the chunks of a stream."""
        for chunk in self._cdc.cut_stream(stream):
            yield chunk.data

    def chunks_of(self, data: bytes | memoryview) -> Iterator[memoryview]:
        """Yield the chunks of an in-memory buffer."""
        for chunk in self._cdc.cut_buf(data):
            yield chunk.data
