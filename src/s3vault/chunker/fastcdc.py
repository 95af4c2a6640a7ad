"""Content-defined chunking with FastCDC 2020 (pyfastcdc, compiled, releases the GIL).

pyfastcdc's "average" excludes the skipped minimum (the paper's cut-point skipping), so we pass
avg - min to get chunks that average about ``avg_size``. The gear table is XORed with the
per-repository seed; design.md §13 says what that does and does not hide.

pyfastcdc's own stream chunker allocates (and zeroes) a buffer of twice the maximum chunk size
per stream, which costs more than the chunking for small files. So: a stream that fits in one
window is read whole and cut in memory; a longer one is cut window by window in one reused
buffer, re-cutting from the start of each window's last (possibly truncated) chunk, which gives
exactly the boundaries of a single pass because FastCDC only looks forward from a chunk's start
(a last chunk of max_size is kept: it ends there whatever follows).

Holes: a stream that knows where its file has holes (``SparseStream``) is not read through
them. Where a chunk starts in a hole with room for at least one chunk of zeros, the chunks of
the hole are the chunk a run of zeros makes (max_size, or where FastCDC cuts zeros), repeated,
and the stream goes on after the last of them: the same chunks as reading the zeros, so the
snapshot is the same. A 300 GB ``/var/log/lastlog`` costs its data, not 300 GB of reads.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

from pyfastcdc import FastCDC

from s3vault.chunker import ByteStream, ChunkerParams, SparseStream, zero_run

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
        self._zero_cut = 0  # see _pass_hole

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
        holes = stream if isinstance(stream, SparseStream) else None
        pos = 0  # the stream offset of buf[0], always the start of a chunk
        eof = False
        while True:
            if holes is not None and filled == 0 and self._hole_ahead(holes, pos, [(0, 0)]) == 0:
                pos += yield from self._pass_hole(holes, pos)  # a hole here: not read first
                holes.seek(pos)
            while not eof and filled < size:
                n = stream.readinto(view[filled:])
                if not n:
                    eof = True
                    break
                filled += n
            cuts = [(c.offset, c.length) for c in self._cdc.cut_buf(view[:filled])]
            at = len(cuts) if holes is None else self._hole_ahead(holes, pos, cuts)
            if at < len(cuts):  # chunks up to a hole, then the hole's own, not read
                for offset, length in cuts[:at]:
                    yield view[offset : offset + length]
                pos += cuts[at][0]
                pos += yield from self._pass_hole(holes, pos)  # type: ignore[arg-type]
                holes.seek(pos)  # type: ignore[union-attr]
                filled, eof = 0, False
                continue
            if eof:
                for offset, length in cuts:
                    yield view[offset : offset + length]
                return
            # The last chunk may only end because the window does, unless it is as long as a
            # chunk can be: cut again from its start, with what follows it
            if cuts[-1][1] < self._params.max_size:
                cuts.pop()
            for offset, length in cuts:
                yield view[offset : offset + length]
            start = cuts[-1][0] + cuts[-1][1]
            rest = filled - start
            buf[:rest] = buf[start:filled]
            filled = rest
            pos += start

    def _zero_chunk(self) -> int:
        """The length of the chunk a long run of zeros starts with (and repeats): where FastCDC
        cuts zeros, or max_size when it never does."""
        if self._zero_cut == 0:
            self._zero_cut = next(iter(self._cdc.cut_buf(bytes(self._params.max_size)))).length
        return self._zero_cut

    def _hole_ahead(self, stream: SparseStream, pos: int, cuts: list[tuple[int, int]]) -> int:
        """The first of ``cuts`` (chunks of the window at ``pos``) that starts in a hole with
        room for at least one chunk of zeros; len(cuts) when none does. A chunk's start is
        final (the end of the chunk before it), wherever the window ends. Holes too short
        for a chunk (the end of the one ``pos`` is in) are passed by for the next."""
        starts = [pos + offset for offset, _length in cuts]
        start, end = stream.hole_after(pos)
        while start < end and starts and start <= starts[-1]:
            zero = self._zero_chunk()
            for n, at in enumerate(starts):
                if start <= at and end - at >= zero:
                    return n
            start, end = stream.hole_after(end)
        return len(cuts)

    def _pass_hole(self, stream: SparseStream, pos: int) -> Generator[memoryview, None, int]:
        """The chunks of the hole at ``pos`` (a chunk's start), without reading it: every chunk
        that starts and ends in it is the chunk zeros make; returns how many bytes they cover."""
        count = (stream.hole_after(pos)[1] - pos) // self._zero_chunk()
        for _ in range(count):
            yield zero_run(self._zero_cut)
        return count * self._zero_cut
