"""Content-defined chunking with FastCDC 2020 (pyfastcdc, compiled, releases the GIL).

pyfastcdc's "average" excludes the skipped minimum (the paper's cut-point skipping), so we pass
avg - min to get chunks that average about ``avg_size``. The gear table is XORed with the
per-repository seed; design.md §13 says what that does and does not hide.

pyfastcdc's own stream chunker allocates (and zeroes) a buffer of twice the maximum chunk size
per stream, which costs more than the chunking for small files. So: a stream that fits in one
window is read whole and cut in memory; a longer one is cut window by window in one reused
buffer, re-cutting from the start of each window's last (possibly truncated) chunk, which gives
exactly the boundaries of a single pass because FastCDC only looks forward from a chunk's start.
"""

from __future__ import annotations

from collections.abc import Iterator

from pyfastcdc import FastCDC

from s3vault.chunker import ByteStream, ChunkerParams

WINDOW = 8 << 20


class FastCdcChunker:
    """A FastCDC chunker; one instance per thread (it reuses one buffer)."""

    def __init__(self, params: ChunkerParams) -> None:
        self._params = params
        self._cdc = FastCDC(
            avg_size=max(256, params.avg_size - params.min_size),
            min_size=params.min_size,
            max_size=params.max_size,
            normalized_chunking=1,
            seed=params.seed,
        )
        self._buf: bytearray | None = None

    def chunks_of(self, data: bytes | memoryview) -> Iterator[memoryview]:
        """Chunks of an in-memory buffer (views into it; valid while it lives)."""
        for chunk in self._cdc.cut_buf(data):
            yield chunk.data

    def chunks(self, stream: ByteStream, size_hint: int = -1) -> Iterator[memoryview]:
        """Chunks of a stream. Views into a reused buffer: each is valid until the next.

        ``size_hint`` (the expected length, e.g. from stat) lets small files be read with one
        exactly sized read; a stream that turns out longer is still read to its end.
        """
        if size_hint >= WINDOW:  # read straight into the reused buffer: no 8 MiB copy kept
            yield from self._windows(stream, b"")
            return
        want = WINDOW if size_hint < 0 else min(WINDOW, size_hint + 1)
        first = stream.read(want)
        while len(first) == want < WINDOW:  # longer than the hint said: keep reading
            more = stream.read(WINDOW - want)
            first += more
            want = len(first) if more else WINDOW
        if len(first) < WINDOW:
            yield from self.chunks_of(first)
            return
        windows = self._windows(stream, first)
        del first  # copied into the buffer: not kept for the whole file
        yield from windows

    def _windows(self, stream: ByteStream, first: bytes) -> Iterator[memoryview]:
        size = WINDOW + self._params.max_size
        if self._buf is None:
            self._buf = bytearray(size)
        buf = self._buf
        view = memoryview(buf)
        view[: len(first)] = first
        filled = len(first)
        del first
        eof = False
        while True:
            while not eof and filled < size:
                n = stream.readinto(view[filled:])
                if not n:
                    eof = True
                    break
                filled += n
            cuts = [(c.offset, c.length) for c in self._cdc.cut_buf(view[:filled])]
            if eof:
                for offset, length in cuts:
                    yield view[offset : offset + length]
                return
            for offset, length in cuts[:-1]:
                yield view[offset : offset + length]
            start = cuts[-1][0]
            rest = filled - start
            buf[:rest] = buf[start:filled]
            filled = rest
