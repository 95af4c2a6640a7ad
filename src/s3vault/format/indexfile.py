"""Index format (design.md §5): which blobs live where.

Plaintext (then compressed and sealed as a standalone file):

    magic "S3VI" | version (u8) = 1 or 2
    supersedes count (u32) | count × index id (32)
    pack count (u32) | per pack: pack id (32) | pack size (u64) | key epoch (u16)
                       | entry count (u32) | [version 2: sender length (u8) | sender] | entries

Version 2 (design.md §6a) adds each pack's ``sender``: empty, or the 64 bytes (ephemeral public
key, masked writer) a put-only writer sealed the pack with, which a full key needs to open its
blobs. An index file whose packs have no sender is written as version 1, byte for byte as before.

Entries use the pack header's fixed-size entry encoding. An index file never changes; a newer
one may name older ones in ``supersedes`` (prune and repair do), after which readers ignore them.
``decode_raw``/``encode_raw`` read and write the same bytes with each pack's entries left
encoded (RawPack), for maintenance on 10^7 blobs.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from s3vault.errors import FormatVersionError, IntegrityError
from s3vault.format.packfile import (
    BLOB_TYPES_BY_CODE,
    ENTRY,
    PackEntry,
    decode_entries,
    encode_entry,
)
from s3vault.ids import ID_SIZE, ObjectId

MAGIC = b"S3VI"
INDEX_VERSION = 1
SENDER_VERSION = 2  # packs may carry a put-only writer's sender (design.md §6a)
SENDER_SIZE = 64
_U32 = struct.Struct("<I")
_PACK = struct.Struct("<32sQHI")


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexedPack:
    """One pack and the blobs in it."""

    id: ObjectId
    size: int
    epoch: int = 1
    entries: tuple[PackEntry, ...]
    sender: bytes = b""  # a put-only writer's pack: epk | masked writer (design.md §6a)

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        """Pickled (a backup worker sends each pack it stored to its parent process) with
        the entries in their index encoding: a dataclass per entry took 3.5 times as long to
        pickle and unpickle, and the unpickling runs on the parent's one thread."""
        entries = b"".join(map(encode_entry, self.entries))
        return (_unpickled_pack, (self.id, self.size, self.epoch, entries, self.sender))


def _unpickled_pack(
    pid: ObjectId, size: int, epoch: int, entries: bytes, sender: bytes
) -> IndexedPack:
    count = len(entries) // ENTRY.size
    decoded = tuple(decode_entries(entries, 0, count, f"pack {pid.short} from a worker"))
    return IndexedPack(id=pid, size=size, epoch=epoch, entries=decoded, sender=sender)


@dataclass(frozen=True, slots=True, kw_only=True)
class RawPack:
    """One pack of an index file with its entries left encoded (count × ``ENTRY``, blob types
    checked): for readers that keep 10^7 entries compact (repository/compactpack.py)."""

    id: ObjectId
    size: int
    epoch: int
    raw: bytes
    sender: bytes = b""


def encode_raw(packs: Iterable[RawPack], supersedes: tuple[ObjectId, ...]) -> bytes:
    """The plaintext of an index file whose entries are already encoded."""
    packs = list(packs)
    version = SENDER_VERSION if any(p.sender for p in packs) else INDEX_VERSION
    parts = [MAGIC, bytes([version]), _U32.pack(len(supersedes)), *supersedes]
    parts.append(_U32.pack(len(packs)))
    for pack in packs:
        if pack.sender and len(pack.sender) != SENDER_SIZE:
            msg = f"a pack's sender has {SENDER_SIZE} bytes"
            raise ValueError(msg)
        parts.append(_PACK.pack(pack.id, pack.size, pack.epoch, len(pack.raw) // ENTRY.size))
        if version == SENDER_VERSION:
            parts += [bytes([len(pack.sender)]), pack.sender]
        parts.append(pack.raw)
    return b"".join(parts)


def decode_raw(data: bytes) -> tuple[list[RawPack], tuple[ObjectId, ...]]:
    """Parse plaintext bytes into packs with encoded entries, and the ids superseded.

    Raises:
        IntegrityError: malformed (an unknown blob type included).
        FormatVersionError: a newer index version.
    """
    what = "index file"
    if data[:4] != MAGIC or len(data) < 9:
        msg = f"{what}: bad magic"
        raise IntegrityError(msg)
    version = data[4]
    if version not in (INDEX_VERSION, SENDER_VERSION):
        msg = f"{what}: version {version} is newer than this s3vault understands"
        raise FormatVersionError(msg)
    pos = 5
    try:
        (n_sup,) = _U32.unpack_from(data, pos)
        pos += 4
        sup = tuple(
            ObjectId(data[pos + i * ID_SIZE : pos + (i + 1) * ID_SIZE]) for i in range(n_sup)
        )
        pos += n_sup * ID_SIZE
        (n_packs,) = _U32.unpack_from(data, pos)
        pos += 4
        packs = []
        for _ in range(n_packs):
            raw_id, size, epoch, count = _PACK.unpack_from(data, pos)
            pos += _PACK.size
            sender = b""
            if version == SENDER_VERSION:
                sender = data[pos + 1 : pos + 1 + data[pos]]
                if len(sender) not in (0, SENDER_SIZE) or data[pos] != len(sender):
                    msg = f"{what}: bad sender"
                    raise IntegrityError(msg)
                pos += 1 + len(sender)
            raw = data[pos : pos + count * ENTRY.size]
            if len(raw) != count * ENTRY.size:
                msg = f"{what}: truncated entry list"
                raise IntegrityError(msg)
            unknown = set(raw[:: ENTRY.size]) - set(BLOB_TYPES_BY_CODE)
            if unknown:
                msg = f"{what}: unknown blob type {min(unknown)}"
                raise IntegrityError(msg)
            pos += len(raw)
            packs.append(
                RawPack(id=ObjectId(raw_id), size=size, epoch=epoch, raw=raw, sender=sender)
            )
    except (struct.error, ValueError, IndexError):
        msg = f"{what}: truncated"
        raise IntegrityError(msg) from None
    if pos != len(data):
        msg = f"{what}: trailing bytes"
        raise IntegrityError(msg)
    return packs, sup


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexFile:
    """A set of packs, plus the index files this one replaces."""

    packs: tuple[IndexedPack, ...] = ()
    supersedes: tuple[ObjectId, ...] = ()

    def encode(self) -> bytes:
        """Plaintext bytes."""
        return encode_raw(
            (
                RawPack(
                    id=p.id,
                    size=p.size,
                    epoch=p.epoch,
                    raw=b"".join(map(encode_entry, p.entries)),
                    sender=p.sender,
                )
                for p in self.packs
            ),
            self.supersedes,
        )

    @classmethod
    def decode(cls, data: bytes) -> IndexFile:
        """Parse plaintext bytes.

        Raises:
            IntegrityError: malformed.
            FormatVersionError: a newer index version.
        """
        raw_packs, sup = decode_raw(data)
        packs = tuple(
            IndexedPack(
                id=p.id,
                size=p.size,
                epoch=p.epoch,
                entries=tuple(decode_entries(p.raw, 0, len(p.raw) // ENTRY.size, "index file")),
                sender=p.sender,
            )
            for p in raw_packs
        )
        return cls(packs=packs, supersedes=sup)
