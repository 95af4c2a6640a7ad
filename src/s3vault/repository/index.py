"""BlobIndex: (blob type, blob id) → where the blob is stored, compact enough for 10^7 blobs.

Layout per blob type: 48-byte records ``id (32) | pack number (u32) | offset (u32) | length (u32)
| raw length (u32)`` grouped into 2^16 buckets by the first two id bytes, one ``bytes`` object
per bucket. Ids are uniformly random (keyed hashes), so buckets are even; a lookup is one
C-speed ``bytes.find`` inside its bucket (≈150 records at 10^7 blobs). New entries go to a small
dict that ``compact()`` folds into the buckets they touch. About 48 bytes per blob plus ~100 per
pack: 10^7 blobs in 16-blob packs ≈ 550 MB (``make bench-index``).

Also tracks blobs "in flight" (handed to a pack writer but not yet in an uploaded pack), so two
threads never store the same new blob twice.
"""

from __future__ import annotations

import struct
import threading
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from s3vault.format.indexfile import IndexedPack
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
    """The records of one blob type: one ``bytes`` per bucket, plus the not yet folded dict.

    Readers take no lock: a bucket is replaced by one list-item assignment (a reader sees the
    old or the new bytes, both valid), and records leave ``new`` only after their bucket holds
    them.
    """

    def __init__(self) -> None:
        self.buckets: list[bytes] = [b""] * NBUCKETS
        self.count = 0
        self.new: dict[bytes, tuple[int, int, int, int]] = {}

    def __len__(self) -> int:
        return self.count + len(self.new)

    def get(self, bid: bytes) -> tuple[int, int, int, int] | None:
        value = self.new.get(bid)
        if value is not None:
            return value
        bucket = self.buckets[(bid[0] << 8) | bid[1]]
        pos = bucket.find(bid)
        while pos != -1 and pos % REC:
            pos = bucket.find(bid, pos + 1)
        if pos == -1:
            return None
        vals: tuple[int, int, int, int] = VALUE.unpack_from(bucket, pos + 32)
        return vals

    def compact(self) -> None:
        """Fold ``new`` into the buckets; costs only the touched buckets' sizes."""
        if not self.new:
            return
        extra: dict[int, list[bytes]] = {}
        for bid, value in self.new.items():
            extra.setdefault(_bucket(bid), []).append(RECORD.pack(bid, *value))
        for b, records in extra.items():
            self.buckets[b] += b"".join(records)
        self.count += len(self.new)
        self.new = {}

    def records(self) -> Iterator[tuple[bytes, int, int, int, int]]:
        self.compact()
        for bucket in self.buckets:
            yield from RECORD.iter_unpack(bucket)


class BlobIndex:
    """Thread-safe map of every stored blob, plus the set of blobs in flight."""

    def __init__(self) -> None:
        self._tables = {BlobType.DATA: _Table(), BlobType.TREE: _Table()}
        self._packs: list[ObjectId] = []
        self._pack_sizes = array("Q")
        self._pack_epochs = array("H")
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

    def pack_epochs(self) -> list[tuple[ObjectId, int, int]]:
        """Every known pack, its size and the key epoch it is sealed under."""
        with self._lock:
            return list(zip(self._packs, self._pack_sizes, self._pack_epochs, strict=True))

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

    def add_indexed_pack(self, pack: IndexedPack) -> None:
        """Record a pack as an index file or deletion record describes it."""
        self.add_pack(
            pack.id,
            pack.size,
            [(e.type, e.id, e.offset, e.length, e.raw_length) for e in pack.entries],
            pack.epoch,
        )

    def entries(self) -> Iterator[tuple[BlobType, ObjectId, BlobLocation]]:
        """Every stored blob (for verify, prune and repair)."""
        for btype, table in self._tables.items():
            for bid, pack_no, offset, length, raw_length in table.records():
                yield (
                    btype,
                    ObjectId(bid),
                    BlobLocation(
                        pack_id=self._packs[pack_no],
                        offset=offset,
                        length=length,
                        raw_length=raw_length,
                        epoch=self._pack_epochs[pack_no],
                    ),
                )

    # Serialisation for the local cache -----------------------------------------------------
    # Image: pack count (u32) | pack ids | pack sizes (u64 each) | pack epochs (u16 each) |
    #        per blob type: records per bucket (u32 × 2^16) | the buckets' records in order.
    # Produced and consumed piece by piece, so saving or loading 10^7 blobs needs no second
    # copy of the index in memory.

    def dump_pieces(self) -> Iterator[bytes]:
        """The image, as a sequence of pieces (the buckets themselves, uncopied)."""
        with self._lock:  # a consistent picture; the pieces are produced outside the lock
            for table in self._tables.values():
                table.compact()
            packs = list(self._packs)
            sizes, epochs = array("Q", self._pack_sizes), array("H", self._pack_epochs)
            buckets = {t: list(self._tables[t].buckets) for t in (BlobType.DATA, BlobType.TREE)}
        yield struct.pack("<I", len(packs))
        yield b"".join(packs)
        yield sizes.tobytes()
        yield epochs.tobytes()
        for btype in (BlobType.DATA, BlobType.TREE):
            yield array("I", [len(b) // REC for b in buckets[btype]]).tobytes()
            yield from (b for b in buckets[btype] if b)

    def dump(self) -> bytes:
        """The whole image as one bytes object (small indexes and tests)."""
        return b"".join(self.dump_pieces())

    @classmethod
    def load_from(cls, read: Callable[[int], bytes]) -> BlobIndex:
        """Rebuild from an image, reading it piece by piece.

        Raises:
            ValueError: the image is truncated or malformed.
        """

        def exact(n: int) -> bytes:
            data = read(n)
            if len(data) != n:
                raise ValueError("index image truncated")
            return data

        index = cls()
        (npacks,) = struct.unpack("<I", exact(4))
        raw = exact(32 * npacks)
        index._packs = [ObjectId(raw[32 * i : 32 * (i + 1)]) for i in range(npacks)]
        del raw
        index._pack_sizes.frombytes(exact(8 * npacks))
        index._pack_epochs.frombytes(exact(2 * npacks))
        index._pack_no = {p: i for i, p in enumerate(index._packs)}
        for btype in (BlobType.DATA, BlobType.TREE):
            counts = array("I")
            counts.frombytes(exact(4 * NBUCKETS))
            table = index._tables[btype]
            for b, n in enumerate(counts):
                if n:
                    table.buckets[b] = exact(n * REC)
                    table.count += n
        return index

    @classmethod
    def load(cls, data: bytes) -> BlobIndex:
        """Inverse of dump().

        Raises:
            ValueError: truncated, malformed or with trailing bytes.
        """
        view = memoryview(data)
        pos = 0

        def read(n: int) -> bytes:
            nonlocal pos
            piece = bytes(view[pos : pos + n])
            pos += n
            return piece

        index = cls.load_from(read)
        if pos != len(data):
            raise ValueError("index image has trailing bytes")
        return index
