"""The paths of ``backup --files-from``, ``--files-from-verbatim`` and ``--files-from-raw``,
read as restic 0.17 reads them. Paths are bytes from end to end: a name that is not UTF-8
reaches the walk (and the snapshot) as it was listed.

- ``--files-from``: one path or glob pattern a line; a UTF-8 byte order mark is dropped (a
  UTF-16 file with one is decoded), then each line is stripped of surrounding white space;
  empty lines and lines starting with ``#`` are ignored. A line with a glob character
  (``*?[\\``) is expanded as Go's ``filepath.Glob`` does: component by component, ``*`` also
  matching names that start with a dot, ``[^a]`` negated, ``\\`` escaping, no ``**``; a pattern
  that matches nothing is a warning (the line is skipped).
- ``--files-from-verbatim``: one path a line, as it is (only the line end, ``\\n`` or ``\\r\\n``,
  is removed); empty lines are ignored; no comments, no globs.
- ``--files-from-raw``: paths each ended by a NUL byte (``find -print0``), bytes as they are;
  an empty name, or a last one without its NUL, is refused.

A list named ``-`` is standard input (given by the caller as a stream). Lines and names are
paths as on the command line: relative ones are relative to the working directory, or below
``--root``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Literal

from s3vault.errors import UsageError
from s3vault.patterns import BadPatternError, name_matcher

ListKind = Literal["files-from", "files-from-verbatim", "files-from-raw"]
_META = frozenset(b"*?[\\")
_UTF8_BOM = b"\xef\xbb\xbf"


def read_list(kind: ListKind, source: Path, stdin: BinaryIO | None) -> bytes:
    """The bytes of one list file (``-``: ``stdin``).

    Raises:
        UsageError: the file cannot be read (or ``-`` without a stream).
    """
    if str(source) == "-":
        if stdin is None:
            msg = f"--{kind} -: standard input is not available"
            raise UsageError(msg)
        return stdin.read()
    try:
        return source.read_bytes()
    except OSError as exc:
        msg = f"--{kind} {source}: cannot read it: {exc.strerror}"
        raise UsageError(msg) from None


def _text_lines(data: bytes) -> list[bytes]:
    """Lines as restic's textfile.Read and bufio.Scanner give them: byte order marks dropped,
    UTF-16 decoded, ``\\n`` or ``\\r\\n`` ends."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        data = os.fsencode(data.decode("utf-16", errors="surrogateescape"))
    elif data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    lines = data.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()  # the end of the last line
    return [line.removesuffix(b"\r") for line in lines]


def parse_verbatim(data: bytes) -> list[bytes]:
    """The paths of a ``--files-from-verbatim`` list."""
    return [line for line in _text_lines(data) if line]


def parse_patterns(data: bytes) -> list[bytes]:
    """The lines of a ``--files-from`` list that count: stripped, not empty, not comments."""
    out = []
    for raw in _text_lines(data):
        line = raw.strip()
        if line and not line.startswith(b"#"):
            out.append(line)
    return out


def parse_raw(data: bytes, source: str = "-") -> list[bytes]:
    """The paths of a ``--files-from-raw`` list: each ended by a NUL byte.

    Raises:
        UsageError: an empty name, or the last name has no NUL after it.
    """
    if not data:
        return []
    if not data.endswith(b"\0"):
        msg = f"--files-from-raw {source}: the last name is not followed by a NUL byte"
        raise UsageError(msg)
    names = data[:-1].split(b"\0")
    if not all(names):
        msg = f"--files-from-raw {source}: an empty name (two NUL bytes in a row)"
        raise UsageError(msg)
    return names


def has_glob(line: bytes) -> bool:
    """Whether ``filepath.Glob`` would treat the line as a pattern."""
    return not _META.isdisjoint(line)


def _matcher(part: bytes, line: bytes) -> Callable[[str], re.Match[str] | None]:
    try:
        return name_matcher(os.fsdecode(part)).fullmatch
    except BadPatternError as exc:
        msg = f"--files-from: {os.fsdecode(line)!r} is not a valid pattern: {exc}"
        raise UsageError(msg) from None


def expand_glob(line: bytes, root: bytes = b"") -> list[bytes]:
    """The paths a ``--files-from`` pattern matches, sorted per directory, as Go's
    ``filepath.Glob`` finds them (``root``: the directory the paths are read below; the paths
    returned do not include it). A literal line comes back as it is when it exists.

    Raises:
        UsageError: the pattern is malformed.
    """
    if not has_glob(line):
        return [line] if os.path.lexists(root + line) else []
    absolute = line.startswith(b"/")
    parts = [p for p in line.split(b"/") if p]
    matchers = {i: _matcher(p, line) for i, p in enumerate(parts) if has_glob(p)}
    found = [b"/" if absolute else b""]
    for i, part in enumerate(parts):
        match = matchers.get(i)
        step: list[bytes] = []
        for prefix in found:
            if match is None:
                step.append(os.path.join(prefix, part))
                continue
            directory = root + (prefix or b".")
            try:
                names = sorted(os.listdir(directory))  # follows a symlink, as os.Stat does
            except OSError:
                continue  # not a directory, or unreadable: no matches there (as Go)
            step.extend(os.path.join(prefix, n) for n in names if match(os.fsdecode(n)))
        found = step
    return [path for path in found if os.path.lexists(root + path)]
