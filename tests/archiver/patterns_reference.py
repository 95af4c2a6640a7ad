"""The first s3vault implementation of restic's patterns: a line-by-line port of restic's
``filter.match`` (components, windows, ``**`` expanded into 0, 1, 2, ... ``*``), slow but plainly
restic's algorithm. s3vault.patterns compiles each pattern into one regex instead; the property
test in test_restic_excludes.py holds the two to the same answers. Test code only."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

_SPECIAL = frozenset("\\[]*?")


class BadPatternError(ValueError):
    """A component is not a valid ``filepath.Match`` pattern."""


@dataclass(frozen=True, slots=True)
class _Part:
    """One component of a pattern: ``/`` (the root), ``**``, literal text, or a glob."""

    text: str
    regex: re.Pattern[str] | None = None  # None: compared literally

    @property
    def any_depth(self) -> bool:
        return self.text == "**"

    def matches(self, component: str) -> bool:
        if self.regex is None:
            return self.text == component
        return component != "/" and self.regex.fullmatch(component) is not None


_STAR = _Part("*", re.compile(".*", re.DOTALL))


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
    """The regex of the class starting after ``[`` at ``i``, and the index after its ``]``."""
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
        return ("." if negated else "(?!)"), i
    return f"[{'^' if negated else ''}{body}]", i


def _glob(part: str) -> re.Pattern[str]:
    """Go's ``filepath.Match`` pattern for one component, as a regex for a whole name.

    Raises:
        BadPatternError: the pattern is malformed.
    """
    out, i = [], 0
    while i < len(part):
        c = part[i]
        if c == "*":
            out.append(".*")
            i += 1
        elif c == "?":
            out.append(".")
            i += 1
        elif c == "[":
            regex, i = _class(part, i + 1)
            out.append(regex)
        elif c == "\\":
            if i + 1 >= len(part):
                raise BadPatternError("it ends in \\")
            out.append(re.escape(part[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def _clean(path: str) -> str:
    """Go's ``filepath.Clean``."""
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def split_path(path: str) -> list[str]:
    """Components of a path; an absolute path starts with the component ``/``."""
    parts = path.split("/")
    if parts[0] == "":
        parts[0] = "/"
    return [p for i, p in enumerate(parts) if p or i == 0]


@dataclass(frozen=True, slots=True)
class Pattern:
    """One parsed pattern."""

    original: str
    parts: tuple[_Part, ...]
    negated: bool

    @classmethod
    def parse(cls, text: str) -> Pattern:
        """Parse a non-empty pattern.

        Raises:
            BadPatternError: a component is malformed.
        """
        negated = text.startswith("!")
        body = text[1:] if negated else text
        cleaned = _clean(body)
        pieces = cleaned.split("/")
        if pieces[0] == "":
            pieces[0] = "/"
        parts = []
        for i, piece in enumerate(pieces):
            if i == 0 and piece == "/":
                parts.append(_Part("/"))
            elif piece in ("**", ""):  # "" only after the root: the pattern "/"
                parts.append(_Part("**"))
            elif _SPECIAL.isdisjoint(piece):
                parts.append(_Part(piece))
            else:
                parts.append(_Part(piece, _glob(piece)))
        return cls(text, tuple(parts), negated)

    def matches(self, components: list[str]) -> bool:
        """True when the path (as split_path gives it) matches."""
        return _match(self.parts, components)


def _match(parts: tuple[_Part, ...], strs: list[str]) -> bool:
    for pos, part in enumerate(parts):
        if part.any_depth:  # try ** as 0, 1, 2, ... components
            for n in range(len(strs) - len(parts) + 2):
                if _match(parts[:pos] + (_STAR,) * n + parts[pos + 1 :], strs):
                    return True
            return False
    if not parts:
        return not strs
    if len(parts) > len(strs):
        return False
    lowest, highest = 0, len(strs) - len(parts)
    if parts[0].text == "/" and parts[0].regex is None:
        highest = 0  # anchored at the root
    elif strs[0] == "/":
        lowest = 1  # a relative pattern never matches the root itself
    return any(
        all(p.matches(strs[offset + i]) for i, p in enumerate(parts))
        for offset in range(highest, lowest - 1, -1)
    )


def reference_matches(patterns: list[str], path: str) -> bool:
    """restic's ``filter.List``: in order, ``!`` patterns cancel an earlier match."""
    strs = split_path(path)
    matched = False
    for text in patterns:
        if not text:
            continue
        pattern = Pattern.parse(text)
        hit = pattern.matches(strs)
        matched = (matched and not hit) if pattern.negated else (matched or hit)
    return matched
