"""Index format (design.md §5): which blobs live where.

Plaintext (then compressed and sealed as a standalone file):

    magic "S3VI" | version (u8) = 1
    supersedes count (u32) | count × index id (32)
    pack count (u32) | per pack: pack id (32) | pack size (u64) | key epoch (u16)
                       | entry count (u32) | entries

Entries use the pack header's fixed-size entry encoding. An index file never changes; a newer
one may name older ones in ``supersedes`` (prune and repair do), after which readers ignore them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from s3vault.errors import FormatVersionError, IntegrityError
from s3vault.format.packfile import ENTRY, PackEntry, decode_entries, encode_entry
from s3vault.ids import ID_SIZE, ObjectId

MAGIC = b"S3VI"
INDEX_VERSION = 1
_U32 = struct.Struct("<I")
_PACK = struct.Struct("<32sQHI")


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexedPack:
    """One pack and the blobs in it."""

    id: ObjectId
    size: int
    epoch: int = 1
    entries: tuple[PackEntry, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexFile:
    """A set of packs, plus the index files this one replaces."""

    packs: tuple[IndexedPack, ...] = ()
    supersedes: tuple[ObjectId, ...] = ()

    def encode(self) -> bytes:
        """Plaintext bytes."""
        parts = [MAGIC, bytes([INDEX_VERSION]), _U32.pack(len(self.supersedes))]
        parts.extend(self.supersedes)
        parts.append(_U32.pack(len(self.packs)))
        for pack in self.packs:
            parts.append(_PACK.pack(pack.id, pack.size, pack.epoch, len(pack.entries)))
            parts.extend(encode_entry(e) for e in pack.entries)
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> IndexFile:
        """Parse plaintext bytes.

        Raises:
            IntegrityError: malformed.
            FormatVersionError: a newer index version.
        """
        what = "index file"
        if data[:4] != MAGIC or len(data) < 9:
            msg = f"{what}: bad magic"
            raise IntegrityError(msg)
        if data[4] != INDEX_VERSION:
            msg = f"{what}: version {data[4]} is newer than this s3vault understands"
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
                entries = decode_entries(data, pos, count, what)
                pos += count * ENTRY.size
                packs.append(
                    IndexedPack(id=ObjectId(raw_id), size=size, epoch=epoch, entries=tuple(entries))
                )
        except (struct.error, ValueError):
            msg = f"{what}: truncated"
            raise IntegrityError(msg) from None
        if pos != len(data):
            msg = f"{what}: trailing bytes"
            raise IntegrityError(msg)
        return cls(packs=tuple(packs), supersedes=sup)
