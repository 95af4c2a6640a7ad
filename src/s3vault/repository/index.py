"""BlobIndex: (blob type, blob id) → where the blob is stored, compact enough for 10^7 blobs.

Layout per blob type: 48-byte records ``id (32) | pack number (u32) | offset (u32) | length (u32)
| raw length (u32)`` grouped into 2^16 buckets by the first two id bytes, stored contiguously
in one ``bytes`` with an array of bucket starts. Ids are uniformly random (keyed hashes), so
buckets are even; a lookup is one C-speed ``bytes.find`` inside its bucket (≈150 records at
10^7 blobs). New entries go to a small dict that ``compact()`` folds in, bucket by bucket.
About 50 bytes per blob: 10^7 blobs ≈ 500 MB.

Also tracks blobs "in flight" (handed to a pack writer but not yet in an uploaded pack), so two
threads never store the same new blob twice.
"""

from __future__ import annotations

import struct
import threading
from array import array
from collections.abc import Iterator
from dataclasses import dataclass

from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId

RECORD = struct.Struct("<32sIIII")
REC = RECORD.size
VALUE = struct.Struct("<IIII")
BUCKET_BITS = 16
NBUCKETS = 1 << BUCKET_BITS
COMPACT_AT = 65536


@dataclass(frozen=True, slots=True, kw_only=True)
class BlobLocation:
    """Where a blob is stored."""

    pack_id: ObjectId
    offset: int
    length: int
    raw_length: int
    epoch: int


def _bucket(bid: bytes) -> int:
    return (bid[0] << 8) | bid[1]


class _Table:
    """The records of one blob type."""

    def __init__(self) -> None:
        # (records, bucket starts) swapped as one tuple so lock-free readers see a matching pair
        self.state: tuple[bytes, array[int]] = (b"", array("I", bytes(4 * (NBUCKETS + 1))))
        self.new: dict[bytes, tuple[int, int, int, int]] = {}

    @property
    def buf(self) -> bytes:
        return self.state[0]

    def __len__(self) -> int:
        return len(self.state[0]) // REC + len(self.new)

    def get(self, bid: bytes) -> tuple[int, int, int, int] | None:
        value = self.new.get(bid)
        if value is not None:
            return value
        b = _bucket(bid)
        buf, starts = self.state
        lo = starts[b] * REC
        hi = starts[b + 1] * REC
        pos = buf.find(bid, lo, hi)
        while pos != -1 and (pos - lo) % REC:
            pos = buf.find(bid, pos + 1, hi)
        if pos == -1:
            return None
        vals: tuple[int, int, int, int] = VALUE.unpack_from(buf, pos + 32)
        return vals

    def compact(self) -> None:
        if not self.new:
            return
        extra: dict[int, list[bytes]] = {}
        for bid, value in self.new.items():
            extra.setdefault(_bucket(bid), []).append(RECORD.pack(bid, *value))
        pieces: list[bytes] = []
        starts = array("I", bytes(4 * (NBUCKETS + 1)))
        count = 0
        buf, old = self.state
        for b in range(NBUCKETS):
            starts[b] = count
            lo, hi = old[b] * REC, old[b + 1] * REC
            if hi > lo:
                pieces.append(buf[lo:hi])
                count += old[b + 1] - old[b]
            more = extra.get(b)
            if more:
                pieces.extend(more)
                count += len(more)
        starts[NBUCKETS] = count
        self.state = (b"".join(pieces), starts)
        self.new = {}

    def records(self) -> Iterator[tuple[bytes, int, int, int, int]]:
        self.compact()
        yield from RECORD.iter_unpack(self.buf)


class BlobIndex:
    """Thread-safe map of every stored blob, plus the set of blobs in flight."""

    def __init__(self) -> None:
        self._tables = {BlobType.DATA: _Table(), BlobType.TREE: _Table()}
        self._packs: list[ObjectId] = []
        self._pack_sizes: list[int] = []
        self._pack_epochs: list[int] = []
        self._pack_no: dict[ObjectId, int] = {}
        self._pending: dict[BlobType, set[bytes]] = {BlobType.DATA: set(), BlobType.TREE: set()}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return sum(len(t) for t in self._tables.values())

    @property
    def pack_count(self) -> int:
        """Number of packs known."""
        return len(self._packs)

    def packs(self) -> list[tuple[ObjectId, int]]:
        """Every known pack and its size."""
        with self._lock:
            return list(zip(self._packs, self._pack_sizes, strict=True))

    def has(self, btype: BlobType, bid: bytes) -> bool:
        """Is the blob stored (in an uploaded pack)?"""
        return self._tables[btype].get(bid) is not None

    def lookup(self, btype: BlobType, bid: bytes) -> BlobLocation | None:
        """Where the blob is, if it is stored."""
        value = self._tables[btype].get(bid)
        if value is None:
            return None
        pack_no, offset, length, raw_length = value
        return BlobLocation(
            pack_id=self._packs[pack_no],
            offset=offset,
            length=length,
            raw_length=raw_length,
            epoch=self._pack_epochs[pack_no],
        )

    def reserve(self, btype: BlobType, bid: bytes) -> bool:
        """Claim a blob for storing: True if it is neither stored nor already in flight."""
        table = self._tables[btype]
        if table.get(bid) is not None:
            return False
        with self._lock:
            pending = self._pending[btype]
            if bid in pending or table.get(bid) is not None:
                return False
            pending.add(bid)
            return True

    def release(self, btype: BlobType, bid: bytes) -> None:
        """Give up a reservation (the blob was not stored after all)."""
        with self._lock:
            self._pending[btype].discard(bid)

    def add_pack(
        self,
        pack_id: ObjectId,
        size: int,
        entries: list[tuple[BlobType, bytes, int, int, int]],
        epoch: int = 1,
    ) -> None:
        """Record an uploaded pack and its blobs; clears their in-flight reservations."""
        with self._lock:
            pack_no = self._pack_no.get(pack_id)
            if pack_no is None:
                pack_no = len(self._packs)
                self._packs.append(pack_id)
                self._pack_sizes.append(size)
                self._pack_epochs.append(epoch)
                self._pack_no[pack_id] = pack_no
            for btype, bid, offset, length, raw_length in entries:
                table = self._tables[btype]
                if table.get(bid) is None:
                    table.new[bid] = (pack_no, offset, length, raw_length)
                self._pending[btype].discard(bid)
            for table in self._tables.values():
                if len(table.new) >= COMPACT_AT:
                    table.compact()

    def entries(self) -> Iterator[tuple[BlobType, ObjectId, BlobLocation]]:
        """Every stored blob (for verify, prune and repair)."""
        for btype, table in self._tables.items():
            for bid, pack_no, offset, length, raw_length in table.records():
                yield btype, ObjectId(bid), BlobLocation(
                    pack_id=self._packs[pack_no], offset=offset, length=length,
                    raw_length=raw_length, epoch=self._pack_epochs[pack_no],
                )  # fmt: skip

    # Serialisation for the local cache -----------------------------------------------------

    def dump(self) -> bytes:
        """Compact binary image (for the cache)."""
        with self._lock:
            parts = [struct.pack("<I", len(self._packs))]
            parts.extend(self._packs)
            parts.append(array("Q", self._pack_sizes).tobytes())
            parts.append(array("H", self._pack_epochs).tobytes())
            for btype in (BlobType.DATA, BlobType.TREE):
                table = self._tables[btype]
                table.compact()
                buf, starts = table.state
                parts.append(struct.pack("<Q", len(buf)))
                parts.append(starts.tobytes())
                parts.append(buf)
        return b"".join(parts)

    @classmethod
    def load(cls, data: bytes) -> BlobIndex:
        """Inverse of dump(); raises ValueError or struct.error on malformed input."""
        index = cls()
        (npacks,) = struct.unpack_from("<I", data)
        pos = 4
        index._packs = [ObjectId(data[pos + 32 * i : pos + 32 * (i + 1)]) for i in range(npacks)]
        pos += 32 * npacks
        sizes = array("Q")
        sizes.frombytes(data[pos : pos + 8 * npacks])
        index._pack_sizes = list(sizes)
        pos += 8 * npacks
        epochs = array("H")
        epochs.frombytes(data[pos : pos + 2 * npacks])
        index._pack_epochs = list(epochs)
        pos += 2 * npacks
        index._pack_no = {p: i for i, p in enumerate(index._packs)}
        for btype in (BlobType.DATA, BlobType.TREE):
            (buflen,) = struct.unpack_from("<Q", data, pos)
            pos += 8
            starts = array("I")
            starts.frombytes(data[pos : pos + 4 * (NBUCKETS + 1)])
            pos += 4 * (NBUCKETS + 1)
            buf = data[pos : pos + buflen]
            pos += buflen
            if (
                len(buf) != buflen
                or len(starts) != NBUCKETS + 1
                or starts[NBUCKETS] * REC != buflen
            ):
                raise ValueError("index image truncated")
            index._tables[btype].state = (buf, starts)
        if pos != len(data):
            raise ValueError("index image has trailing bytes")
        return index
