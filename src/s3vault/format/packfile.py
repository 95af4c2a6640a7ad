"""Pack format (design.md §4).

    pack = blob_1 | blob_2 | … | blob_n | sealed header | header length (u32, little-endian)

Each blob is a sealed envelope (its own header, ciphertext, tag). The header plaintext lists every
blob, so the index can be rebuilt from packs alone:

    version (u8) = 1 | count (u32) | count × entry
    entry = type (u8: 1 data, 2 tree) | blob id (32) | offset (u32) | length (u32)
            | raw length (u32)

All integers little-endian. ``length`` is the sealed length in the pack, ``raw_length`` the
plaintext length. Blobs of one pack are all of one type (data and tree blobs never share a pack).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import StrEnum

from s3vault.errors import FormatVersionError, IntegrityError
from s3vault.ids import ObjectId


class BlobType(StrEnum):
    """A blob is file content (data) or a directory listing (tree)."""

    DATA = "data"
    TREE = "tree"


BLOB_TYPE_CODES = {BlobType.DATA: 1, BlobType.TREE: 2}
BLOB_TYPES_BY_CODE = {v: k for k, v in BLOB_TYPE_CODES.items()}

PACK_HEADER_VERSION = 1
_HEAD = struct.Struct("<BI")
ENTRY = struct.Struct("<B32sIII")
TRAILER = struct.Struct("<I")


@dataclass(frozen=True, slots=True, kw_only=True)
class PackEntry:
    """Where one blob sits in a pack."""

    type: BlobType
    id: ObjectId
    offset: int
    length: int
    raw_length: int


def encode_entry(entry: PackEntry) -> bytes:
    """One fixed-size entry (shared with the index format)."""
    return ENTRY.pack(
        BLOB_TYPE_CODES[entry.type], entry.id, entry.offset, entry.length, entry.raw_length
    )


def decode_entries(data: bytes | memoryview, offset: int, count: int, what: str) -> list[PackEntry]:
    """Decode ``count`` entries starting at ``offset``.

    Raises:
        IntegrityError: truncated data or an unknown blob type.
    """
    if offset + count * ENTRY.size > len(data):
        msg = f"{what}: truncated entry list"
        raise IntegrityError(msg)
    out = []
    for code, raw_id, off, length, raw_length in ENTRY.iter_unpack(
        data[offset : offset + count * ENTRY.size]
    ):
        btype = BLOB_TYPES_BY_CODE.get(code)
        if btype is None:
            msg = f"{what}: unknown blob type {code}"
            raise IntegrityError(msg)
        out.append(
            PackEntry(
                type=btype, id=ObjectId(raw_id), offset=off, length=length, raw_length=raw_length
            )
        )
    return out


def encode_header(entries: list[PackEntry]) -> bytes:
    """The plaintext pack header."""
    return _HEAD.pack(PACK_HEADER_VERSION, len(entries)) + b"".join(map(encode_entry, entries))


def decode_header(data: bytes) -> list[PackEntry]:
    """Parse a plaintext pack header.

    Raises:
        IntegrityError: malformed.
        FormatVersionError: newer header version.
    """
    if len(data) < _HEAD.size:
        msg = "pack header too short"
        raise IntegrityError(msg)
    version, count = _HEAD.unpack_from(data)
    if version != PACK_HEADER_VERSION:
        msg = f"pack header version {version} is newer than this s3vault understands"
        raise FormatVersionError(msg)
    if len(data) != _HEAD.size + count * ENTRY.size:
        msg = "pack header length does not match its entry count"
        raise IntegrityError(msg)
    return decode_entries(data, _HEAD.size, count, "pack header")


def split_trailer(pack_tail: bytes | memoryview) -> int:
    """Read the sealed-header length from the last 4 bytes of a pack.

    Raises:
        IntegrityError: the tail is too short.
    """
    if len(pack_tail) < TRAILER.size:
        msg = "pack too short for a trailer"
        raise IntegrityError(msg)
    (length,) = TRAILER.unpack_from(pack_tail, len(pack_tail) - TRAILER.size)
    return int(length)
