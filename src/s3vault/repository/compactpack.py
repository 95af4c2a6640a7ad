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

from collections.abc import Iterator
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True, kw_only=True)
class CompactPack:
    """One pack and its blob entries, kept encoded (see the module docstring)."""

    id: ObjectId
    size: int
    epoch: int = 1
    raw: bytes  # count × ENTRY, as in the index file

    @classmethod
    def of(cls, pack: IndexedPack) -> CompactPack:
        """The compact form of a decoded pack."""
        raw = b"".join(encode_entry(e) for e in pack.entries)
        return cls(id=pack.id, size=pack.size, epoch=pack.epoch, raw=raw)

    def __len__(self) -> int:
        return len(self.raw) // ENTRY.size

    @property
    def entries(self) -> tuple[PackEntry, ...]:
        """The entries, decoded (already checked when the index file was read)."""
        return tuple(decode_entries(self.raw, 0, len(self), "pack entries"))

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
        tree = bool(self.raw) and self.raw[0] == _TREE_CODE
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
        return IndexedPack(id=self.id, size=self.size, epoch=self.epoch, entries=self.entries)


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


def compact_index_file(plaintext: bytes) -> CompactIndexFile:
    """Parse an index file's plaintext straight into compact packs (no PackEntry is made).

    Raises:
        IntegrityError: malformed.
        FormatVersionError: a newer index version.
    """
    packs, supersedes = decode_raw(plaintext)
    return CompactIndexFile(
        packs=tuple(CompactPack(id=p.id, size=p.size, epoch=p.epoch, raw=p.raw) for p in packs),
        supersedes=supersedes,
    )


def encode_compact(packs: list[CompactPack], supersedes: tuple[ObjectId, ...]) -> bytes:
    """The plaintext of an index file of compact packs (no PackEntry is made)."""
    return encode_raw(
        (RawPack(id=p.id, size=p.size, epoch=p.epoch, raw=p.raw) for p in packs), supersedes
    )
