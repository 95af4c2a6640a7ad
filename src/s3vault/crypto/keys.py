"""The master key and its subkeys.

One random 32-byte master secret per key epoch, and one identity secret for the life of the
repository. Every purpose gets its own subkey, HKDF-SHA256(IKM=secret, salt=repo_id,
info="s3vault/v1/<purpose>"), so a key used to name blobs is never the key that encrypts them.
Blob ids, the chunker, key-file MACs and snapshot group tags come from the identity secret, so
rotating the master key neither renames a blob nor moves a chunk boundary (deduplication carries
across epochs) nor orphans a key file's MAC nor regroups a snapshot; encryption, the cache and the
key-check value come from the epoch's master secret.

Put-only keys (design.md §6a) add, derived and never stored: per epoch the repository's X25519
key pair (x_e, X_e) that put-only writers seal to and the view key V_e of the dedup view; from
the identity the repository's Ed25519 signing key (σ, Σ) and each put-only key file's writer
secret W_k.
"""

from __future__ import annotations

import os
from functools import cached_property

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from s3vault.crypto.mac import hmac_sha256

MASTER_SIZE = 32


def _derive(master: bytes, repo_id: bytes, purpose: str, length: int = 32) -> bytes:
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=length,
        salt=repo_id,
        info=b"s3vault/v1/" + purpose.encode(),
    )
    return hkdf.derive(master)


class MasterKey:
    """A master secret bound to one repository and one key epoch; derives the subkeys."""

    __slots__ = ("__dict__", "_identity", "_secret", "epoch", "repo_id")

    def __init__(self, secret: bytes, repo_id: bytes, epoch: int, identity: bytes) -> None:
        if len(secret) != MASTER_SIZE or len(identity) != MASTER_SIZE:
            msg = "a master key has 32 bytes"
            raise ValueError(msg)
        self._secret = secret
        self._identity = identity
        self.repo_id = repo_id
        self.epoch = epoch

    @classmethod
    def generate(cls, repo_id: bytes, epoch: int, identity: bytes) -> MasterKey:
        """A new random master key for an epoch."""
        return cls(os.urandom(MASTER_SIZE), repo_id, epoch, identity)

    def __repr__(self) -> str:  # never show the secret
        return f"MasterKey(epoch={self.epoch})"

    @property
    def secret(self) -> bytes:
        """The raw secret; only key wrapping may read it."""
        return self._secret

    @property
    def identity(self) -> bytes:
        """The raw identity secret; only key wrapping may read it."""
        return self._identity

    @cached_property
    def encryption_key(self) -> bytes:
        """Key for XAES-256-GCM sealing of every object."""
        return _derive(self._secret, self.repo_id, "enc")

    @cached_property
    def id_key(self) -> bytes:
        """Key for keyed BLAKE3 blob ids and whole-file content hashes."""
        return _derive(self._identity, self.repo_id, "id")

    @cached_property
    def chunker_seed(self) -> int:
        """Seed of the per-repository FastCDC gear table (63 bits, never 0)."""
        raw = int.from_bytes(_derive(self._identity, self.repo_id, "chunker", 8), "big")
        return (raw >> 1) or 1

    @cached_property
    def audit_key(self) -> bytes:
        """Key for the host tags of the audit log (a keyed hash of each host name)."""
        return _derive(self._identity, self.repo_id, "audit")

    @cached_property
    def group_key(self) -> bytes:
        """Key for the group tags in snapshot file names (a keyed hash of host and paths)."""
        return _derive(self._identity, self.repo_id, "snapshot-group")

    @cached_property
    def cache_key(self) -> bytes:
        """Key that seals the local cache."""
        return _derive(self._secret, self.repo_id, "cache")

    def keyfile_mac(self, data: bytes) -> bytes:
        """HMAC-SHA256 of a key file's content under the key-file subkey."""
        return hmac_sha256(self._keyfile_key, data)

    @cached_property
    def _keyfile_key(self) -> bytes:
        return _derive(self._identity, self.repo_id, "keyfile-mac")

    @cached_property
    def check_value(self) -> bytes:
        """Key-check value stored in the config: detects a substituted repository."""
        return hmac_sha256(_derive(self._secret, self.repo_id, "check"), b"s3vault kcv")

    # Put-only keys (design.md §6a) --------------------------------------------------------------

    @cached_property
    def put_private(self) -> bytes:
        """x_e: the epoch's X25519 private key (HKDF output; X25519 clamps it, as HPKE's
        DeriveKeyPair). Only full keys have it: it opens what put-only writers sealed."""
        return _derive(self._secret, self.repo_id, "put-x25519")

    @cached_property
    def put_public(self) -> bytes:
        """X_e: the public key put-only writers seal to (not secret)."""
        key = X25519PrivateKey.from_private_bytes(self.put_private)
        return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @cached_property
    def view_key(self) -> bytes:
        """V_e: seals the dedup view of index files and the config's view."""
        return _derive(self._secret, self.repo_id, "view")

    @cached_property
    def signing_key(self) -> Ed25519PrivateKey:
        """σ: the repository's Ed25519 signing key (from the identity: rotation keeps it)."""
        return Ed25519PrivateKey.from_private_bytes(
            _derive(self._identity, self.repo_id, "sign-ed25519")
        )

    @cached_property
    def signing_public(self) -> bytes:
        """Σ: the key put-only key files pin to check what σ signed."""
        return self.signing_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def writer_secret(self, key_id: bytes) -> bytes:
        """W_k of the put-only key file ``key_id`` (from the identity, so every full key
        derives every writer's secret, and a new key file gets a new one)."""
        return _derive(self._identity, self.repo_id, "writer/" + key_id.hex())
