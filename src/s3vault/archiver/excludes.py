"""What not to back up: exclude patterns (restic's rules, see s3vault.patterns), exclude files,
CACHEDIR.TAG, file systems.

Patterns match the absolute path as recorded in the snapshot: ``*.log`` and ``a/cache`` at any
depth, ``/var/tmp`` only there (and below), ``cache/`` the same as ``cache`` (files and
directories), ``!pattern`` re-includes. Exclude files are read as restic reads them: one
pattern a line, surrounding white space dropped, empty lines and lines starting with ``#``
ignored, ``$VAR`` and ``${VAR}`` replaced from the environment given (``$$`` is a ``$``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from s3vault.errors import UsageError
from s3vault.patterns import PatternList

CACHEDIR_TAG = b"CACHEDIR.TAG"
CACHEDIR_SIGNATURE = b"Signature: 8a477f597d28d172789f06886806bc55"

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


def read_exclude_file(path: Path, environ: Mapping[str, str] | None = None) -> list[str]:
    """The patterns of an exclude file.

    Raises:
        UsageError: the file cannot be read.
    """
    try:
        lines = path.read_text(encoding="utf-8-sig", errors="surrogateescape").splitlines()
    except OSError as exc:
        msg = f"cannot read exclude file {path}: {exc.strerror}"
        raise UsageError(msg) from None
    patterns = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        patterns.append(expand_variables(line, environ) if environ is not None else line)
    return patterns


@dataclass(frozen=True, slots=True)
class ExcludeRules:
    """Compiled exclude rules."""

    patterns: tuple[str, ...] = ()
    exclude_caches: bool = False
    one_file_system: bool = False

    @classmethod
    def build(
        cls,
        patterns: tuple[str, ...] = (),
        exclude_files: tuple[Path, ...] = (),
        *,
        exclude_caches: bool = False,
        one_file_system: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> ExcludeRules:
        """Gather patterns from options and exclude files (``environ``: the variables to
        expand in exclude files; None expands nothing). Every pattern is checked here.

        Raises:
            UsageError: an exclude file cannot be read, or a pattern is malformed.
        """
        all_patterns = list(patterns)
        for path in exclude_files:
            all_patterns.extend(read_exclude_file(path, environ))
        PatternList(all_patterns)  # refuse a malformed pattern before anything is read
        return cls(tuple(all_patterns), exclude_caches, one_file_system)

    def matcher(self) -> ExcludeMatcher:
        """A matcher for the walk."""
        return ExcludeMatcher(self)


class ExcludeMatcher:
    """Answers "skip this path?" during a walk."""

    def __init__(self, rules: ExcludeRules) -> None:
        self._rules = rules
        self._patterns = PatternList(rules.patterns)

    def excluded(self, path: bytes, is_dir: bool) -> bool:
        """True when the patterns exclude this absolute path (directories and files alike,
        as in restic: ``is_dir`` does not matter)."""
        del is_dir
        return bool(self._patterns) and self._patterns.matches(os.fsdecode(path))

    def is_cache_dir(self, path: bytes) -> bool:
        """True for a directory tagged with a valid CACHEDIR.TAG (when enabled)."""
        if not self._rules.exclude_caches:
            return False
        try:
            with open(os.path.join(path, CACHEDIR_TAG), "rb") as f:
                return f.read(len(CACHEDIR_SIGNATURE)) == CACHEDIR_SIGNATURE
        except OSError:
            return False

    @property
    def one_file_system(self) -> bool:
        """Stay on the file system of each backup target."""
        return self._rules.one_file_system
