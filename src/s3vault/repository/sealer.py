"""Sealer: compress → encrypt with the envelope (design.md §3), and the reverse.

Associated data = envelope header | repository id | binding, where the binding is the blob id
for blobs, ``pack-header`` for pack headers and empty for standalone files (whose kind is in the
header and whose name is the hash of the sealed bytes).
"""

from __future__ import annotations

from s3vault import compression
from s3vault.crypto import aead
from s3vault.crypto.hashing import blob_id
from s3vault.crypto.keys import MasterKey
from s3vault.errors import IntegrityError
from s3vault.format.envelope import (
    HEADER_SIZE,
    NONCE_SIZE,
    EnvelopeHeader,
    SealedKind,
    blob_aad,
)
from s3vault.format.keyfile import KeyPayload
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId

BLOB_KINDS = {BlobType.DATA: SealedKind.DATA_BLOB, BlobType.TREE: SealedKind.TREE_BLOB}
PACK_HEADER_BINDING = b"pack-header"


class Sealer:
    """Seals and opens objects with the repository's master keys (one per epoch)."""

    def __init__(self, keys: dict[int, MasterKey], current_epoch: int) -> None:
        self._keys = keys
        self._current = keys[current_epoch]
        self.repo_id = self._current.repo_id

    @property
    def current(self) -> MasterKey:
        """The key new objects are sealed with."""
        return self._current

    def seal(self, kind: SealedKind, plaintext: bytes | memoryview, binding: bytes = b"") -> bytes:
        """Encrypt already-compressed plaintext into an envelope."""
        nonce = aead.new_nonce()
        header = EnvelopeHeader(kind=kind, epoch=self._current.epoch, nonce=nonce).encode()
        aad = header + self.repo_id + binding
        return header + aead.seal(self._current.encryption_key, nonce, plaintext, aad)

    def open(self, kind: SealedKind, sealed: bytes | memoryview, binding: bytes = b"") -> bytes:
        """Authenticate and decrypt an envelope of the expected kind.

        Raises:
            IntegrityError: wrong kind, unknown epoch, or failed authentication.
        """
        header = EnvelopeHeader.decode(sealed)
        if header.kind is not kind:
            msg = f"expected a {kind.name} object, found {header.kind.name}"
            raise IntegrityError(msg)
        key = self._keys.get(header.epoch)
        if key is None:
            msg = f"object sealed under key epoch {header.epoch}, which no key file holds"
            raise IntegrityError(msg)
        head = bytes(sealed[:HEADER_SIZE])
        return aead.open_(
            key.encryption_key, header.nonce, sealed[HEADER_SIZE:], head + self.repo_id + binding
        )

    # Blobs -----------------------------------------------------------------------------------
    # A blob is nonce | ciphertext | tag; AAD = blob_aad(kind, epoch) | repo id | blob id.

    def payload(self) -> KeyPayload:
        """The master keys of every epoch, as a key file wraps them (``key add``)."""
        return KeyPayload(
            identity=self._current.identity,
            master_keys={epoch: key.secret for epoch, key in self._keys.items()},
        )

    @property
    def keys(self) -> dict[int, MasterKey]:
        """The master key of every live epoch."""
        return dict(self._keys)

    def blob_id(self, data: bytes | memoryview) -> ObjectId:
        """The keyed id of a blob's plaintext."""
        return blob_id(self._current.id_key, data)

    @property
    def epoch(self) -> int:
        """The key epoch new blobs are sealed under."""
        return self._current.epoch

    def seal_blob(
        self,
        btype: BlobType,
        bid: ObjectId,
        data: bytes | memoryview,
        level: int,
        *,
        verify: bool = True,
    ) -> bytes:
        """Compress and seal a blob (under the current epoch) whose id is already known.

        With ``verify`` the sealed bytes are decrypted, decompressed and re-hashed before they
        are returned (restic #4529: corruption must never reach storage).

        Raises:
            IntegrityError: verification failed.
        """
        return self.seal_packed(
            btype, bid, compression.compress(data, level), len(data), verify=verify
        )

    def seal_packed(
        self, btype: BlobType, bid: ObjectId, packed: bytes, raw_length: int, *, verify: bool
    ) -> bytes:
        """seal_blob() for a blob already compressed (tagged) by the compression module.

        Raises:
            IntegrityError: verification failed.
        """
        nonce = aead.new_nonce()
        aad = blob_aad(BLOB_KINDS[btype], self._current.epoch) + self.repo_id + bid
        key = self._current.encryption_key
        if not verify:
            return nonce + aead.seal(key, nonce, packed, aad)
        id_key = self._current.id_key

        def check(plain: bytes) -> None:
            if blob_id(id_key, compression.decompress(plain, raw_length)) != bid:
                msg = f"detected data corruption before upload of blob {bid.short}"
                raise IntegrityError(msg)

        return nonce + aead.seal_checked(key, nonce, packed, aad, check)

    def open_blob(
        self,
        btype: BlobType,
        bid: ObjectId,
        sealed: bytes | memoryview,
        raw_length: int | None,
        epoch: int,
    ) -> bytes:
        """Open, decompress and check a blob against its id.

        Raises:
            IntegrityError: authentication, decompression or id check failed.
        """
        key = self._keys.get(epoch)
        if key is None:
            msg = f"blob sealed under key epoch {epoch}, which no key file holds"
            raise IntegrityError(msg)
        aad = blob_aad(BLOB_KINDS[btype], epoch) + self.repo_id + bid
        nonce = bytes(sealed[:NONCE_SIZE])
        plain = aead.open_(key.encryption_key, nonce, sealed[NONCE_SIZE:], aad)
        data = compression.decompress(plain, raw_length)
        if blob_id(key.id_key, data) != bid:
            msg = f"{btype.value} blob {bid.short}: content does not match its id"
            raise IntegrityError(msg)
        return data

    # Standalone files ------------------------------------------------------------------------

    def seal_file(self, kind: SealedKind, plaintext: bytes, level: int = 3) -> bytes:
        """Compress and seal a standalone file."""
        return self.seal(kind, compression.compress(plaintext, level))

    def open_file(self, kind: SealedKind, sealed: bytes) -> bytes:
        """Open and decompress a standalone file.

        Raises:
            IntegrityError: authentication or decompression failed.
        """
        return compression.decompress(self.open(kind, sealed))
