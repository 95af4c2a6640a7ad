"""The dedup view of an index file (design.md §6a): what a put-only host may know of the
repository's blobs to deduplicate against them, and no more: for each pack its id, its size
and the (type, id) of each blob, with no offset, length or raw length.

Plaintext, little-endian:

    "S3VV" | version (u8) = 1 | supersedes count (u32) | ids (32 each) |
    pack count (u32) | per pack: pack id (32) | pack size (u64) | blob count (u32) |
                                 per blob: type (u8: 1 data, 2 tree) | blob id (32)
"""

from __future__ import annotations

import struct
from collections.abc import Collection
from dataclasses import dataclass

from s3vault.errors import FormatVersionError, IntegrityError
from s3vault.format.indexfile import decode_raw
from s3vault.format.packfile import BLOB_TYPE_CODES, BLOB_TYPES_BY_CODE, ENTRY, BlobType
from s3vault.ids import ObjectId

MAGIC = b"S3VV"
VERSION = 1
_HEAD = struct.Struct("<4sBI")
_U32 = struct.Struct("<I")
_PACK = struct.Struct("<32sQI")
_BLOB = struct.Struct("<B32s")


@dataclass(frozen=True, slots=True, kw_only=True)
class ViewPack:
    """One pack as the dedup view shows it."""

    id: ObjectId
    size: int
    blobs: tuple[tuple[BlobType, ObjectId], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DedupView:
    """The packs an index file names, as a put-only host may see them, and the index files
    whose views this one replaces."""

    packs: tuple[ViewPack, ...]
    supersedes: tuple[ObjectId, ...] = ()

    def encode(self) -> bytes:
        """The plaintext bytes."""
        out = [_HEAD.pack(MAGIC, VERSION, len(self.supersedes))]
        out += [bytes(i) for i in self.supersedes]
        out.append(_U32.pack(len(self.packs)))
        for pack in self.packs:
            out.append(_PACK.pack(bytes(pack.id), pack.size, len(pack.blobs)))
            out += [_BLOB.pack(BLOB_TYPE_CODES[t], bytes(bid)) for t, bid in pack.blobs]
        return b"".join(out)

    @classmethod
    def decode(cls, data: bytes) -> DedupView:
        """Parse.

        Raises:
            IntegrityError: malformed.
            FormatVersionError: a newer view version.
        """
        try:
            return _decode(memoryview(data))
        except (struct.error, ValueError, KeyError):
            msg = "dedup view: malformed"
            raise IntegrityError(msg) from None


def _decode(data: memoryview) -> DedupView:
    magic, version, count = _HEAD.unpack_from(data)
    if magic != MAGIC:
        msg = "dedup view: bad magic"
        raise IntegrityError(msg)
    if version != VERSION:
        msg = f"dedup view has version {version}, this s3vault reads {VERSION}: upgrade s3vault"
        raise FormatVersionError(msg)
    at = _HEAD.size
    if count * 32 > len(data) - at:
        raise ValueError(count)
    supersedes = tuple(ObjectId(bytes(data[at + 32 * i : at + 32 * i + 32])) for i in range(count))
    at += 32 * count
    (npacks,) = _U32.unpack_from(data, at)
    at += _U32.size
    packs = []
    for _ in range(npacks):
        pid, size, nblobs = _PACK.unpack_from(data, at)
        at += _PACK.size
        if nblobs * _BLOB.size > len(data) - at:
            raise ValueError(nblobs)
        blobs = []
        for _ in range(nblobs):
            btype, bid = _BLOB.unpack_from(data, at)
            at += _BLOB.size
            blobs.append((BLOB_TYPES_BY_CODE[btype], ObjectId(bid)))
        packs.append(ViewPack(id=ObjectId(pid), size=size, blobs=tuple(blobs)))
    if at != len(data):
        msg = "dedup view: trailing bytes"
        raise IntegrityError(msg)
    return DedupView(packs=tuple(packs), supersedes=supersedes)


def view_of_index(plaintext: bytes, proven: Collection[ObjectId] = ()) -> DedupView:
    """The endorsed dedup view of an index file (its plaintext, format/indexfile.py): each
    pack's id, size and (type, id) of its blobs; the index files it supersedes. Packs a
    put-only writer sealed (a sender) are left out unless ``proven`` names them: a full key
    endorses them only once a read-back proved every blob (design.md §6a, dedup poisoning;
    maintenance/endorse.py).

    Raises:
        IntegrityError: a malformed index file.
        FormatVersionError: a newer index version.
    """

    packs, supersedes = decode_raw(plaintext)
    return DedupView(
        packs=tuple(
            ViewPack(
                id=p.id,
                size=p.size,
                blobs=tuple(
                    (BLOB_TYPES_BY_CODE[code], ObjectId(bid))
                    for code, bid, _o, _l, _r in ENTRY.iter_unpack(p.raw)
                ),
            )
            for p in packs
            if not p.sender or p.id in proven
        ),
        supersedes=supersedes,
    )
