"""Canonical JSON for records that are JSON documents, and the helpers all codecs share.

Canonical: UTF-8, sorted keys, no insignificant white space, so the same record always encodes to
the same bytes. Decoding errors become IntegrityError: every caller has authenticated the bytes
first, so malformed content means a bug or a forged object.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from typing import Any

from s3vault.errors import FormatVersionError, IntegrityError, UsageError

JsonDict = dict[str, Any]


def dumps(obj: JsonDict) -> bytes:
    """Canonical JSON bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def loads(data: bytes, what: str) -> JsonDict:
    """Parse a JSON object.

    Raises:
        IntegrityError: not a JSON object.
    """
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        msg = f"{what}: malformed JSON ({exc})"
        raise IntegrityError(msg) from None
    except RecursionError:  # no record nests deeply: only a forged one does
        msg = f"{what}: malformed JSON (nested too deeply)"
        raise IntegrityError(msg) from None
    if not isinstance(obj, dict):
        msg = f"{what}: expected a JSON object"
        raise IntegrityError(msg)
    return obj


def readable(text: str) -> str:
    """``text`` as text that encodes: every byte that is no UTF-8 (a surrogate escape, as a
    command line or a file name decodes one) spelled ``\\xNN``, as ``ls`` shows names."""
    try:
        text.encode()
    except UnicodeEncodeError:
        pass
    else:
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate no byte decodes to
        return text.encode("utf-8", "backslashreplace").decode()


_SHOWN = re.compile(r"\\\\|\\x([0-9a-fA-F]{2})|\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})|\\([nrt])")
_NAMED = {"n": "\n", "r": "\r", "t": "\t"}


def unshown(text: str, *, name: bool = False) -> str:
    """What a listing shows of a name, read back: ``\\xNN`` of a byte that is no UTF-8 (80 to
    ff, as ``readable`` spells one) as that byte's surrogate escape (what os.fsdecode gives
    it), and every escape a terminal listing prints for a control character (``\\n``,
    ``\\t``, ``\\r``, ``\\x1b``, ``\\u0085``, ``\\U00040000``: cli/render.py ``printable``) as that
    character. Any other escape stays as written (``\\x41`` is not ``A``: a pattern's
    ``\\*`` keeps its meaning). An escaped backslash (``\\\\``, how a listing shows a
    name's own) stays two in a pattern, where it means one, and is one with ``name``."""

    def one(m: re.Match[str]) -> str:
        byte, code, wide, named = m.groups()
        if wide is not None and int(wide, 16) <= sys.maxunicode:
            code = wide
        if byte is not None:
            value = int(byte, 16)
            if value >= 0x80:
                return chr(0xDC00 + value)
            return chr(value) if not chr(value).isprintable() else m.group(0)
        if code is not None:
            char = chr(int(code, 16))
            surrogate = 0xD800 <= ord(char) <= 0xDFFF  # no character a name can hold
            return char if not char.isprintable() and not surrogate else m.group(0)
        if named is not None:
            return _NAMED[named]
        if wide is not None:  # beyond Unicode: as written
            return m.group(0)
        return "\\" if name else m.group(0)

    return _SHOWN.sub(one, text)


def unshown_name(name: bytes) -> bytes:
    """A name (bytes) as a listing shows it, read back: the name's own bytes (Node.display_name
    and cli/render.py ``printable`` undone)."""
    return os.fsencode(unshown(os.fsdecode(name), name=True))


def require_text(what: str, value: str) -> str:
    """``value``, which the repository stores as UTF-8 text (a tag, a host name, a label),
    checked before anything is written.

    Raises:
        UsageError: it holds bytes that are no UTF-8 (a shell's ``$'\\xe9'``).
    """
    shown = readable(value)
    if shown != value:
        msg = f"{what} '{shown}' is not UTF-8 text: tags, host names and labels are stored as text"
        raise UsageError(msg)
    return value


def b64(data: bytes) -> str:
    """Standard base64 text."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, what: str) -> bytes:
    """Decode base64 text.

    Raises:
        IntegrityError: not valid base64.
    """
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        msg = f"{what}: bad base64 ({exc})"
        raise IntegrityError(msg) from None


def check_version(found: object, supported: int, what: str) -> int:
    """Accept versions 1..supported.

    Raises:
        FormatVersionError: a newer version than this s3vault understands.
        IntegrityError: not a version number.
    """
    if not isinstance(found, int) or found < 1:
        msg = f"{what}: bad format version {found!r}"
        raise IntegrityError(msg)
    if found > supported:
        msg = (
            f"{what} has format version {found}, this s3vault reads up to {supported}: "
            "upgrade s3vault"
        )
        raise FormatVersionError(msg)
    return found


def field(obj: JsonDict, key: str, kind: type, what: str) -> Any:
    """Fetch a typed field from a decoded JSON object.

    Raises:
        IntegrityError: missing or of the wrong type.
    """
    value = obj.get(key)
    if kind is int and isinstance(value, bool):
        value = None
    if not isinstance(value, kind):
        msg = f"{what}: field {key!r} missing or not {kind.__name__}"
        raise IntegrityError(msg)
    return value


def encode_name(name: bytes) -> JsonDict:
    """A file name (arbitrary bytes) as JSON: text when it is UTF-8, base64 otherwise."""
    try:
        return {"name": name.decode("utf-8")}
    except UnicodeDecodeError:
        return {"name_b64": b64(name)}


def decode_name(obj: JsonDict, what: str, key: str = "name") -> bytes:
    """Inverse of encode_name.

    Raises:
        IntegrityError: neither form present, or text that is not Unicode (a lone surrogate).
    """
    if isinstance(obj.get(key), str):
        try:
            return str(obj[key]).encode("utf-8")
        except UnicodeEncodeError:
            msg = f"{what}: {key} is not valid Unicode"
            raise IntegrityError(msg) from None
    if isinstance(obj.get(key + "_b64"), str):
        return unb64(obj[key + "_b64"], what)
    msg = f"{what}: missing {key}"
    raise IntegrityError(msg)
