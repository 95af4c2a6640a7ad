"""XAES-256-GCM (https://c2sp.org/XAES-256-GCM): AES-256-GCM with a 192-bit nonce.

A per-message subkey is derived from the 256-bit key and the first 12 nonce bytes with
NIST SP 800-108 KDF in counter mode over AES-CMAC (two CMAC blocks); AES-256-GCM then runs with
the subkey and the last 12 nonce bytes. Random 24-byte nonces are safe for about 2^80 messages
under one key, so a fleet of hosts sharing one master key needs no nonce bookkeeping.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import (
    AEADDecryptionContext,
    AEADEncryptionContext,
    Cipher,
    algorithms,
    modes,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.kbkdf import KBKDFCMAC, CounterLocation, Mode

from s3vault.errors import IntegrityError

KEY_SIZE = 32
NONCE_SIZE = 24
TAG_SIZE = 16


def new_nonce() -> bytes:
    """A fresh random 24-byte nonce."""
    return os.urandom(NONCE_SIZE)


def _subkey(key: bytes, nonce_prefix: bytes) -> bytes:
    kdf = KBKDFCMAC(
        algorithm=algorithms.AES,
        mode=Mode.CounterMode,
        length=KEY_SIZE,
        rlen=2,
        llen=None,
        location=CounterLocation.BeforeFixed,
        label=None,
        context=None,
        fixed=b"X\x00" + nonce_prefix,
    )
    return kdf.derive(key)


def seal(key: bytes, nonce: bytes, plaintext: bytes | memoryview, aad: bytes) -> bytes:
    """Encrypt and authenticate; returns ciphertext followed by the 16-byte tag."""
    if len(nonce) != NONCE_SIZE:
        msg = f"XAES-256-GCM takes a {NONCE_SIZE}-byte nonce"
        raise ValueError(msg)
    return AESGCM(_subkey(key, nonce[:12])).encrypt(nonce[12:], plaintext, aad)


def seal_checked(
    key: bytes,
    nonce: bytes,
    plaintext: bytes | memoryview,
    aad: bytes,
    check: Callable[[bytes], None],
) -> bytes:
    """seal(), then decrypt the result again and hand the plaintext to ``check`` (which raises
    on a mismatch): catches memory or library corruption before the ciphertext is stored."""
    cipher = AESGCM(_subkey(key, nonce[:12]))
    ct = cipher.encrypt(nonce[12:], plaintext, aad)
    try:
        again = cipher.decrypt(nonce[12:], ct, aad)
    except InvalidTag:
        msg = "sealed data does not authenticate"
        raise IntegrityError(msg) from None
    check(again)
    return ct


def open_(key: bytes, nonce: bytes, ciphertext: bytes | memoryview, aad: bytes) -> bytes:
    """Authenticate and decrypt.

    Raises:
        IntegrityError: the ciphertext, nonce, key or associated data do not match.
    """
    if len(nonce) != NONCE_SIZE or len(ciphertext) < TAG_SIZE:
        msg = "ciphertext too short"
        raise IntegrityError(msg)
    try:
        return AESGCM(_subkey(key, nonce[:12])).decrypt(nonce[12:], ciphertext, aad)
    except InvalidTag:
        msg = "authentication failed"
        raise IntegrityError(msg) from None


def stream_encryptor(key: bytes, nonce: bytes, aad: bytes) -> AEADEncryptionContext:
    """An XAES-256-GCM encryptor for data too large to hold twice: feed it with update(),
    then finalize() and append its ``tag``. Same construction as seal()."""
    enc = Cipher(algorithms.AES(_subkey(key, nonce[:12])), modes.GCM(nonce[12:])).encryptor()
    enc.authenticate_additional_data(aad)
    return enc


def stream_decryptor(key: bytes, nonce: bytes, aad: bytes, tag: bytes) -> AEADDecryptionContext:
    """The matching decryptor. Its output is unauthenticated until finalize() returns: callers
    must discard everything they built from it if finalize() raises InvalidTag."""
    dec = Cipher(algorithms.AES(_subkey(key, nonce[:12])), modes.GCM(nonce[12:], tag)).decryptor()
    dec.authenticate_additional_data(aad)
    return dec
