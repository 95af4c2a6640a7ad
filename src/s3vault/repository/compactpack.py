"""CompactPack: an indexed pack whose blob entries stay in the format's own 45-byte encoding.

An IndexedPack decoded from an index file holds a PackEntry, an ObjectId and three ints per
blob: about 200 bytes. Maintenance (prune, verify) keeps every pack of the repository for the
whole run, so on a repository of 10^7 blobs that alone would be 2 GB. A CompactPack keeps the
entries as the bytes the index file stored them in (``ENTRY``: type, id, offset, length, raw
length; 45 bytes per blob) and decodes them only when asked: ``entries`` for one pack at a
time, ``blobs()`` for the (type, id, length) triples a reachability pass needs, ``full()`` for
the IndexedPack an index file or a deletion record is written from. ``facts()`` drops the
entries, for a caller whose BlobIndex holds them already (verify: ``BlobIndex.pack_entries``
gives them back a batch of packs at a time).

``compact_index_file`` parses an index file straight into compact packs and ``encode_compact``
writes one from them, so reading and writing every index file of a repository never builds a
PackEntry per blob.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from s3vault.format.indexfile import IndexedPack, RawPack, decode_raw, encode_raw
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import (
    BLOB_TYPE_CODES,
    BLOB_TYPES_BY_CODE,
    ENTRY,
    BlobType,
    PackEntry,
    decode_entries,
    encode_entry,
)
from s3vault.ids import ObjectId

_TREE_CODE = BLOB_TYPE_CODES[BlobType.TREE]


class SpillFile:
    """An unnamed temporary file holding packs' encoded entries for one operation, so that
    they cost disk (and page cache) instead of resident memory: prune on 10^7 blobs keeps
    every pack's entries for the whole run (450 MB). Appended to while index files are read,
    then read by offset (``pread``: no shared file position, safe from any thread). The file
    goes when the last pack that refers to it does."""

    __slots__ = ("_file", "_lock", "_size")

    def __init__(self, directory: Path | None = None) -> None:
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - lives with the packs
        self._size = 0
        self._lock = threading.Lock()

    def put(self, data: bytes) -> Spilled:
        """Store bytes; returns where they are."""
        with self._lock:
            at = self._size
            self._file.write(data)
            self._size += len(data)
        return Spilled(file=self, at=at, length=len(data))

    def get(self, at: int, length: int) -> bytes:
        """Bytes stored by ``put``.

        Raises:
            OSError: the temporary file could not be read.
        """
        with self._lock:
            self._file.flush()
        return os.pread(self._file.fileno(), length, at) if length else b""


@dataclass(frozen=True, slots=True)
class Spilled:
    """Where a pack's entries are in a SpillFile."""

    file: SpillFile
    at: int
    length: int


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class CompactPack:
    """One pack and its blob entries, kept encoded, in memory or in a SpillFile (see the module
    docstring). Equal when id, size, epoch and entries are."""

    id: ObjectId
    size: int
    epoch: int = 1
    encoded: bytes | Spilled  # count × ENTRY, as in the index file
    sender: bytes = b""  # a put-only writer's pack (design.md §6a)

    @classmethod
    def of(cls, pack: IndexedPack) -> CompactPack:
        """The compact form of a decoded pack (in memory)."""
        raw = b"".join(encode_entry(e) for e in pack.entries)
        return cls(id=pack.id, size=pack.size, epoch=pack.epoch, encoded=raw, sender=pack.sender)

    @property
    def raw(self) -> bytes:
        """The encoded entries (count × ENTRY)."""
        held = self.encoded
        return held if isinstance(held, bytes) else held.file.get(held.at, held.length)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactPack):
            return NotImplemented
        mine = (self.id, self.size, self.epoch, self.sender)
        theirs = (other.id, other.size, other.epoch, other.sender)
        return mine == theirs and self.raw == other.raw

    __hash__ = None  # type: ignore[assignment]  # compared by content, never hashed

    def __len__(self) -> int:
        held = self.encoded
        return (len(held) if isinstance(held, bytes) else held.length) // ENTRY.size

    @property
    def entries(self) -> tuple[PackEntry, ...]:
        """The entries, decoded (already checked when the index file was read)."""
        raw = self.raw
        return tuple(decode_entries(raw, 0, len(raw) // ENTRY.size, "pack entries"))

    def blobs(self) -> Iterator[tuple[BlobType, ObjectId, int]]:
        """(type, id, sealed length) of every entry, without building PackEntry records."""
        for code, bid, _offset, length, _raw in ENTRY.iter_unpack(self.raw):
            yield BLOB_TYPES_BY_CODE[code], ObjectId(bid), length

    def index_entries(self) -> list[tuple[BlobType, bytes, int, int, int]]:
        """The entries as BlobIndex.add_pack takes them."""
        return [
            (BLOB_TYPES_BY_CODE[code], bid, offset, length, raw_length)
            for code, bid, offset, length, raw_length in ENTRY.iter_unpack(self.raw)
        ]

    @property
    def kind(self) -> ObjectKind:
        """Where the pack is stored: ``tree/`` or ``data/`` by its blobs' type."""
        held = self.encoded
        first = (
            held[:1] if isinstance(held, bytes) else held.file.get(held.at, 1 if held.length else 0)
        )
        tree = first == bytes([_TREE_CODE])
        return ObjectKind.TREE if tree else ObjectKind.DATA

    @property
    def name(self) -> str:
        """The pack's object name."""
        return object_name(self.kind, self.id)

    def facts(self) -> PackFacts:
        """The pack without its entries."""
        return PackFacts(id=self.id, size=self.size, epoch=self.epoch, kind=self.kind)

    def full(self) -> IndexedPack:
        """The IndexedPack this stands for (to write an index file or a deletion record)."""
        return IndexedPack(
            id=self.id, size=self.size, epoch=self.epoch, entries=self.entries, sender=self.sender
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PackFacts:
    """A pack without its entries, for a caller whose BlobIndex holds them (verify)."""

    id: ObjectId
    size: int
    epoch: int
    kind: ObjectKind

    @property
    def name(self) -> str:
        """The pack's object name."""
        return object_name(self.kind, self.id)


@dataclass(frozen=True, slots=True, kw_only=True)
class CompactIndexFile:
    """An index file whose packs are compact (what ``supersede.live`` needs, and the packs)."""

    packs: tuple[CompactPack, ...] = ()
    supersedes: tuple[ObjectId, ...] = ()


def compact_index_file(plaintext: bytes, spill: SpillFile | None = None) -> CompactIndexFile:
    """Parse an index file's plaintext straight into compact packs (no PackEntry is made),
    their entries kept in ``spill`` if given, else in memory.

    Raises:
        IntegrityError: malformed.
        FormatVersionError: a newer index version.
    """
    packs, supersedes = decode_raw(plaintext)
    return CompactIndexFile(
        packs=tuple(
            CompactPack(
                id=p.id,
                size=p.size,
                epoch=p.epoch,
                encoded=p.raw if spill is None else spill.put(p.raw),
                sender=p.sender,
            )
            for p in packs
        ),
        supersedes=supersedes,
    )


def encode_compact(packs: list[CompactPack], supersedes: tuple[ObjectId, ...]) -> bytes:
    """The plaintext of an index file of compact packs (no PackEntry is made)."""
    return encode_raw(
        (RawPack(id=p.id, size=p.size, epoch=p.epoch, raw=p.raw, sender=p.sender) for p in packs),
        supersedes,
    )
