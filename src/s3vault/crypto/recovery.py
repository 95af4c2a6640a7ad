"""Recovery keys: 256 random bits a person can write down and type back.

Shown as 14 groups of 4 base32 characters: the 32-byte secret followed by a 3-byte BLAKE3
checksum, so a mistyped character is caught before any key file is tried. Reading it back
ignores case, spaces and dashes, and takes 0, 1 and 8 for O, I and B (base32 has no digits
0, 1, 8 or 9). The secret is used as the password of a key file of kind ``recovery``.
"""

from __future__ import annotations

import base64
import os

from blake3 import blake3

from s3vault.errors import UsageError

SECRET_SIZE = 32
CHECK_SIZE = 3
GROUP = 4
_LOOKALIKES = str.maketrans({"0": "O", "1": "I", "8": "B"})


def new_secret() -> bytes:
    """Fresh random bytes for a recovery key."""
    return os.urandom(SECRET_SIZE)


def encode(secret: bytes) -> str:
    """The grouped text form (``ABCD-EFGH-...``)."""
    check = blake3(secret).digest(length=CHECK_SIZE)
    text = base64.b32encode(secret + check).decode().rstrip("=")
    return "-".join(text[i : i + GROUP] for i in range(0, len(text), GROUP))


def decode(text: str) -> bytes:
    """The secret in a typed-back recovery key.

    Raises:
        UsageError: not a recovery key, or its checksum does not match (a typo).
    """
    cleaned = "".join(text.split()).replace("-", "").upper().translate(_LOOKALIKES)
    size = SECRET_SIZE + CHECK_SIZE
    try:
        raw = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except ValueError:
        raw = b""
    if len(raw) != size:
        msg = "that is not a recovery key (expected 14 groups of 4 letters and digits)"
        raise UsageError(msg)
    secret, check = raw[:SECRET_SIZE], raw[SECRET_SIZE:]
    if blake3(secret).digest(length=CHECK_SIZE) != check:
        msg = "the recovery key does not check out: look for a mistyped character"
        raise UsageError(msg)
    return secret
