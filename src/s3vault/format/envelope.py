"""Sealed-object envelope (design.md §3): the 32-byte plaintext header in front of every
encrypted standalone object (config, index, snapshot, lock, pack header).

Blobs inside packs carry no plaintext header (a recognisable marker would let anyone who can
read a pack find blob boundaries, i.e. chunk sizes): a blob is ``nonce (24) | ciphertext | tag``
and its version, kind, algorithm and epoch enter the associated data through ``blob_aad``.

    magic "S3V" (3) | version (1) | kind (1) | alg (1) | key epoch (2, big-endian) | nonce (24)

followed by the XAES-256-GCM ciphertext and its 16-byte tag. The header is authenticated as part
of the associated data, together with the repository id and a kind-specific binding (the blob id
for blobs), so a ciphertext cannot be moved to another id, kind or repository.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from s3vault.errors import FormatVersionError, IntegrityError

MAGIC = b"S3V"
ENVELOPE_VERSION = 1
ALG_XAES256GCM = 1
NONCE_SIZE = 24
TAG_SIZE = 16
_STRUCT = struct.Struct(">3sBBBH24s")
HEADER_SIZE = _STRUCT.size  # 32
OVERHEAD = HEADER_SIZE + TAG_SIZE
BLOB_OVERHEAD = NONCE_SIZE + TAG_SIZE


class SealedKind(IntEnum):
    """What a sealed object is; bound into its associated data."""

    DATA_BLOB = 1
    TREE_BLOB = 2
    PACK_HEADER = 3
    CONFIG = 4
    INDEX = 5
    SNAPSHOT = 6
    LOCK = 7
    CACHE = 8
    DRILL = 9
    DELETION = 10
    AUDIT = 11
    LEDGER = 12


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvelopeHeader:
    """The plaintext header of a sealed object."""

    kind: SealedKind
    epoch: int
    nonce: bytes
    alg: int = ALG_XAES256GCM
    version: int = ENVELOPE_VERSION

    def encode(self) -> bytes:
        """The 32 header bytes."""
        return _STRUCT.pack(MAGIC, self.version, self.kind, self.alg, self.epoch, self.nonce)

    @classmethod
    def decode(cls, data: bytes | memoryview) -> EnvelopeHeader:
        """Parse the first 32 bytes of a sealed object.

        Raises:
            IntegrityError: too short, wrong magic, unknown kind.
            FormatVersionError: a newer envelope version or algorithm.
        """
        if len(data) < OVERHEAD:
            msg = "sealed object too short"
            raise IntegrityError(msg)
        magic, version, kind, alg, epoch, nonce = _STRUCT.unpack_from(data)
        if magic != MAGIC:
            msg = "not an s3vault object (bad magic)"
            raise IntegrityError(msg)
        if version != ENVELOPE_VERSION or alg != ALG_XAES256GCM:
            msg = f"unsupported envelope version {version} / algorithm {alg}"
            raise FormatVersionError(msg)
        try:
            skind = SealedKind(kind)
        except ValueError:
            msg = f"unknown sealed object kind {kind}"
            raise IntegrityError(msg) from None
        return cls(kind=skind, epoch=epoch, nonce=bytes(nonce), alg=alg, version=version)


def blob_aad(kind: SealedKind, epoch: int) -> bytes:
    """The header fields a blob does not store, as the start of its associated data."""
    return _STRUCT.pack(MAGIC, ENVELOPE_VERSION, kind, ALG_XAES256GCM, epoch, b"")[:8]
