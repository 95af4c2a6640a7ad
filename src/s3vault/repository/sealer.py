"""Sealer: compress → encrypt with the envelope (design.md §3), and the reverse.

Associated data = envelope header | repository id | binding, where the binding is the blob id
for blobs, ``pack-header`` for pack headers and empty for standalone files (whose kind is in the
header and whose name is the hash of the sealed bytes).

A full key also opens what put-only writers sealed to the repository's public key (envelope
version 2, design.md §6a); ``PutSealer`` is the writer's side, which seals and opens nothing
(it checks each blob it seals before the blob leaves it, as every writer does).
"""

from __future__ import annotations

from typing import Protocol

from s3vault import compression
from s3vault.crypto import aead, putseal
from s3vault.crypto.hashing import blob_id
from s3vault.crypto.keys import MasterKey
from s3vault.errors import IntegrityError
from s3vault.format.envelope import (
    NONCE_SIZE,
    PUT_ENVELOPE_VERSION,
    EnvelopeHeader,
    SealedKind,
    blob_aad,
)
from s3vault.format.keyfile import KeyPayload
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId

BLOB_KINDS = {BlobType.DATA: SealedKind.DATA_BLOB, BlobType.TREE: SealedKind.TREE_BLOB}
PACK_HEADER_BINDING = b"pack-header"
_PUT_KEYS_KEPT = 4096  # derived keys of put-only packs kept (about 100 bytes each)
# What a put-only writer may write (design.md §6a); a version 2 envelope of any other kind (a
# config, a lease, a deletion record...) is refused however it authenticates.
PUT_KINDS = frozenset(
    {
        SealedKind.DATA_BLOB,
        SealedKind.TREE_BLOB,
        SealedKind.PACK_HEADER,
        SealedKind.INDEX,
        SealedKind.SNAPSHOT,
        SealedKind.AUDIT,
        SealedKind.INDEX_VIEW,
    }
)


class PackSealing(Protocol):
    """What a blob writer and its pack writers seal with (repository/writer.py, packer.py): a
    full key's ``Sealer``, or a put-only writer's ``PutRun``."""

    @property
    def epoch(self) -> int:
        """The key epoch new blobs are sealed under."""
        ...

    def blob_id(self, data: bytes | memoryview) -> ObjectId:
        """The keyed id of a blob's plaintext."""
        ...

    def seal_blob(
        self,
        btype: BlobType,
        bid: ObjectId,
        data: bytes | memoryview,
        level: int,
        *,
        verify: bool = True,
    ) -> bytes:
        """Compress and seal a blob (verified before it is returned)."""
        ...

    def seal_packed(
        self, btype: BlobType, bid: ObjectId, packed: bytes, raw_length: int, *, verify: bool
    ) -> bytes:
        """seal_blob() for a blob already compressed."""
        ...

    def seal(self, kind: SealedKind, plaintext: bytes | memoryview, binding: bytes = b"") -> bytes:
        """Encrypt already-compressed plaintext into an envelope (a pack's header)."""
        ...


def sealed_blob(
    key: bytes, aad: bytes, packed: bytes, bid: ObjectId, raw_length: int, id_key: bytes | None
) -> bytes:
    """nonce ‖ AEAD of a packed (compressed, tagged) blob: the one sealing step of full keys
    and put-only writers. With ``id_key`` the sealed bytes are opened, decompressed and
    re-hashed against ``bid`` before they are returned (restic #4529: corruption must never
    reach storage).

    Raises:
        IntegrityError: that check failed.
    """
    nonce = aead.new_nonce()
    if id_key is None:
        return nonce + aead.seal(key, nonce, packed, aad)

    def check(plain: bytes) -> None:
        if blob_id(id_key, compression.decompress(plain, raw_length)) != bid:
            msg = f"detected data corruption before upload of blob {bid.short}"
            raise IntegrityError(msg)

    return nonce + aead.seal_checked(key, nonce, packed, aad, check)


class Sealer:
    """Seals and opens objects with the repository's master keys (one per epoch)."""

    def __init__(self, keys: dict[int, MasterKey], current_epoch: int) -> None:
        self._keys = keys
        self._current = keys[current_epoch]
        self.repo_id = self._current.repo_id
        # (epoch, sender) -> (writer key id, key): one X25519 per put-only pack, not per blob
        self._put_keys: dict[tuple[int, bytes], tuple[bytes, bytes]] = {}

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
        head = bytes(sealed[: header.size])
        secret = key.encryption_key
        if header.version == PUT_ENVELOPE_VERSION:
            if kind not in PUT_KINDS:
                msg = f"a {kind.name} object sealed by a put-only key (forged)"
                raise IntegrityError(msg)
            _, secret = self.put_key(header.epoch, header.sender)
        return aead.open_(
            secret, header.nonce, sealed[header.size :], head + self.repo_id + binding
        )

    def put_key(self, epoch: int, sender: bytes) -> tuple[bytes, bytes]:
        """(writer key id, symmetric key) of what a put-only writer sealed to the public key
        of ``epoch`` (a pack's or an object's ``sender``, design.md §6a).

        Raises:
            IntegrityError: unknown epoch, or a malformed sender.
        """
        known = self._put_keys.get((epoch, sender))
        if known is not None:
            return known
        key = self._keys.get(epoch)
        if key is None:
            msg = f"object sealed under key epoch {epoch}, which no key file holds"
            raise IntegrityError(msg)
        repo_id = self.repo_id

        def psk_of(key_id: bytes) -> bytes:
            return putseal.psk(key.writer_secret(key_id), repo_id)

        found = putseal.receiving_key(
            key.put_private, putseal.Sender.decode(sender), repo_id, psk_of
        )
        if len(self._put_keys) >= _PUT_KEYS_KEPT:
            self._put_keys.clear()
        self._put_keys[(epoch, sender)] = found
        return found

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
        aad = blob_aad(BLOB_KINDS[btype], self._current.epoch) + self.repo_id + bid
        key, id_key = self._current.encryption_key, self._current.id_key
        return sealed_blob(key, aad, packed, bid, raw_length, id_key if verify else None)

    def open_blob(
        self,
        btype: BlobType,
        bid: ObjectId,
        sealed: bytes | memoryview,
        raw_length: int | None,
        epoch: int,
        sender: bytes = b"",
    ) -> bytes:
        """Open, decompress and check a blob against its id. ``sender``: the pack's, when a
        put-only writer sealed it to the repository's public key (design.md §6a).

        Raises:
            IntegrityError: authentication, decompression or id check failed.
        """
        key = self._keys.get(epoch)
        if key is None:
            msg = f"blob sealed under key epoch {epoch}, which no key file holds"
            raise IntegrityError(msg)
        secret, version = key.encryption_key, 1
        if sender:
            _, secret = self.put_key(epoch, sender)
            version = PUT_ENVELOPE_VERSION
        aad = blob_aad(BLOB_KINDS[btype], epoch, version) + self.repo_id + bid
        nonce = bytes(sealed[:NONCE_SIZE])
        plain = aead.open_(secret, nonce, sealed[NONCE_SIZE:], aad)
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
        plain = self.open(kind, sealed)
        # a put-only host's file may not unpack to more than it could hold (a zstd bomb sealed
        # as a snapshot); a full key's is trusted as it is (its snapshot of a --files-from list
        # of deep paths compresses beyond any ratio, and must read back)
        if EnvelopeHeader.decode(sealed).version == PUT_ENVELOPE_VERSION:
            return compression.decompress_file(plain, len(sealed))
        return compression.decompress(plain)


class PutSealer:
    """A put-only writer's sealing (design.md §6a): everything to the public key X_e of the
    current epoch, authenticated with the writer's psk. It holds no key that opens anything
    but the pack it is sealing (for verify-before-write)."""

    def __init__(
        self,
        *,
        repo_id: bytes,
        epoch: int,
        public: bytes,
        key_id: bytes,
        writer_secret: bytes,
        id_key: bytes,
    ) -> None:
        self.repo_id = repo_id
        self.epoch = epoch
        self._public = public
        self._key_id = key_id
        self._psk = putseal.psk(writer_secret, repo_id)
        self.id_key = id_key  # K_id of its dedup group: names blobs, opens nothing

    def _sending_key(self) -> tuple[bytes, bytes]:
        sender, key = putseal.sending_key(self._public, self._key_id, self._psk, self.repo_id)
        return sender.encode(), key

    def seal(self, kind: SealedKind, plaintext: bytes | memoryview, binding: bytes = b"") -> bytes:
        """Encrypt already-compressed plaintext into a version 2 envelope, with a fresh
        ephemeral key.

        Raises:
            ValueError: a kind a put-only writer may not write.
        """
        if kind not in PUT_KINDS:
            msg = f"a put-only key does not write {kind.name} objects"
            raise ValueError(msg)
        sender, key = self._sending_key()
        nonce = aead.new_nonce()
        header = EnvelopeHeader.put(kind, self.epoch, nonce, sender).encode()
        return header + aead.seal(key, nonce, plaintext, header + self.repo_id + binding)

    def seal_file(self, kind: SealedKind, plaintext: bytes, level: int = 3) -> bytes:
        """Compress and seal a standalone file (snapshot, index, audit record...)."""
        return self.seal(kind, compression.compress(plaintext, level))

    def pack(self) -> PutPack:
        """The sealing of one new pack: one ephemeral key for its blobs and its header."""
        sender, key = self._sending_key()
        return PutPack(self, sender, key)


class PutPack:
    """Seals the blobs and the header of one pack under the pack's key; ``sender`` goes into
    the index entry of the pack (and the header's envelope). Drop it when the pack is done:
    nothing else can open what it sealed but a full key."""

    def __init__(self, owner: PutSealer, sender: bytes, key: bytes) -> None:
        self.sender = sender
        self._owner = owner
        self._key = key

    def seal_blob(
        self,
        btype: BlobType,
        bid: ObjectId,
        data: bytes | memoryview,
        level: int,
        *,
        verify: bool = True,
    ) -> bytes:
        """Compress and seal a blob whose (keyed) id is known; with ``verify`` it is opened
        and re-hashed before it is returned (as Sealer.seal_blob).

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
        owner = self._owner
        aad = blob_aad(BLOB_KINDS[btype], owner.epoch, PUT_ENVELOPE_VERSION) + owner.repo_id + bid
        id_key = owner.id_key if verify else None
        return sealed_blob(self._key, aad, packed, bid, raw_length, id_key)

    def seal_header(self, plaintext: bytes) -> bytes:
        """The pack's header (design.md §4) as a version 2 envelope under the pack's key."""
        owner = self._owner
        nonce = aead.new_nonce()
        header = EnvelopeHeader.put(
            SealedKind.PACK_HEADER, owner.epoch, nonce, self.sender
        ).encode()
        aad = header + owner.repo_id + PACK_HEADER_BINDING
        return header + aead.seal(self._key, nonce, plaintext, aad)


class PutRun:
    """A put-only writer's sealing of every pack of one run (one BlobWriter): one ephemeral
    key for the run (design.md §6a, "Packs"), since blobs are sealed in parallel before the
    pack they join is chosen. Every pack of the run carries the run's ``sender``; the key is
    forgotten with this object when the run ends."""

    def __init__(self, owner: PutSealer) -> None:
        self._pack = owner.pack()
        self._id_key = owner.id_key
        self.epoch = owner.epoch

    @property
    def sender(self) -> bytes:
        """epk | masked writer, for the index entries of the run's packs."""
        return self._pack.sender

    def blob_id(self, data: bytes | memoryview) -> ObjectId:
        """The keyed id of a blob's plaintext (K_id of the writer's dedup group)."""
        return blob_id(self._id_key, data)

    def seal_blob(
        self,
        btype: BlobType,
        bid: ObjectId,
        data: bytes | memoryview,
        level: int,
        *,
        verify: bool = True,
    ) -> bytes:
        """As PutPack.seal_blob.

        Raises:
            IntegrityError: verification failed.
        """
        return self._pack.seal_blob(btype, bid, data, level, verify=verify)

    def seal_packed(
        self, btype: BlobType, bid: ObjectId, packed: bytes, raw_length: int, *, verify: bool
    ) -> bytes:
        """As PutPack.seal_packed.

        Raises:
            IntegrityError: verification failed.
        """
        return self._pack.seal_packed(btype, bid, packed, raw_length, verify=verify)

    def seal(self, kind: SealedKind, plaintext: bytes | memoryview, binding: bytes = b"") -> bytes:
        """A pack's header, under the run's key.

        Raises:
            ValueError: anything but a pack header (standalone objects: ``PutSealer``).
        """
        if kind is not SealedKind.PACK_HEADER or binding != PACK_HEADER_BINDING:
            msg = f"a put-only run seals pack headers, not {kind.name} objects"
            raise ValueError(msg)
        return self._pack.seal_header(bytes(plaintext))
