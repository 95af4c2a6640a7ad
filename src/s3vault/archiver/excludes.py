"""What not to back up: gitignore-syntax patterns, exclude files, CACHEDIR.TAG, file systems.

Patterns match the absolute path (without its leading ``/``), so ``*.log`` matches anywhere,
``/var/tmp`` only that directory, and ``cache/`` only directories, as in a .gitignore at ``/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pathspec

from s3vault.errors import UsageError

CACHEDIR_TAG = b"CACHEDIR.TAG"
CACHEDIR_SIGNATURE = b"Signature: 8a477f597d28d172789f06886806bc55"


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
    ) -> ExcludeRules:
        """Gather patterns from options and exclude files.

        Raises:
            UsageError: an exclude file cannot be read.
        """
        all_patterns = list(patterns)
        for path in exclude_files:
            try:
                lines = path.read_text().splitlines()
            except OSError as exc:
                msg = f"cannot read exclude file {path}: {exc.strerror}"
                raise UsageError(msg) from None
            all_patterns.extend(
                line.strip() for line in lines if line.strip() and not line.startswith("#")
            )
        return cls(tuple(all_patterns), exclude_caches, one_file_system)

    def matcher(self) -> ExcludeMatcher:
        """A matcher for the walk."""
        return ExcludeMatcher(self)


class ExcludeMatcher:
    """Answers "skip this path?" during a walk."""

    def __init__(self, rules: ExcludeRules) -> None:
        self._rules = rules
        self._spec = pathspec.GitIgnoreSpec.from_lines(rules.patterns) if rules.patterns else None

    def excluded(self, path: bytes, is_dir: bool) -> bool:
        """True when a pattern excludes this absolute path."""
        if self._spec is None:
            return False
        rel = os.fsdecode(path).lstrip("/")
        if is_dir:
            rel += "/"
        return bool(self._spec.match_file(rel))

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
