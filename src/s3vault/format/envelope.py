"""Sealed-object envelope (design.md §3): the 32-byte plaintext header in front of every
encrypted standalone object (config, index, snapshot, lock, pack header).

Blobs inside packs carry no plaintext header (a recognisable marker would let anyone who can
read a pack find blob boundaries, i.e. chunk sizes): a blob is ``nonce (24) | ciphertext | tag``
and its version, kind, algorithm and epoch enter the associated data through ``blob_aad``.

    magic "S3V" (3) | version (1) | kind (1) | alg (1) | key epoch (2, big-endian) | nonce (24)

followed by the XAES-256-GCM ciphertext and its 16-byte tag. The header is authenticated as part
of the associated data, together with the repository id and a kind-specific binding (the blob id
for blobs), so a ciphertext cannot be moved to another id, kind or repository.

Envelope version 2 (design.md §6a: what a put-only key seals to the repository's public key)
has algorithm 2 and a 96-byte header: version 1's fields, then the writer's ephemeral X25519
public key (32) and its masked key id (32), the *sender*.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from s3vault.errors import FormatVersionError, IntegrityError

MAGIC = b"S3V"
ENVELOPE_VERSION = 1
ALG_XAES256GCM = 1
PUT_ENVELOPE_VERSION = 2
ALG_X25519_PSK_XAES256GCM = 2
SENDER_SIZE = 64
NONCE_SIZE = 24
TAG_SIZE = 16
_STRUCT = struct.Struct(">3sBBBH24s")
HEADER_SIZE = _STRUCT.size  # 32
PUT_HEADER_SIZE = HEADER_SIZE + SENDER_SIZE  # 96
_VERSIONS = {ENVELOPE_VERSION: ALG_XAES256GCM, PUT_ENVELOPE_VERSION: ALG_X25519_PSK_XAES256GCM}
OVERHEAD = HEADER_SIZE + TAG_SIZE
HEAD_READ = PUT_HEADER_SIZE + TAG_SIZE  # bytes that hold any envelope's header (v1 or v2)
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
    INDEX_VIEW = 13
    HOST_STATE = 14


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvelopeHeader:
    """The plaintext header of a sealed object: version 1 (sealed under K_enc), or version 2
    with the ``sender`` (sealed to the repository's public key by a put-only writer)."""

    kind: SealedKind
    epoch: int
    nonce: bytes
    alg: int = ALG_XAES256GCM
    version: int = ENVELOPE_VERSION
    sender: bytes = b""  # version 2: epk (32) | masked writer key id (32)

    @classmethod
    def put(cls, kind: SealedKind, epoch: int, nonce: bytes, sender: bytes) -> EnvelopeHeader:
        """A version 2 header.

        Raises:
            ValueError: ``sender`` is not 64 bytes.
        """
        if len(sender) != SENDER_SIZE:
            msg = f"a sender has {SENDER_SIZE} bytes"
            raise ValueError(msg)
        return cls(
            kind=kind,
            epoch=epoch,
            nonce=nonce,
            alg=ALG_X25519_PSK_XAES256GCM,
            version=PUT_ENVELOPE_VERSION,
            sender=sender,
        )

    @property
    def size(self) -> int:
        """Length of the encoded header: 32 (version 1) or 96 (version 2)."""
        return HEADER_SIZE + len(self.sender)

    def encode(self) -> bytes:
        """The 32 (or 96) header bytes."""
        head = _STRUCT.pack(MAGIC, self.version, self.kind, self.alg, self.epoch, self.nonce)
        return head + self.sender

    @classmethod
    def decode(cls, data: bytes | memoryview) -> EnvelopeHeader:
        """Parse the header at the start of a sealed object.

        Raises:
            IntegrityError: too short, wrong magic, unknown kind.
            FormatVersionError: a newer envelope version or an unknown algorithm.
        """
        if len(data) < OVERHEAD:
            msg = "sealed object too short"
            raise IntegrityError(msg)
        magic, version, kind, alg, epoch, nonce = _STRUCT.unpack_from(data)
        if magic != MAGIC:
            msg = "not an s3vault object (bad magic)"
            raise IntegrityError(msg)
        if _VERSIONS.get(version) != alg:
            msg = f"unsupported envelope version {version} / algorithm {alg}"
            raise FormatVersionError(msg)
        try:
            skind = SealedKind(kind)
        except ValueError:
            msg = f"unknown sealed object kind {kind}"
            raise IntegrityError(msg) from None
        sender = b""
        if version == PUT_ENVELOPE_VERSION:
            if len(data) < PUT_HEADER_SIZE + TAG_SIZE:
                msg = "sealed object too short"
                raise IntegrityError(msg)
            sender = bytes(data[HEADER_SIZE:PUT_HEADER_SIZE])
        return cls(
            kind=skind, epoch=epoch, nonce=bytes(nonce), alg=alg, version=version, sender=sender
        )


def blob_aad(kind: SealedKind, epoch: int, version: int = ENVELOPE_VERSION) -> bytes:
    """The header fields a blob does not store, as the start of its associated data (version
    2: a blob of a pack a put-only writer sealed, design.md §6a)."""
    return _STRUCT.pack(MAGIC, version, kind, _VERSIONS[version], epoch, b"")[:8]
