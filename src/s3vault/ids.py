"""ObjectId: the 32-byte identifier of every blob, pack and file in a repository.

Blob ids are keyed BLAKE3 hashes of plaintext; storage ids (packs, index, snapshot files)
are plain BLAKE3 hashes of the stored ciphertext. Both are 32 bytes and shown as lowercase hex.
"""

from __future__ import annotations

from typing import Self

from s3vault.errors import UsageError

ID_SIZE = 32
SHORT_LEN = 8


class ObjectId(bytes):
    """A 32-byte id. Immutable, hashable, comparable as bytes; ``str()`` is hex."""

    __slots__ = ()

    def __new__(cls, value: bytes) -> Self:
        if len(value) != ID_SIZE:
            msg = f"an object id has {ID_SIZE} bytes, got {len(value)}"
            raise ValueError(msg)
        return bytes.__new__(cls, value)  # not super(): made for every id of every tree read

    @classmethod
    def from_hex(cls, text: str) -> Self:
        """Parse 64 hex digits.

        Raises:
            UsageError: the text is not a full hex id.
        """
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = b""
        if len(raw) != ID_SIZE:
            msg = f"not an object id: {text!r} (expected {2 * ID_SIZE} hex digits)"
            raise UsageError(msg)
        return cls(raw)

    def __str__(self) -> str:
        return self.hex()

    def __repr__(self) -> str:
        return f"ObjectId({self.hex()[:16]}…)"

    @property
    def short(self) -> str:
        """The first 8 hex digits, as shown in listings."""
        return self.hex()[:SHORT_LEN]
