"""HMAC-SHA256 and constant-time comparison, through `cryptography`'s OpenSSL.

The standard library's ``hmac`` (and ``secrets``, which imports it) loads ``hashlib``'s own copy
of OpenSSL: about 3.7 MiB more in every command's peak memory, which is the margin between
restic's peak and ours in an unchanged backup (docs/performance.md). Same bytes as
``hmac.digest(key, data, "sha256")``.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _hmac


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256 of data under key (RFC 2104)."""
    mac = _hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()


def same(a: bytes, b: bytes) -> bool:
    """Whether two byte strings are equal, in time that does not depend on where they differ.

    HMAC.verify compares in constant time; both sides are first MACed under a fresh random key,
    so what it compares is unpredictable to whoever chose a or b (the double-HMAC comparison).
    ``cryptography``'s own ``constant_time.bytes_eq`` imports ``hmac``, hence this."""
    key = os.urandom(32)
    mac = _hmac.HMAC(key, hashes.SHA256())
    mac.update(a)
    try:
        mac.verify(hmac_sha256(key, b))
    except InvalidSignature:
        return False
    return True
