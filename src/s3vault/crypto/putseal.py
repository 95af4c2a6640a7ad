"""Sealing to the repository's public key with the writer's pre-shared key (design.md §6a).

What a put-only writer seals, only a full key opens: the writer picks an ephemeral X25519 key
per pack or standalone object, agrees a secret with the epoch's public key X_e, and mixes in its
own psk (derived from its writer secret), as HPKE's PSK mode (RFC 9180 §5.1) does:

    dh     = X25519(esk, X_e)                      (a full key: X25519(x_e, epk))
    mask   = HKDF(dh, salt = epk ‖ X_e, info "s3vault/v2/writer-mask")        32 bytes
    writer = key id XOR mask                       (stored beside epk: who wrote it, hidden)
    key    = HKDF(dh ‖ psk, salt = epk ‖ X_e, info "s3vault/v2/put" ‖ repo id ‖ key id)

The key then seals with XAES-256-GCM (crypto/aead.py). Without x_e nobody recomputes dh (the
writer forgets esk); without psk nobody (not even a holder of x_e's public half, which is not
secret) makes a key that a reader accepts as that writer's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from s3vault.errors import IntegrityError

EPK_SIZE = 32
WRITER_SIZE = 32
SENDER_SIZE = EPK_SIZE + WRITER_SIZE
_MASK_INFO = b"s3vault/v2/writer-mask"
_KEY_INFO = b"s3vault/v2/put"


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _public_bytes(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


WRITER_PURPOSES = ("psk", "state", "tag")


def writer_subkey(writer_secret: bytes, repo_id: bytes, purpose: str) -> bytes:
    """A subkey of a put-only writer's secret W_k (design.md §6a): ``psk`` authenticates what
    it seals, ``state`` seals its incremental state, ``tag`` keys its snapshot group tags."""
    if purpose not in WRITER_PURPOSES:
        msg = f"no writer subkey {purpose!r}"
        raise ValueError(msg)
    return _hkdf(writer_secret, repo_id, b"s3vault/v1/" + purpose.encode())


def psk(writer_secret: bytes, repo_id: bytes) -> bytes:
    """The pre-shared key of a writer (its ``psk`` subkey)."""
    return writer_subkey(writer_secret, repo_id, "psk")


@dataclass(frozen=True, slots=True)
class Sender:
    """What a reader needs besides its private key: the ephemeral public key and the masked
    writer key id (64 bytes as stored: in a version 2 envelope header, in an index entry)."""

    epk: bytes
    writer: bytes

    def encode(self) -> bytes:
        """epk ‖ writer."""
        return self.epk + self.writer

    @classmethod
    def decode(cls, data: bytes | memoryview) -> Sender:
        """Split the 64 stored bytes.

        Raises:
            IntegrityError: not 64 bytes.
        """
        if len(data) != SENDER_SIZE:
            msg = f"a sender has {SENDER_SIZE} bytes, not {len(data)}"
            raise IntegrityError(msg)
        raw = bytes(data)
        return cls(epk=raw[:EPK_SIZE], writer=raw[EPK_SIZE:])


def sending_key(
    recipient: bytes, key_id: bytes, writer_psk: bytes, repo_id: bytes
) -> tuple[Sender, bytes]:
    """A fresh ephemeral key agreed with ``recipient`` (X_e): the sender record to store and
    the 32-byte symmetric key to seal with. Call once per pack or standalone object.

    Raises:
        IntegrityError: ``recipient`` is not a usable X25519 public key.
    """
    if len(key_id) != WRITER_SIZE:
        msg = f"a writer key id has {WRITER_SIZE} bytes"
        raise ValueError(msg)
    try:
        peer = X25519PublicKey.from_public_bytes(recipient)
        esk = X25519PrivateKey.generate()
        dh = esk.exchange(peer)
    except ValueError:
        raise IntegrityError("not a usable X25519 public key") from None
    epk = _public_bytes(esk)
    salt = epk + recipient
    writer = _xor(key_id, _hkdf(dh, salt, _MASK_INFO))
    key = _hkdf(dh + writer_psk, salt, _KEY_INFO + repo_id + key_id)
    return Sender(epk=epk, writer=writer), key


def receiving_key(
    private: bytes, sender: Sender, repo_id: bytes, psk_of: Callable[[bytes], bytes]
) -> tuple[bytes, bytes]:
    """The writer's key id and the symmetric key of what ``sender`` sealed to our public key;
    ``psk_of(key id)`` gives the writer's psk (a full key derives it from the identity).
    A wrong private key or a forged sender gives a key that does not open the ciphertext,
    which the AEAD then refuses.

    Raises:
        IntegrityError: ``sender`` holds no usable public key.
    """
    try:
        me = X25519PrivateKey.from_private_bytes(private)
        dh = me.exchange(X25519PublicKey.from_public_bytes(sender.epk))
    except ValueError:
        raise IntegrityError("sealed to the repository: bad ephemeral key") from None
    salt = sender.epk + _public_bytes(me)
    key_id = _xor(sender.writer, _hkdf(dh, salt, _MASK_INFO))
    key = _hkdf(dh + psk_of(key_id), salt, _KEY_INFO + repo_id + key_id)
    return key_id, key
