"""cache: the local cache directories of the repositories this host used, and removing the
ones not used for a while (restic's ``cache [--cleanup] [--max-age N]``).

The cache root (``--cache-dir``, default ``$XDG_CACHE_HOME/s3vault``) holds one directory per
repository, named by its id (64 hex digits; design.md §12), and ``known-repositories.json``
(which repository was found at which location). Every open of a repository marks its
directory used (``mark_used``: its modification time, as restic does); an older directory
counts as used when its index cache was last written.

Only directories named by a repository id are ever touched: whatever else is in the root (a
``--cache-dir`` pointed at a directory holding other files) is left alone, and symbolic links
are not followed. Cleaning a directory removes the cache (index image, tree packs, snapshot
files, copy maps: all rebuilt on the next use, costing time only) but keeps the two small
files that are not a cache: ``audit-chains.json`` and ``audit-chains-*.json`` (the end of this
host's audit chain, per location, without which a deleted tail of the audit log can no longer
be detected, design.md §8b) and
``object-locks.json`` (the Object Lock retain-until times this host learnt).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from s3vault.clock import Clock, SystemClock
from s3vault.errors import UsageError
from s3vault.ids import ObjectId
from s3vault.repository.known import FILE as KNOWN_FILE

DEFAULT_MAX_AGE_DAYS = 30  # restic's
KEPT = frozenset({"audit-chains.json", "audit-chains.lock", "object-locks.json"})
KEPT_CHAINS = re.compile(r"audit-chains-[0-9a-f]{16}\.json")  # one per location


def _kept(name: str) -> bool:
    """Not a cache: kept by a cleanup."""
    return name in KEPT or KEPT_CHAINS.fullmatch(name) is not None


_DAY = 86400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheOptions:
    """``cleanup``: remove the cache of every repository not used for ``max_age_days``."""

    cleanup: bool = False
    max_age_days: float = DEFAULT_MAX_AGE_DAYS
    sizes: bool = True  # add up each cache's size (False: every size is 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheEntry:
    """One repository's cache directory. ``location``: where this host found the repository
    (empty when unknown); ``size``: bytes of its files; ``age_days``: since its last use."""

    repository_id: str
    path: Path
    location: str
    last_used: datetime
    age_days: float
    size: int
    old: bool  # not used for max_age_days or more
    cleaned: bool = False  # only the kept files are left: a cleanup has nothing to remove


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheResult:
    """The cache directories found (before any cleanup), the ones cleaned, the bytes freed,
    and (directory, why) of each directory that could not be cleaned."""

    root: Path
    max_age_days: float
    entries: tuple[CacheEntry, ...]
    removed: tuple[CacheEntry, ...] = ()
    freed: int = 0
    failed: tuple[tuple[str, str], ...] = ()


def mark_used(cache_root: Path | None, repo_id: ObjectId) -> None:
    """Record that a repository's cache was used now (best effort: a read-only or missing
    cache is no error; the directory is never created here)."""
    if cache_root is None:
        return
    with contextlib.suppress(OSError):
        os.utime(cache_root / repo_id.hex())


def _size(path: Path) -> int:
    """Bytes of the files below ``path`` (unreadable parts count as 0; links not followed)."""
    total = 0
    for top, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(top, name)).st_size
    return total


def _last_used(path: Path) -> float:
    times = [path.stat().st_mtime]
    with contextlib.suppress(OSError):
        times.append((path / "index").stat().st_mtime)
    return max(times)


def _locations(root: Path) -> dict[str, str]:
    """repository id → location, from known-repositories.json (first location per id)."""
    try:
        known = json.loads((root / KNOWN_FILE).read_text())
    except (OSError, ValueError):
        return {}
    out: dict[str, str] = {}
    if isinstance(known, dict):
        for location, rid in sorted(known.items()):
            out.setdefault(str(rid), str(location))
    return out


def list_caches(
    root: Path, max_age_days: float, now: datetime, *, sizes: bool = True
) -> list[CacheEntry]:
    """The repository cache directories under ``root``, least recently used first."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    except OSError as exc:
        msg = f"cache directory {root}: {exc.strerror or exc}"
        raise UsageError(msg) from None
    locations = _locations(root)
    entries = []
    for name in names:
        path = root / name
        try:
            st = path.lstat()
            if len(name) != 64 or not stat.S_ISDIR(st.st_mode):
                continue
            ObjectId.from_hex(name)
            used = _last_used(path)
        except (OSError, ValueError):
            continue
        age = max(0.0, (now.timestamp() - used) / _DAY)
        entries.append(
            CacheEntry(
                repository_id=name,
                path=path,
                location=locations.get(name, ""),
                last_used=datetime.fromtimestamp(used, UTC),
                age_days=age,
                size=_size(path) if sizes else 0,
                old=age >= max_age_days,
                cleaned=_cleaned(path),
            )
        )
    return sorted(entries, key=lambda e: (e.last_used, e.repository_id))


def _remove_dir(path: str, note: Callable[[str, OSError], None]) -> None:
    """Remove a directory and everything below it (links are removed, never followed);
    ``note`` is told of each part that could not be removed."""
    for top, dirs, files in os.walk(path, topdown=False):
        for name in [*files, *dirs]:
            child = os.path.join(top, name)
            try:
                if name in dirs and not os.path.islink(child):
                    os.rmdir(child)
                else:
                    os.unlink(child)
            except OSError as exc:
                note(child, exc)
    try:
        os.rmdir(path)
    except OSError as exc:
        note(path, exc)


def _clean(entry: CacheEntry) -> list[tuple[str, str]]:
    """Remove everything in a repository's cache directory but the KEPT files; the directory
    itself goes when nothing is kept. Returns what could not be removed."""
    failed: list[tuple[str, str]] = []

    def note(path: str, exc: OSError) -> None:
        failed.append((path, exc.strerror or str(exc)))

    try:
        children = list(os.scandir(entry.path))
    except OSError as exc:
        return [(str(entry.path), exc.strerror or str(exc))]
    for child in children:
        if _kept(child.name):
            continue
        try:
            if child.is_dir(follow_symlinks=False):
                _remove_dir(child.path, note)
            else:
                os.unlink(child.path)
        except OSError as exc:
            note(child.path, exc)
    try:
        if not failed and not any(_kept(name) for name in os.listdir(entry.path)):
            entry.path.rmdir()
        else:  # what is kept: still as old as it was (removing entries touched the directory)
            used = entry.last_used.timestamp()
            os.utime(entry.path, (used, used))
    except OSError as exc:
        note(str(entry.path), exc)
    return failed


def _cleaned(path: Path) -> bool:
    """Nothing but the kept files is left in a cache directory (a cleanup removes nothing)."""
    try:
        return all(_kept(name) for name in os.listdir(path))
    except OSError:
        return False


def cache(root: Path, options: CacheOptions, *, clock: Clock | None = None) -> CacheResult:
    """List the repository caches under ``root``; with ``options.cleanup``, clean the old ones
    (module docstring: what is removed and what is kept). A directory that cannot be cleaned
    (a read-only cache) is reported in ``failed``; the others are still cleaned.

    Raises:
        UsageError: a negative max age, or a cache root that cannot be read.
    """
    if options.max_age_days < 0:
        msg = f"--max-age {options.max_age_days:g}: give 0 days or more"
        raise UsageError(msg)
    now = (clock or SystemClock()).now()
    entries = list_caches(root, options.max_age_days, now, sizes=options.sizes)
    removed: list[CacheEntry] = []
    failed: list[tuple[str, str]] = []
    freed = 0
    if options.cleanup:
        for entry in entries:
            if not entry.old or entry.cleaned:
                continue
            problems = _clean(entry)
            if problems:  # the first says why (a read-only cache refuses every one the same)
                path, why = problems[0]
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                failed.append((str(entry.path), f"{path}: {why}{more}"))
            else:
                removed.append(entry)
            if options.sizes:
                left = _size(entry.path) if entry.path.exists() else 0
                freed += max(0, entry.size - left)
    return CacheResult(
        root=root,
        max_age_days=options.max_age_days,
        entries=tuple(entries),
        removed=tuple(removed),
        freed=freed,
        failed=tuple(failed),
    )
