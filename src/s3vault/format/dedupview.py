"""The dedup view of an index file (design.md §6a): what a put-only host may know of the
repository's blobs to deduplicate against them, and no more: for each pack its id, its size
and, for each blob, its type and the *view digest* of its id (crypto/hashing.py
``view_digest``, a one-way transform), with no offset, length or raw length. A host tests
"is this content stored?" by computing the id with K_id and then the digest; it recovers no id
it has not computed from content it holds.

Plaintext, little-endian (version 2):

    "S3VV" | version (u8) = 2 | supersedes count (u32) | ids (32 each) |
    pack count (u32) | per pack: pack id (32) | pack size (u64) | blob count (u32) |
                                 per blob: type (u8: 1 data, 2 tree) | view digest (32)

Version 1 (the same layout with raw blob ids) is refused: a view that lists ids lets a
put-only host reference other hosts' blobs (design.md §13); a full key's ``prune`` replaces
such views.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Collection
from dataclasses import dataclass

from s3vault.errors import FormatVersionError, IntegrityError
from s3vault.format.indexfile import decode_raw
from s3vault.format.packfile import BLOB_TYPE_CODES, BLOB_TYPES_BY_CODE, ENTRY, BlobType
from s3vault.ids import ObjectId

MAGIC = b"S3VV"
VERSION = 2
RAW_ID_VERSION = 1  # listed blob ids: no longer read (design.md §6a, "Views of version 1")
DIGEST_SIZE = 32
_HEAD = struct.Struct("<4sBI")
_U32 = struct.Struct("<I")
_PACK = struct.Struct("<32sQI")
_BLOB = struct.Struct("<B32s")

OLD_VIEW = (
    "a dedup view of version 1 (it lists blob ids) is ignored: a full key's `s3vault prune` "
    "rewrites it; until then the blobs it names are stored again"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ViewPack:
    """One pack as the dedup view shows it: ``blobs`` holds (type, view digest of the id)."""

    id: ObjectId
    size: int
    blobs: tuple[tuple[BlobType, bytes], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class DedupView:
    """The packs an index file names, as a put-only host may see them, and the index files
    whose views this one replaces."""

    packs: tuple[ViewPack, ...]
    supersedes: tuple[ObjectId, ...] = ()

    def encode(self) -> bytes:
        """The plaintext bytes.

        Raises:
            ValueError: a digest that is not 32 bytes.
        """
        out = [_HEAD.pack(MAGIC, VERSION, len(self.supersedes))]
        out += [bytes(i) for i in self.supersedes]
        out.append(_U32.pack(len(self.packs)))
        for pack in self.packs:
            out.append(_PACK.pack(bytes(pack.id), pack.size, len(pack.blobs)))
            for t, digest in pack.blobs:
                if len(digest) != DIGEST_SIZE:  # struct would pad or cut it silently
                    msg = f"a view digest has {len(digest)} bytes, not {DIGEST_SIZE}"
                    raise ValueError(msg)
                out.append(_BLOB.pack(BLOB_TYPE_CODES[t], digest))
        return b"".join(out)

    @classmethod
    def decode(cls, data: bytes) -> DedupView:
        """Parse.

        Raises:
            IntegrityError: malformed.
            FormatVersionError: a view of another version (version 1: ``OLD_VIEW``).
        """
        check_version(data)
        try:
            return _decode(memoryview(data))
        except (struct.error, ValueError, KeyError):
            msg = "dedup view: malformed"
            raise IntegrityError(msg) from None


def check_version(data: bytes) -> None:
    """Check the magic and version of a view's plaintext (before anything else is trusted).

    Raises:
        IntegrityError: not a dedup view.
        FormatVersionError: version 1 (``OLD_VIEW``) or a newer one.
    """
    if len(data) < _HEAD.size or data[:4] != MAGIC:
        msg = "dedup view: bad magic"
        raise IntegrityError(msg)
    version = data[4]
    if version == RAW_ID_VERSION:
        raise FormatVersionError(OLD_VIEW)
    if version != VERSION:
        msg = f"dedup view has version {version}, this s3vault reads {VERSION}: upgrade s3vault"
        raise FormatVersionError(msg)


def _decode(data: memoryview) -> DedupView:
    _magic, _version, count = _HEAD.unpack_from(data)
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
            btype, digest = _BLOB.unpack_from(data, at)
            at += _BLOB.size
            blobs.append((BLOB_TYPES_BY_CODE[btype], digest))
        packs.append(ViewPack(id=ObjectId(pid), size=size, blobs=tuple(blobs)))
    if at != len(data):
        msg = "dedup view: trailing bytes"
        raise IntegrityError(msg)
    return DedupView(packs=tuple(packs), supersedes=supersedes)


def view_of_index(
    plaintext: bytes, digest: Callable[[bytes], bytes], proven: Collection[ObjectId] = ()
) -> DedupView:
    """The endorsed dedup view of an index file (its plaintext, format/indexfile.py): each
    pack's id, size and (type, ``digest(id)``) of its blobs; the index files it supersedes.
    ``digest`` is the one-way transform (crypto/hashing.py ``view_digest`` bound to the
    repository id): this package does no crypto. Packs a put-only writer sealed (a sender) are
    left out unless ``proven`` names them: a full key endorses them only once a read-back
    proved every blob (design.md §6a, dedup poisoning; maintenance/endorse.py).

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
                    (BLOB_TYPES_BY_CODE[code], digest(bid))
                    for code, bid, _o, _l, _r in ENTRY.iter_unpack(p.raw)
                ),
            )
            for p in packs
            if not p.sender or p.id in proven
        ),
        supersedes=supersedes,
    )
