"""Path patterns with restic's rules (restic's ``internal/filter``), for backup excludes and
restore's ``--include``/``--exclude``. Pure functions, no I/O.

A pattern is matched against the whole absolute path, component by component:

- it is cleaned first (``a/./b/`` is ``a/b``; a trailing ``/`` means nothing);
- a pattern starting with ``/`` is anchored at the root: ``/var/tmp`` matches ``/var/tmp``
  and everything below it;
- any other pattern matches at every depth: ``a/cache`` matches ``/x/a/cache`` (and below),
  ``*.log`` every ``.log`` file anywhere, ``cache`` every file or directory named cache;
- in a component, ``*`` is any run of characters, ``?`` one character, ``[a-z]`` and
  ``[^a-z]`` character classes, ``\\`` escapes the next character (Go's ``filepath.Match``);
- ``**`` as a whole component matches any number of components (none included);
- ``!pattern`` re-includes what an earlier pattern excluded (a directory already excluded is
  not entered, so nothing below it comes back); ``\\!`` is a literal ``!``.

A malformed pattern (``[a``, a trailing ``\\``) is refused up front, as restic 0.14 does.
"""

from __future__ import annotations

import codecs
import errno
import os
import posixpath
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from s3vault.errors import UsageError

_SPECIAL = frozenset("\\[]*?")
_COMPONENT = "[^/]+"
SEEN = 1024  # paths whose reached pieces a ** pattern keeps (a directory's, for what is in it)


class BadPatternError(ValueError):
    """A component is not a valid ``filepath.Match`` pattern."""


def _escaped(part: str, i: int) -> tuple[str, int]:
    """One character of a class (Go's getEsc): its value and the index after it."""
    if i >= len(part) or part[i] in "-]":
        raise BadPatternError("a character class is malformed")
    if part[i] == "\\":
        i += 1
        if i >= len(part):
            raise BadPatternError("a character class ends in \\")
    if i + 1 >= len(part):
        raise BadPatternError("a character class is not closed with ]")
    return part[i], i + 1


def _class(part: str, i: int) -> tuple[str, int]:
    """The regex of the class starting after ``[`` at ``i`` (never matching ``/``), and the
    index after its ``]``."""
    negated = i < len(part) and part[i] == "^"
    i += negated
    ranges: list[tuple[str, str]] = []
    while True:
        if i < len(part) and part[i] == "]" and ranges:
            i += 1
            break
        lo, i = _escaped(part, i)
        hi = lo
        if part[i] == "-":
            hi, i = _escaped(part, i + 1)
        ranges.append((lo, hi))
    body = "".join(
        re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}"
        for lo, hi in ranges
        if lo <= hi  # Go accepts an inverted range; it matches nothing
    )
    if not body:
        return ("[^/]" if negated else "(?!)"), i
    return f"(?:(?!/)[{'^' if negated else ''}{body}])", i


def _glob(part: str) -> str:
    """Go's ``filepath.Match`` pattern for one component, as a regex for a whole component.

    Linear in the component's length, however many ``*`` it has: the pieces between two
    ``*`` have a fixed length, so the leftmost place of each is always a right one, and each is
    taken in an atomic group (no backtracking into it). A plain translation (``[^/]*`` for
    each ``*``) backtracked: ``*-*-*-*-*.log`` against a 200-character name with many dashes
    took seconds per name.

    Raises:
        BadPatternError: the pattern is malformed.
    """
    chunks: list[list[str]] = [[]]  # the pieces between the stars, each a list of regexes
    i = 0
    while i < len(part):
        c = part[i]
        if c == "*":
            chunks.append([])
            i += 1
        elif c == "?":
            chunks[-1].append("[^/]")
            i += 1
        elif c == "[":
            regex, i = _class(part, i + 1)
            chunks[-1].append(regex)
        elif c == "\\":
            if i + 1 >= len(part):
                raise BadPatternError("it ends in \\")
            chunks[-1].append(re.escape(part[i + 1]))
            i += 2
        else:
            chunks[-1].append(re.escape(c))
            i += 1
    if len(chunks) == 1:
        return "".join(chunks[0])
    first, *middle, last = ("".join(chunk) for chunk in chunks)
    return first + "".join(f"(?>[^/]*?{m})" for m in middle if m) + "[^/]*" + last


def fold_case(text: str) -> str:
    """Text lowercased as restic lowercases the paths and patterns of ``--iexclude``,
    ``--iinclude`` and ``find -i`` (Go's ``strings.ToLower``: each character's own
    lowercase). Python's ``str.lower`` also applies Unicode's full and contextual mappings:
    "İ" became "i" with a combining dot, and a final "Σ" "ς", so ``--iexclude istanbul``
    missed "İstanbul" where restic excludes it (a restic user's attack pass, 2026-12-07)."""
    if "\u0130" in text or "\u03a3" in text:  # the only characters where the two differ
        return "".join(ch.lower()[0] for ch in text)
    return text.lower()


def name_matcher(pattern: str) -> re.Pattern[str]:
    """Go's ``filepath.Match`` for one path component (``fullmatch`` a name with it): the
    glob expansion of ``backup --files-from`` (archiver/filelists.py).

    Raises:
        BadPatternError: the pattern is malformed.
    """
    return re.compile(_glob(pattern), re.DOTALL)


def _clean(path: str) -> str:
    """Go's ``filepath.Clean``."""
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


@dataclass(frozen=True, slots=True)
class Pattern:
    """One parsed pattern: a regex over the whole path (``/a/b``) that matches where restic's
    component-wise matching does. Each component of the pattern is one ``/``-led piece; ``**``
    is any number of components; an anchored pattern starts at the root, any other at some
    component; the match ends at the end of a component (what is below a match matches too)."""

    original: str
    regex: re.Pattern[str]
    negated: bool
    # restic expands ``**`` only while the pattern has at most one component more than the
    # path (its root counted as one): a pattern with many ``**`` needs that many components
    shortest: int = 0
    # with ``**``: each piece's regex for one component (None: ``**``), matched component by
    # component (``_walk``); a regex with nested ``(?:/[^/]+)*`` took minutes on a deep path
    pieces: tuple[re.Pattern[str] | None, ...] = ()
    anchored: bool = False
    # with ``pieces``: the pieces reached at paths matched lately (None: matched), by path
    _seen: dict[str, frozenset[int] | None] = field(default_factory=dict, compare=False)

    @classmethod
    def parse(cls, text: str) -> Pattern:
        """Parse a non-empty pattern.

        Raises:
            BadPatternError: a component is malformed.
        """
        negated = text.startswith("!")
        cleaned = _clean(text[1:] if negated else text)
        anchored = cleaned.startswith("/")
        pieces = cleaned.split("/")[1:] if anchored else cleaned.split("/")
        shortest = len(pieces) + anchored - 2 if "**" in pieces or "" in pieces else 0
        while not anchored and len(pieces) > 1 and pieces[0] == "**":
            pieces.pop(0)  # a relative pattern starts at any component anyway
        regex, components = [], 0
        for piece in pieces:
            if piece in ("**", ""):  # "" only in the pattern "/": the root and all below
                regex.append(f"(?:/{_COMPONENT})*")
                continue
            components += 1
            literal = _SPECIAL.isdisjoint(piece)
            regex.append("/" + (re.escape(piece) if literal else "(?=[^/])" + _glob(piece)))
        if not anchored and not components:  # only **: any path but the root
            regex = [f"(?:/{_COMPONENT})+"]
        body = "".join(regex) + "(?=/|\\Z)"
        regex_text = ("\\A" if anchored else "") + body
        walked: tuple[re.Pattern[str] | None, ...] = ()
        if components and any(piece in ("**", "") for piece in pieces):
            walked = tuple(
                None if piece in ("**", "") else re.compile(_glob(piece), re.DOTALL)
                for piece in pieces
            )
        compiled = re.compile(regex_text, re.DOTALL)
        return cls(text, compiled, negated, shortest, walked, anchored)

    def matches(self, path: str) -> bool:
        """True when the absolute path (``/etc/hosts``) matches."""
        if self.shortest and path.count("/") < self.shortest:
            return False
        if self.pieces:
            return self._reached(path) is None
        return self.regex.search(path) is not None

    def _reached(self, path: str) -> frozenset[int] | None:
        """The pieces reached after the path's components (None: a prefix matched, so the path
        does). A walk visits a directory before what is in it, so the parent's answer is
        usually known (``_seen``): one step per path, not one per component, and a tree
        10,000 levels deep costs 10,000 steps, not 50 million."""
        parent, _, last = path.rpartition("/")
        reached: frozenset[int] | None
        if last and parent in self._seen:
            known = self._seen[parent]
            reached = None if known is None else self._step(known, last)
        else:
            reached = frozenset(self._closure({0}))
            for component in (c for c in path.split("/") if c):
                reached = self._step(reached, component)
                if reached is None:
                    break
        if len(self._seen) >= SEEN:
            self._seen.clear()
        self._seen[path] = reached
        return reached

    def _step(self, reached: frozenset[int], component: str) -> frozenset[int] | None:
        """The pieces reached after one more component (None: the pattern has matched)."""
        pieces, end = self.pieces, len(self.pieces)
        if end in reached:
            return None
        after = {0} if not self.anchored else set()
        for i in reached:
            piece = pieces[i]
            if piece is None:
                after.add(i)  # ** takes this component and stays
            elif piece.fullmatch(component):
                after.add(i + 1)
        out = self._closure(after)
        return None if end in out else frozenset(out)

    def _closure(self, reached: set[int]) -> set[int]:
        """``reached`` and every piece after a run of ``**`` from it (``**`` takes none)."""
        out, todo = set(), list(reached)
        while todo:
            i = todo.pop()
            if i not in out:
                out.add(i)
                if i < len(self.pieces) and self.pieces[i] is None:
                    todo.append(i + 1)
        return out


class PatternList:
    """Patterns in order; ``!`` patterns re-include. Empty patterns are ignored."""

    def __init__(self, patterns: Iterable[str], *, what: str = "--exclude") -> None:
        """Parse every pattern.

        Raises:
            UsageError: a pattern is malformed (the message names it and ``what``).
        """
        parsed = []
        for text in patterns:
            if not text:
                continue
            try:
                parsed.append(Pattern.parse(text))
            except BadPatternError as exc:
                msg = (
                    f"{what} {text!r} is not a valid pattern: {exc} (restic's syntax: "
                    "*, ?, [a-z], [^a-z], ** for any depth, \\ to escape, ! to re-include)"
                )
                raise UsageError(msg) from None
        self._patterns = tuple(parsed)
        self._negations = any(p.negated for p in parsed)

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def matching(self, path: str) -> frozenset[int]:
        """The positions of the patterns (not ``!`` ones) that select ``path`` on their own."""
        return frozenset(
            n for n, p in enumerate(self._patterns) if not p.negated and p.matches(path)
        )

    def matches(self, path: str, *, skip: frozenset[int] = frozenset(), below: str = "") -> bool:
        """True when the patterns select ``path`` (an absolute path such as ``/etc/hosts``);
        the patterns at the positions ``skip`` are matched against ``below`` instead (the
        part of the path below a directory they match themselves), or not at all when they
        are anchored (they name that directory from the root, nothing below it)."""
        matched = False
        for n, pattern in enumerate(self._patterns):
            if n in skip and pattern.anchored:
                continue
            where = below if n in skip else path
            if pattern.negated:
                matched = matched and not pattern.matches(where)
            elif not matched:
                matched = pattern.matches(where)
                if matched and not self._negations:
                    return True
        return matched


# Go's os.Expand: ${name}, $name (letters, digits, _), or one of the shell's special names
_VARIABLE = re.compile(r"\$(?:\{([^}]*)\}|(\{)|([*#$@!?\-0-9])|([A-Za-z0-9_]*))")


def expand_variables(line: str, environ: Mapping[str, str]) -> str:
    """Replace variables as restic does in exclude files (Go's ``os.Expand``): an unset
    variable is empty, ``$$`` is ``$``, a ``$`` before anything else stays."""

    def value(m: re.Match[str]) -> str:
        braced, unclosed, special, plain = m.groups()
        if unclosed is not None or braced == "":
            return ""  # "${" without its "}", or "${}": Go drops them
        if braced is not None:
            name = braced
        elif special is not None:
            name = special
        elif plain:
            name = plain
        else:
            return "$"  # nothing that makes a name: the $ stays
        return "$" if name == "$" else environ.get(name, "")

    return _VARIABLE.sub(value, line)


def read_pattern_file(
    path: Path, environ: Mapping[str, str] | None = None, *, what: str = "exclude file"
) -> list[str]:
    """The patterns of a pattern file (restic's exclude and include files): one a line,
    blank lines and ``#`` comments left out, ``$VAR`` expanded from ``environ`` (none when
    None).

    Raises:
        UsageError: the file cannot be read.
    """
    try:
        raw_bytes = _read_whole(path)
    except OSError as exc:
        msg = f"cannot read {what} {path}: {exc.strerror}"
        raise UsageError(msg) from None
    lines = _text(raw_bytes).splitlines()
    patterns = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pattern = expand_variables(line, environ) if environ is not None else line
        try:  # said here, with its file and line (it was "--exclude '[abc'": an attack pass)
            Pattern.parse(pattern)
        except BadPatternError as exc:
            msg = (
                f"{path} line {number}: {pattern!r} is not a valid pattern: {exc} (restic's "
                "syntax: *, ?, [a-z], [^a-z], ** for any depth, \\ to escape, ! to re-include)"
            )
            raise UsageError(msg) from None
        patterns.append(pattern)
    return patterns


def _read_whole(path: Path) -> bytes:
    """The file's bytes. A FIFO no process writes to is refused, not waited on for ever
    (restic waits); a pipe with a writer (``<(...)``, /dev/stdin) is read to its end.

    Raises:
        OSError: it cannot be opened or read; ENXIO for a FIFO without a writer.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            try:
                first = os.read(fd, 65536)
            except BlockingIOError:  # a writer, nothing written yet: wait for it
                first = None
            if first == b"":
                raise OSError(errno.ENXIO, "a FIFO no process writes to (it would wait for ever)")
            os.set_blocking(fd, True)
            chunks = [first] if first else []
        else:
            os.set_blocking(fd, True)
            chunks = []
        while block := os.read(fd, 1 << 20):
            chunks.append(block)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _text(raw: bytes) -> str:
    """A pattern file's text as restic reads it (Go's textfile.Read): UTF-16 with its byte
    order mark (as Windows' Notepad saves it: such a file matched nothing, silently), else
    UTF-8 with or without one; bytes that are not UTF-8 kept as they are."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16", errors="surrogateescape")
    return raw.decode("utf-8-sig", errors="surrogateescape")
