"""BlobIndex: (blob type, blob id) → where the blob is stored, compact enough for 10^7 blobs.

Layout per blob type: 48-byte records ``id (32) | pack number (u32) | offset (u32) | length (u32)
| raw length (u32)`` grouped into 2^16 buckets by the first two id bytes, one ``bytes`` object
per bucket. Ids are uniformly random (keyed hashes), so buckets are even; a lookup is one
C-speed ``bytes.find`` inside its bucket (≈150 records at 10^7 blobs). New entries go to a small
dict that ``compact()`` folds into the buckets they touch. About 48 bytes per blob plus ~100 per
pack: 10^7 blobs in 16-blob packs ≈ 550 MB (``make bench-index``).

A pack has one description: the first recorded (size, epoch, sender) stays, and later
records of it only add blobs, until ``drop_packs`` forgets it. Readers of index files settle
descriptions that disagree in anything (sender, entries) before they record them
(repository/senderdisputes.py, design.md §6a): a put-only writer's index file can name any pack
under its own sender, or place its own pack's blobs anywhere.

A blob may be stored in several packs (two hosts stored it at once, or a backup stored it again
because its pack was lost): every location is kept, as further records of the same id after the
first. ``lookup`` answers with the first; ``locations`` gives them all, so a reader whose first
copy is missing or damaged can read another; ``drop_packs`` forgets packs that are gone, which
makes the next copy the first.

Also tracks blobs "in flight" (handed to a pack writer but not yet in an uploaded pack), so two
threads never store the same new blob twice.
"""

from __future__ import annotations

import struct
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import compress

from s3vault.format.indexfile import SENDER_SIZE, IndexedPack
from s3vault.format.packfile import BlobType, PackEntry
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
    sender: bytes = b""  # a put-only writer's pack: what opens its blobs (design.md §6a)


def _bucket(bid: bytes) -> int:
    return (bid[0] << 8) | bid[1]


def _bucket_counts(buckets: list[bytes]) -> array[int]:
    """Records per bucket. Only the buckets that hold records are visited: a small index's
    image (most of its 2^16 buckets empty) is written in microseconds, not the 10 ms a
    Python loop over every bucket took, which every command that saved its cache paid."""
    counts = array("I", bytes(4 * len(buckets)))
    for b in compress(range(len(buckets)), buckets):
        counts[b] = len(buckets[b]) // REC
    return counts


class _Table:
    """The records of one blob type: one ``bytes`` per bucket, plus the not yet folded dict.

    Readers take no lock: a bucket is replaced by one list-item assignment (a reader sees the
    old or the new bytes, both valid), and records leave ``new`` only after their bucket holds
    them.
    """

    def __init__(self) -> None:
        self.buckets: list[bytes] = [b""] * NBUCKETS
        self.count = 0  # records in the buckets, further copies included
        self.copies = 0  # of which further copies of a blob already recorded
        self.new: dict[bytes, tuple[int, int, int, int]] = {}
        self.new_copies: list[tuple[bytes, tuple[int, int, int, int]]] = []

    def __len__(self) -> int:
        return self.count - self.copies + len(self.new)

    def all(self, bid: bytes) -> list[tuple[int, int, int, int]]:
        """Every location of a blob, the first one first."""
        found = []
        bucket = self.buckets[(bid[0] << 8) | bid[1]]
        pos = bucket.find(bid)
        while pos != -1:
            if pos % REC == 0:
                found.append(VALUE.unpack_from(bucket, pos + 32))
            pos = bucket.find(bid, pos + 1)
        value = self.new.get(bid)
        if value is not None:
            found.append(value)
        found.extend(v for b, v in self.new_copies if b == bid)
        return found

    def add(self, bid: bytes, value: tuple[int, int, int, int]) -> None:
        """Record a location; a further pack holding a recorded blob is kept as a copy."""
        known = self.all(bid) if self.get(bid) is not None else []
        if not known:
            self.new[bid] = value
        elif all(k[0] != value[0] for k in known):
            self.new_copies.append((bid, value))

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
        """Fold ``new`` (and further copies, after them) into the buckets; costs only the
        touched buckets' sizes."""
        if not self.new and not self.new_copies:
            return
        extra: dict[int, list[bytes]] = {}
        for bid, value in self.new.items():
            extra.setdefault(_bucket(bid), []).append(RECORD.pack(bid, *value))
        for bid, value in self.new_copies:
            extra.setdefault(_bucket(bid), []).append(RECORD.pack(bid, *value))
        for b, records in extra.items():
            self.buckets[b] += b"".join(records)
        self.count += len(self.new) + len(self.new_copies)
        self.copies += len(self.new_copies)
        self.new = {}
        self.new_copies = []

    def drop_packs(self, pack_nos: set[int]) -> set[bytes]:
        """Forget every record in these packs (a blob's next copy, if any, becomes its first);
        returns the blobs left with no location at all."""
        self.compact()
        lost: set[bytes] = set()
        count = copies = 0
        for b, bucket in enumerate(self.buckets):
            if not bucket:
                continue
            kept: list[bytes] = []
            seen: set[bytes] = set()
            gone: set[bytes] = set()
            for record in RECORD.iter_unpack(bucket):
                if record[1] in pack_nos:
                    gone.add(record[0])
                    continue
                kept.append(RECORD.pack(*record))
                if record[0] in seen:
                    copies += 1
                seen.add(record[0])
            lost |= gone - seen
            if len(kept) != len(bucket) // REC:
                self.buckets[b] = b"".join(kept)
            count += len(kept)
        self.count, self.copies = count, copies
        return lost

    def records(self) -> Iterator[tuple[bytes, int, int, int, int]]:
        """One record per blob: its first location."""
        self.compact()
        for bucket in self.buckets:
            if self.copies:
                seen: set[bytes] = set()
                for record in RECORD.iter_unpack(bucket):
                    if record[0] not in seen:
                        seen.add(record[0])
                        yield record
            else:
                yield from RECORD.iter_unpack(bucket)


class BlobIndex:
    """Thread-safe map of every stored blob, plus the set of blobs in flight."""

    def __init__(self) -> None:
        self._tables = {BlobType.DATA: _Table(), BlobType.TREE: _Table()}
        self._packs: list[ObjectId] = []
        self._pack_sizes = array("Q")
        self._pack_epochs = array("H")
        self._pack_no: dict[ObjectId, int] = {}
        self._senders: dict[int, bytes] = {}  # pack number -> sender (put-only packs only)
        self._dropped: set[int] = set()  # pack numbers drop_packs forgot
        self._pending: dict[BlobType, set[bytes]] = {BlobType.DATA: set(), BlobType.TREE: set()}
        self._lock = threading.Lock()
        # Repository.read_index's count of the process's index writes when it read this one
        # (None: not read from the store, never stale); Repository.current compares it
        self.generation: int | None = None
        self.files: frozenset[ObjectId] = frozenset()  # the index files listed when it was read

    def __len__(self) -> int:
        return sum(len(t) for t in self._tables.values())

    @property
    def pack_count(self) -> int:
        """Number of packs known."""
        return len(self._packs) - len(self._dropped)

    def packs(self) -> list[tuple[ObjectId, int]]:
        """Every known pack and its size."""
        return [(p, size) for p, size, _epoch in self.pack_epochs()]

    def pack_epochs(self) -> list[tuple[ObjectId, int, int]]:
        """Every known pack, its size and the key epoch it is sealed under."""
        with self._lock:
            known = zip(self._packs, self._pack_sizes, self._pack_epochs, strict=True)
            return [p for n, p in enumerate(known) if n not in self._dropped]

    def has(self, btype: BlobType, bid: bytes) -> bool:
        """Is the blob stored (in an uploaded pack)?"""
        return self._tables[btype].get(bid) is not None

    def lookup(self, btype: BlobType, bid: bytes) -> BlobLocation | None:
        """Where the blob is, if it is stored: its first location in a pack a full key
        sealed, else its first location (design.md §6a: a put-only writer's copy is read only
        where no full key's copy exists)."""
        value = self._tables[btype].get(bid)
        if value is not None and value[0] in self._senders:
            with self._lock:
                value = self._trusted_first(self._tables[btype].all(bid))[0]
        return None if value is None else self._location(value)

    def locations(self, btype: BlobType, bid: bytes) -> list[BlobLocation]:
        """Every pack the blob is stored in: the copies in packs a full key sealed first,
        then a put-only writer's (each group in index order)."""
        with self._lock:
            values = self._trusted_first(self._tables[btype].all(bid))
        return [self._location(v) for v in values]

    def _trusted_first(
        self, values: list[tuple[int, int, int, int]]
    ) -> list[tuple[int, int, int, int]]:
        """``values`` with the locations in put-only writers' packs last (a stable sort):
        a put-only host can seal anything under an id it knows (design.md §13), and an index
        file of its own may sort first."""
        if not self._senders:
            return values
        return sorted(values, key=lambda v: v[0] in self._senders)

    def _stored_for_writers(self, btype: BlobType, bid: bytes) -> bool:
        """Does a writer with a full key deduplicate against this blob? Only where a pack a
        full key sealed holds it: a put-only writer's pack is not trusted for dedup (it may
        hold anything under that id, design.md §6a), so the blob is stored once more."""
        table = self._tables[btype]
        value = table.get(bid)
        if value is None:
            return False
        if value[0] not in self._senders:
            return True
        return any(v[0] not in self._senders for v in table.all(bid))

    def _location(self, value: tuple[int, int, int, int]) -> BlobLocation:
        pack_no, offset, length, raw_length = value
        return BlobLocation(
            pack_id=self._packs[pack_no],
            offset=offset,
            length=length,
            raw_length=raw_length,
            epoch=self._pack_epochs[pack_no],
            sender=self._senders.get(pack_no, b""),
        )

    def description(self, pack_id: ObjectId) -> tuple[bytes, int] | None:
        """(sender, epoch) recorded for a pack (an empty sender: a full key's pack); None if
        the pack is not recorded (or ``drop_packs`` forgot it). Readers of index files keep a
        pack's descriptions only while they agree with it (repository/senderdisputes.py)."""
        with self._lock:
            pack_no = self._pack_no.get(pack_id)
            if pack_no is None or pack_no in self._dropped:
                return None
            return self._senders.get(pack_no, b""), self._pack_epochs[pack_no]

    def sender(self, pack_id: ObjectId) -> bytes:
        """The sender of a pack a put-only writer sealed (design.md §6a); empty for others."""
        pack_no = self._pack_no.get(pack_id)
        return b"" if pack_no is None else self._senders.get(pack_no, b"")

    def drop_blob(self, btype: BlobType, bid: bytes) -> None:
        """Forget every location of one blob found unreadable, so that a writer stores it
        again instead of deduplicating against a damaged copy (in memory only)."""
        with self._lock:
            table = self._tables[btype]
            table.compact()
            b = _bucket(bid)
            records = list(RECORD.iter_unpack(table.buckets[b]))
            kept = [r for r in records if r[0] != bid]
            if len(kept) != len(records):
                table.buckets[b] = b"".join(RECORD.pack(*r) for r in kept)
                table.count -= len(records) - len(kept)
                table.copies -= len(records) - len(kept) - 1

    def drop_packs(self, pack_ids: set[ObjectId]) -> set[tuple[BlobType, ObjectId]]:
        """Forget the blobs of packs known to be gone from the store, so that readers use
        another copy and writers store such a blob again. Returns the blobs left without any
        location. Costs a pass over the whole index: for rare repairs only."""
        with self._lock:
            numbers = {self._pack_no[p] for p in pack_ids if p in self._pack_no}
            if not numbers:
                return set()
            self._dropped |= numbers
            return {
                (btype, ObjectId(bid))
                for btype, table in self._tables.items()
                for bid in table.drop_packs(numbers)
            }

    def reserve(self, btype: BlobType, bid: bytes) -> bool:
        """Claim a blob for storing: True if it is neither stored (in a pack a full key
        sealed: ``_stored_for_writers``) nor already in flight."""
        if self._stored_for_writers(btype, bid):
            return False
        with self._lock:
            pending = self._pending[btype]
            if bid in pending or self._stored_for_writers(btype, bid):
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
        sender: bytes = b"",
    ) -> None:
        """Record an uploaded pack and its blobs; clears their in-flight reservations.
        ``sender``: a put-only writer's pack's (design.md §6a). A pack recorded already keeps
        its size, epoch and sender (its blobs are added to it), unless ``drop_packs`` forgot
        it: then this description replaces the old one."""
        with self._lock:
            pack_no = self._pack_no.get(pack_id)
            if pack_no is None:
                pack_no = len(self._packs)
                self._packs.append(pack_id)
                self._pack_sizes.append(size)
                self._pack_epochs.append(epoch)
                self._pack_no[pack_id] = pack_no
            elif pack_no in self._dropped:  # stored again, or described anew
                self._pack_sizes[pack_no] = size
                self._pack_epochs[pack_no] = epoch
                self._senders.pop(pack_no, None)
            else:
                sender = self._senders.get(pack_no, b"")
            if sender:
                self._senders[pack_no] = sender
            self._dropped.discard(pack_no)
            for btype, bid, offset, length, raw_length in entries:
                self._tables[btype].add(bid, (pack_no, offset, length, raw_length))
                self._pending[btype].discard(bid)
            for table in self._tables.values():
                if len(table.new) + len(table.new_copies) >= COMPACT_AT:
                    table.compact()

    def add_indexed_pack(self, pack: IndexedPack) -> None:
        """Record a pack as an index file or deletion record describes it."""
        self.add_pack(
            pack.id,
            pack.size,
            [(e.type, e.id, e.offset, e.length, e.raw_length) for e in pack.entries],
            pack.epoch,
            pack.sender,
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
                        sender=self._senders.get(pack_no, b""),
                    ),
                )

    def pack_entries(self, pack_ids: Iterable[ObjectId]) -> dict[ObjectId, list[PackEntry]]:
        """The entries of these packs (by offset), gathered in one pass over the whole index:
        what a pack holds, for callers that keep no per-blob record of their own beside the
        index (verify's read-back asks for a batch of packs at a time). A pack the index does
        not know is absent from the answer."""
        with self._lock:
            for table in self._tables.values():
                table.compact()
            wanted = {self._pack_no[p]: p for p in pack_ids if p in self._pack_no}
            tables = [(t, list(table.buckets)) for t, table in self._tables.items()]
        found: dict[ObjectId, list[PackEntry]] = {p: [] for p in wanted.values()}
        for btype, buckets in tables:
            for bucket in buckets:
                for bid, pack_no, offset, length, raw_length in RECORD.iter_unpack(bucket):
                    pack_id = wanted.get(pack_no)
                    if pack_id is not None:
                        entry = PackEntry(
                            type=btype,
                            id=ObjectId(bid),
                            offset=offset,
                            length=length,
                            raw_length=raw_length,
                        )
                        found[pack_id].append(entry)
        for entries in found.values():
            entries.sort(key=lambda e: e.offset)
        return found

    def described_packs(self, pack_ids: Iterable[ObjectId]) -> list[IndexedPack]:
        """These packs as recorded (size, epoch, sender, entries by offset), in one pass over
        the whole index (``pack_entries``): what a reader compares a further description of
        a pack with (repository/senderdisputes.py). Packs not recorded are left out."""
        with self._lock:
            known = {
                p: self._pack_no[p]
                for p in pack_ids
                if p in self._pack_no and self._pack_no[p] not in self._dropped
            }
        entries = self.pack_entries(known)
        return [
            IndexedPack(
                id=p,
                size=self._pack_sizes[no],
                epoch=self._pack_epochs[no],
                entries=tuple(entries.get(p, ())),
                sender=self._senders.get(no, b""),
            )
            for p, no in known.items()
        ]

    # Serialisation for the local cache -----------------------------------------------------
    # Image: pack count (u32) | pack ids | pack sizes (u64 each) | pack epochs (u16 each) |
    #        per blob type: records per bucket (u32 × 2^16) | the buckets' records in order |
    #        how many of those records are further copies of a blob (u32) |
    #        [put-only packs (u32) | per pack: pack number (u32) | sender (64)] (absent in
    #        images written before put-only keys: none).
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
            copies = {t: self._tables[t].copies for t in (BlobType.DATA, BlobType.TREE)}
            senders = sorted(self._senders.items())
        yield struct.pack("<I", len(packs))
        yield b"".join(packs)
        yield sizes.tobytes()
        yield epochs.tobytes()
        for btype in (BlobType.DATA, BlobType.TREE):
            yield _bucket_counts(buckets[btype]).tobytes()
            yield from filter(None, buckets[btype])
            yield struct.pack("<I", copies[btype])
        if senders:
            yield struct.pack("<I", len(senders))
            yield b"".join(struct.pack("<I", no) + sender for no, sender in senders)

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
            for b in compress(range(NBUCKETS), counts):  # the buckets that hold records
                table.buckets[b] = exact(counts[b] * REC)
                table.count += counts[b]
            (table.copies,) = struct.unpack("<I", exact(4))
        more = read(4)
        if more:
            (count,) = struct.unpack("<I", more)
            for _ in range(count):
                piece = exact(4 + SENDER_SIZE)
                (pack_no,) = struct.unpack("<I", piece[:4])
                if pack_no >= npacks:
                    raise ValueError("index image: a sender of an unknown pack")
                index._senders[pack_no] = piece[4:]
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
            pos += len(piece)
            return piece

        index = cls.load_from(read)
        if pos != len(data):
            raise ValueError("index image has trailing bytes")
        return index
