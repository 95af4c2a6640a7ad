"""PackWriter: gathers sealed blobs of one type into a pack (design.md §4).

The pack is assembled in an anonymous memory map sized for a full pack: no reallocation while it
fills, no copy when it is finished, and the memory goes back to the operating system as soon as
the finished pack is dropped (malloc would keep 16 MiB buffers in its arenas).
"""

from __future__ import annotations

import errno
import mmap

from s3vault.crypto.hashing import storage_id
from s3vault.format.envelope import SealedKind
from s3vault.format.packfile import TRAILER, BlobType, PackEntry, encode_header
from s3vault.ids import ObjectId
from s3vault.repository.sealer import PACK_HEADER_BINDING, PackSealing

# Room for the last blob's overshoot beyond the target (a chunk is at most 8 MiB by default)
# and the header. Only the pages written become resident, so a larger map costs address space,
# not memory; a map that is too small is copied into a larger one (both resident at once).
SLACK = 9 << 20


class PackWriter:
    """An open pack. Not thread-safe: the BlobWriter serialises access."""

    def __init__(self, btype: BlobType, sealer: PackSealing, target_size: int) -> None:
        self.type = btype
        self._sealer = sealer
        self.epoch = sealer.epoch
        self._target = target_size
        self._buf: mmap.mmap | None = None
        self._len = 0
        self.entries: list[PackEntry] = []

    @property
    def size(self) -> int:
        """Bytes of blobs so far."""
        return self._len

    def __len__(self) -> int:
        return len(self.entries)

    def _reserve(self, extra: int) -> mmap.mmap:
        need = self._len + extra
        buf = self._buf
        if buf is None or need > len(buf):
            try:
                grown = mmap.mmap(-1, max(self._target + SLACK, need + SLACK))
            except OSError as exc:  # this process's memory, never the file being read
                if exc.errno == errno.ENOMEM:  # (an attack pass: under ulimit -v a backup
                    # took it for a read error of its largest file and left the file out)
                    raise MemoryError(f"no memory for a pack buffer ({exc.strerror})") from exc
                raise
            if buf is not None:
                grown[: self._len] = buf[: self._len]
            self._buf = buf = grown
        return buf

    def add(self, bid: ObjectId, sealed: bytes, raw_length: int) -> None:
        """Append a sealed blob."""
        buf = self._reserve(len(sealed))
        self.entries.append(
            PackEntry(
                type=self.type, id=bid, offset=self._len, length=len(sealed), raw_length=raw_length
            )
        )
        buf[self._len : self._len + len(sealed)] = sealed
        self._len += len(sealed)

    def blobs(self) -> list[tuple[ObjectId, bytes, int]]:
        """The sealed blobs added so far, as (id, sealed bytes, plaintext length), in order;
        the pack is left empty (for another process to pack them: BlobWriter.flush)."""
        buf, entries = self._buf, self.entries
        out = (
            []
            if buf is None
            else [(e.id, bytes(buf[e.offset : e.offset + e.length]), e.raw_length) for e in entries]
        )
        self._buf, self._len, self.entries = None, 0, []
        return out

    def finish(self) -> tuple[ObjectId, memoryview]:
        """Seal the header, append it and the trailer; returns (pack id, pack bytes)."""
        header = self._sealer.seal(
            SealedKind.PACK_HEADER, encode_header(self.entries), PACK_HEADER_BINDING
        )
        tail = header + TRAILER.pack(len(header))
        buf = self._reserve(len(tail))
        buf[self._len : self._len + len(tail)] = tail
        self._len += len(tail)
        data = memoryview(buf)[: self._len]
        self._buf, self._len = None, 0
        return storage_id(data), data
