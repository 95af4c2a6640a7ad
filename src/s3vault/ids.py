"""ObjectId: the 32-byte identifier of every blob, pack and file in a repository.

Blob ids are keyed BLAKE3 hashes of plaintext; storage ids (packs, index, snapshot files)
are plain BLAKE3 hashes of the stored ciphertext. Both are 32 bytes and shown as lowercase hex.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from s3vault.errors import UsageError

ID_SIZE = 32
SHORT_LEN = 8


class NotAnIdError(UsageError, ValueError):
    """Text that is not a full hex id: a usage error where a user typed it, and a ValueError
    where a name or a record is parsed (``except ValueError`` there passed it on: one object
    named ``audit/TAG/0000000000`` turned a host's audit log off, an attack pass, 2026-12-08)."""


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
            NotAnIdError: the text is not a full hex id (a UsageError and a ValueError).
        """
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = b""
        if len(raw) != ID_SIZE:
            msg = f"not an object id: {text!r} (expected {2 * ID_SIZE} hex digits)"
            raise NotAnIdError(msg)
        return cls(raw)

    def __str__(self) -> str:
        return self.hex()

    def __repr__(self) -> str:
        return f"ObjectId({self.hex()[:16]}…)"

    @property
    def short(self) -> str:
        """The first 8 hex digits, as shown in listings."""
        return self.hex()[:SHORT_LEN]


_HEX_DIGITS = frozenset("0123456789abcdef")
_SHOWN_MATCHES = 4


def is_hex(text: str) -> bool:
    """Whether ``text`` is lowercase hexadecimal digits only (and not empty)."""
    return bool(text) and set(text) <= _HEX_DIGITS


def unique_prefix(ref: str, ids: Iterable[str], *, command: str, what: str, hint: str = "") -> str:
    """The one id (lowercase hex) among ``ids`` that ``ref`` names: the id in full or a
    unique prefix of it, any case, or a storage name ending in one (``data/ab/abcd…``).
    Messages name ``command`` and ``what`` (a kind of object); ``hint`` follows "no such".

    Raises:
        UsageError: ``ref`` is not hex, names no id, or names several (the first few shown).
    """
    text = ref.strip().lower().rsplit("/", 1)[-1]
    if not is_hex(text) or len(text) > 2 * ID_SIZE:
        msg = f"{command}: {ref!r} is not a {what} id (up to {2 * ID_SIZE} hex digits)"
        raise UsageError(msg)
    hits = sorted({i for i in ids if i.startswith(text)})
    if not hits:
        msg = f"{command}: no {what} with id {ref!r}{hint}"
        raise UsageError(msg)
    if len(hits) > 1:
        shown = ", ".join(h[:12] for h in hits[:_SHOWN_MATCHES])
        more = ", …" if len(hits) > _SHOWN_MATCHES else ""
        msg = (
            f"{command}: id prefix {ref!r} is ambiguous ({len(hits)} matches: {shown}{more}); "
            "give more digits"
        )
        raise UsageError(msg)
    return hits[0]
