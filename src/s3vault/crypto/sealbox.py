"""Sealing to a public key: X25519 + HKDF-SHA256 + XAES-256-GCM (an ECIES, as HPKE base mode).

Every key file has its own X25519 key pair. Its private key is wrapped under the key file's
secret (a password, a recovery secret or a KMS key); the master keys are sealed to its public
key. Master-key rotation can then give every key file a new payload without knowing any of
their passwords, and drop a retired epoch from all of them (design.md §6).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from s3vault.crypto import aead
from s3vault.errors import IntegrityError

KEY_SIZE = 32
INFO = b"s3vault/v1/sealbox"


def new_keypair() -> tuple[bytes, bytes]:
    """A fresh (private, public) X25519 key pair, raw 32 bytes each."""
    private = X25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return raw, public_of(raw)


def public_of(private: bytes) -> bytes:
    """The public key of a raw private key."""
    key = X25519PrivateKey.from_private_bytes(private)
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=INFO)
    return hkdf.derive(shared)


def seal(recipient: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes, bytes]:
    """Encrypt for the holder of ``recipient``'s private key: (ephemeral public, nonce, ct).

    Raises:
        IntegrityError: ``recipient`` is not a valid public key.
    """
    try:
        peer = X25519PublicKey.from_public_bytes(recipient)
    except ValueError:
        raise IntegrityError("not an X25519 public key") from None
    ephemeral = X25519PrivateKey.generate()
    epk = ephemeral.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key = _key(ephemeral.exchange(peer), epk, recipient)
    nonce = aead.new_nonce()
    return epk, nonce, aead.seal(key, nonce, plaintext, aad)


def open_(private: bytes, epk: bytes, nonce: bytes, ct: bytes, aad: bytes) -> bytes:
    """Decrypt what seal() made for our public key.

    Raises:
        IntegrityError: not sealed to this key, or modified.
    """
    try:
        me = X25519PrivateKey.from_private_bytes(private)
        shared = me.exchange(X25519PublicKey.from_public_bytes(epk))
    except ValueError:
        raise IntegrityError("sealed box: bad key material") from None
    return aead.open_(_key(shared, epk, public_of(private)), nonce, ct, aad)
