"""What not to back up: exclude patterns (restic's rules, see s3vault.patterns), exclude files,
case-insensitive ones, tag files (CACHEDIR.TAG, ``--exclude-if-present``), sizes, file systems.

Patterns match the absolute path as recorded in the snapshot: ``*.log`` and ``a/cache`` at any
depth, ``/var/tmp`` only there (and below), ``cache/`` the same as ``cache`` (files and
directories), ``!pattern`` re-includes. Exclude files are read as restic reads them: one
pattern a line, surrounding white space dropped, empty lines and lines starting with ``#``
ignored, ``$VAR`` and ``${VAR}`` replaced from the environment given (``$$`` is a ``$``).
Case-insensitive patterns (``--iexclude``) are lowercased and matched against the lowercased
path, in a list of their own (a ``!`` re-includes only what that list excluded), as restic does.

A tag file ``FILE[:HEADER]`` marks a directory whose contents are skipped (the directory and the
tag file itself stay, as in restic): FILE is in it and, when a HEADER is given, starts with
those bytes; a tag file whose header differs is a warning and the directory is kept whole.
``--exclude-caches`` is the tag file ``CACHEDIR.TAG:Signature: 8a477f597d28d172789f06886806bc55``.
``--exclude-larger-than SIZE`` skips anything but a directory whose size is above SIZE.
"""

from __future__ import annotations

import bisect
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from s3vault.errors import UsageError
from s3vault.patterns import PatternList, fold_case, read_pattern_file

CACHEDIR_TAG = b"CACHEDIR.TAG"
CACHEDIR_SIGNATURE = b"Signature: 8a477f597d28d172789f06886806bc55"

# restic's ui.ParseBytes: a whole number, then at most one unit letter (b, k, m, g, t: powers of
# 1024, either case)
_SIZE = re.compile(r"(\d+)([bkmgt]?)", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_MAX_SIZE = (1 << 63) - 1  # Go's int64, as restic


def parse_size(text: str, *, what: str = "size") -> int:
    """Bytes of a size written as restic writes them: ``512``, ``512b``, ``100K``, ``10M``,
    ``1G``, ``2T`` (binary units; a unit letter in either case).

    Raises:
        UsageError: anything else (decimals, two unit letters, a sign, too large).
    """
    m = _SIZE.fullmatch(text.strip())
    value = int(m.group(1)) * _SIZE_UNITS[m.group(2).lower()] if m else -1
    if not 0 <= value <= _MAX_SIZE:
        msg = (
            f"{what} {text!r} is not a size: give a whole number with an optional unit "
            "(b, K, M, G, T: powers of 1024, as restic), e.g. 512K or 1G"
        )
        raise UsageError(msg)
    return value


@dataclass(frozen=True, slots=True)
class TagFile:
    """A tag file that excludes the contents of its directory: its name, and the bytes it must
    start with (empty: being there is enough)."""

    name: bytes
    header: bytes = b""

    @classmethod
    def parse(cls, spec: str) -> TagFile:
        """Parse ``FILE[:HEADER]`` (restic's ``--exclude-if-present``).

        Raises:
            UsageError: no file name.
        """
        name, _, header = spec.partition(":")
        if not name:
            msg = f"--exclude-if-present {spec!r}: give a file name (FILE or FILE:HEADER)"
            raise UsageError(msg)
        return cls(os.fsencode(name), os.fsencode(header))


CACHEDIR = TagFile(CACHEDIR_TAG, CACHEDIR_SIGNATURE)


@dataclass(frozen=True, slots=True)
class ExcludeRules:
    """Compiled exclude rules."""

    patterns: tuple[str, ...] = ()
    exclude_caches: bool = False
    one_file_system: bool = False
    ipatterns: tuple[str, ...] = ()  # lowercased
    tag_files: tuple[TagFile, ...] = ()
    larger_than: int | None = None  # bytes

    @classmethod
    def build(
        cls,
        patterns: tuple[str, ...] = (),
        exclude_files: tuple[Path, ...] = (),
        *,
        exclude_caches: bool = False,
        one_file_system: bool = False,
        environ: Mapping[str, str] | None = None,
        ipatterns: tuple[str, ...] = (),
        iexclude_files: tuple[Path, ...] = (),
        if_present: tuple[str, ...] = (),
        larger_than: str | None = None,
    ) -> ExcludeRules:
        """Gather patterns from options and exclude files (``environ``: the variables to
        expand in exclude files; None expands nothing). Every pattern, tag file and size is
        checked here.

        Raises:
            UsageError: an exclude file cannot be read, a pattern is malformed, a tag file has
                no name or the size is not one.
        """
        all_patterns = list(patterns)
        for path in exclude_files:
            all_patterns.extend(read_pattern_file(path, environ))
        PatternList(all_patterns)  # refuse a malformed pattern before anything is read
        folded = list(ipatterns)
        for path in iexclude_files:
            folded.extend(read_pattern_file(path, environ))
        folded = [fold_case(p) for p in folded]
        PatternList(folded, what="--iexclude")
        tags = tuple(TagFile.parse(spec) for spec in if_present)
        size = parse_size(larger_than, what="--exclude-larger-than") if larger_than else None
        return cls(
            tuple(all_patterns),
            exclude_caches,
            one_file_system,
            tuple(folded),
            tags,
            size,
        )

    def matcher(self) -> ExcludeMatcher:
        """A matcher for the walk."""
        return ExcludeMatcher(self)


class Below(NamedTuple):
    """How a walk goes on inside a directory (``ExcludeMatcher.below``: --one-file-system)."""

    device: int  # the file system its entries stay on
    way_only: bool  # on another file system, only the way to a named path: the rest is left out


class ExcludeMatcher:
    """Answers "skip this path?" during a walk (the backup's and the progress scanner's)."""

    def __init__(self, rules: ExcludeRules, *, named: Iterable[bytes] = ()) -> None:
        """``named``: the backup's targets as recorded; no exclude drops one (``skipped``)."""
        self._rules = rules
        self._patterns = PatternList(rules.patterns)
        self._ipatterns = PatternList(rules.ipatterns, what="--iexclude")
        tags = list(rules.tag_files)
        if rules.exclude_caches and CACHEDIR not in tags:
            tags.append(CACHEDIR)
        self._tags = tuple(tags)
        self._spares: dict[bytes, tuple[frozenset[int], frozenset[int]]] = {}  # (_spared)
        self._named = frozenset(named)  # targets (below another one too): never excluded
        self._named_sorted = sorted(self._named)  # (a directory that leads to one: kept too)
        # named paths the patterns match themselves (``d/sub --exclude sub``): below them,
        # those patterns match the part of a path below it (else all of it, through its name)
        self._named_matched = frozenset(p for p in self._named if self.matches(p))
        # nothing to match: the walk need not ask for each entry
        self.empty = not self._patterns and not self._ipatterns and rules.larger_than is None

    def skipped(
        self, recorded: bytes, name: bytes, st: os.stat_result, tagged: frozenset[bytes] | None
    ) -> bool:
        """Whether a walk leaves out this entry of a directory (``recorded``: its path as the
        snapshot records it; ``tagged``: the entries a tag file of the directory spares, or
        None). A path the user named is never left out, nor a directory on the way to one
        (``d d/sub --exclude sub`` dropped d/sub without a word: docs/usage.md promises
        otherwise); else the tag files, then the patterns and the size limit decide."""
        if recorded in self._named or self._leads_to_named(recorded):
            return False
        if tagged is not None and name not in tagged:
            return True
        if self.empty:
            return False
        spare = _above(recorded, self._named_matched) if self._named_matched else None
        return self.excluded(recorded, st, spare=spare)

    def below(self, recorded: bytes, dev: int, root_dev: int) -> Below | None:
        """How the walk goes on inside a directory (``recorded``: its path as the snapshot
        records it; ``dev``: its device; ``root_dev``: the device the walk above it stays on).
        None: ``--one-file-system`` and a mount point; the directory is kept, empty. A
        directory the user named is the top of its own file system's walk, also below another
        named one (``/srv /srv/data``: data, a mount point, was dropped without a word; restic
        backs it up); one on another file system that leads to a named path is walked only on
        the way to it, as restic does."""
        if not self._rules.one_file_system or dev == root_dev:
            return Below(root_dev, False)
        if recorded in self._named:
            return Below(dev, False)
        if self._leads_to_named(recorded):
            return Below(root_dev, True)
        return None

    def _leads_to_named(self, recorded: bytes) -> bool:
        """Whether a named path lies below this one (``d d/x/sub --exclude x``: x is kept as
        the way to d/x/sub, and what else is in x is matched by the excludes as usual)."""
        if len(self._named_sorted) < 2:
            return False  # one target: nothing named below it
        below = recorded + b"/"
        at = bisect.bisect_left(self._named_sorted, below)
        return at < len(self._named_sorted) and self._named_sorted[at].startswith(below)

    def excluded(self, path: bytes, st: os.stat_result, *, spare: bytes | None = None) -> bool:
        """True when the patterns or the size limit exclude this absolute path (directories
        and files alike for patterns, as in restic; the size limit spares directories).
        ``spare``: a named directory above ``path`` that patterns match themselves; those
        patterns are matched against the part of ``path`` below it (matched against the whole
        path they would take all of it, through the directory's own name)."""
        limit = self._rules.larger_than
        if limit is not None and st.st_size > limit and not stat.S_ISDIR(st.st_mode):
            return True
        return self.matches(path, spare=spare)

    def matches(self, path: bytes, *, spare: bytes | None = None) -> bool:
        """True when the patterns (not the size limit) exclude this absolute path (``spare``:
        as ``excluded`` says)."""
        if not self._patterns and not self._ipatterns:
            return False
        skip, iskip = self._spared(spare)
        text = os.fsdecode(path)
        below = text[len(os.fsdecode(spare)) :] if spare is not None else ""
        if self._patterns and self._patterns.matches(text, skip=skip, below=below):
            return True
        return bool(self._ipatterns) and self._ipatterns.matches(
            fold_case(text), skip=iskip, below=fold_case(below)
        )

    def _spared(self, spare: bytes | None) -> tuple[frozenset[int], frozenset[int]]:
        """The positions of the patterns and the folded patterns that match ``spare``."""
        if spare is None:
            return frozenset(), frozenset()
        known = self._spares.get(spare)
        if known is None:
            text = os.fsdecode(spare)
            known = (self._patterns.matching(text), self._ipatterns.matching(fold_case(text)))
            self._spares[spare] = known
        return known

    def tagged(self, path: bytes) -> tuple[frozenset[bytes] | None, list[str]]:
        """Whether a directory is tagged: (None when it is not, else the names of its entries
        that stay: the tag files that tag it; warnings about tag files whose header differs).
        ``path`` reaches the directory (it may be a /proc/self/fd one)."""
        keep: frozenset[bytes] | None = None
        problems: list[str] = []
        for tag in self._tags:
            found, problem = _tag_present(path, tag)
            if problem:
                problems.append(problem)
            if found:
                # an entry stays only if no tag file present excludes it (restic: one reject
                # function per tag file, each sparing its own file)
                keep = frozenset({tag.name}) if keep is None else keep & {tag.name}
        return keep, problems

    @property
    def one_file_system(self) -> bool:
        """Stay on the file system of each backup target."""
        return self._rules.one_file_system


def _above(path: bytes, ancestors: frozenset[bytes]) -> bytes | None:
    """The nearest of ``ancestors`` that is a directory above ``path``, or None (a loop over
    its components: only run when some named path matches an exclude, which is rare)."""
    head = path
    while (head := head.rpartition(b"/")[0]) and head not in ancestors:
        pass
    return head or None


def _tag_present(directory: bytes, tag: TagFile) -> tuple[bool, str]:
    """(the directory holds this tag file with its header, a warning when it holds the file
    but not the header). Without a header, being there (any type) is enough, as in restic."""
    path = os.path.join(directory, tag.name)
    shown = os.fsdecode(tag.name)
    try:
        os.lstat(path)
        if not tag.header:
            return True, ""
        # A link to the tag file is followed, as restic's open does (a CACHEDIR.TAG linked to
        # a shared one was kept: an attack pass, 2026-12-07); O_NONBLOCK and the check of
        # what was opened: never wait on a FIFO or read a device for a header
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, "rb", buffering=0) as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return False, f"tag file {shown} is not a regular file: not excluded"
            head = f.read(len(tag.header))
    except FileNotFoundError:
        return False, ""
    except OSError as exc:
        return False, f"cannot read tag file {shown}: {exc.strerror}; not excluded"
    if head != tag.header:
        return False, f"tag file {shown} does not start with the expected header: not excluded"
    return True, ""
