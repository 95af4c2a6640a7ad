"""Snapshot files (design.md §8): the commit point of a backup.

A snapshot exists only when complete: it is written after every pack and index it needs. Its id
is the storage id (BLAKE3 of the sealed bytes). Canonical JSON, compressed and sealed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from s3vault.errors import IntegrityError
from s3vault.format import codec
from s3vault.ids import ObjectId

SNAPSHOT_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotSummary:
    """What the backup that made the snapshot did."""

    files_new: int = 0
    files_changed: int = 0
    files_unmodified: int = 0
    files_failed: int = 0
    dirs_new: int = 0
    dirs_changed: int = 0
    dirs_unmodified: int = 0
    data_blobs: int = 0
    tree_blobs: int = 0
    data_added: int = 0
    total_files_processed: int = 0
    total_bytes_processed: int = 0
    backup_start: str = ""
    backup_end: str = ""


_SUMMARY_INTS = [f for f in SnapshotSummary.__dataclass_fields__ if not f.startswith("backup_")]


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotFile:
    """One snapshot."""

    time: datetime
    tree: ObjectId
    paths: tuple[str, ...]
    hostname: str
    username: str = ""
    tags: tuple[str, ...] = ()
    parent: ObjectId | None = None
    excludes: tuple[str, ...] = ()
    program_version: str = ""
    incomplete: bool = False
    summary: SnapshotSummary = field(default_factory=SnapshotSummary)
    original: str = ""  # copies: "<source repository id>:<source snapshot id>"

    def encode(self) -> bytes:
        """Canonical JSON bytes."""
        obj: dict[str, Any] = {
            "v": SNAPSHOT_VERSION,
            "time": self.time.isoformat(),
            "tree": self.tree.hex(),
            "paths": list(self.paths),
            "hostname": self.hostname,
            "username": self.username,
            "tags": list(self.tags),
            "excludes": list(self.excludes),
            "program_version": self.program_version,
            "incomplete": self.incomplete,
            "summary": {k: getattr(self.summary, k) for k in SnapshotSummary.__dataclass_fields__},
        }
        if self.parent is not None:
            obj["parent"] = self.parent.hex()
        if self.original:
            obj["original"] = self.original
        return codec.dumps(obj)

    @classmethod
    def decode(cls, data: bytes) -> SnapshotFile:
        """Parse snapshot bytes. Every field is checked for its type and range here: a snapshot
        file is read by every command (a put-only host can store one with any content, design.md
        §6a), so one that decodes must never fail later in a comparison, a sum or a format.

        Raises:
            IntegrityError: malformed.
            FormatVersionError: a newer snapshot version.
        """
        what = "snapshot"
        obj = codec.loads(data, what)
        codec.check_version(obj.get("v"), SNAPSHOT_VERSION, what)
        try:
            time = _aware_time(codec.field(obj, "time", str, what), what)
            tree = ObjectId.from_hex(codec.field(obj, "tree", str, what))
            parent = ObjectId.from_hex(_text(obj, "parent", what)) if "parent" in obj else None
        except (ValueError, KeyError) as exc:
            msg = f"{what}: {exc}"
            raise IntegrityError(msg) from None
        except IntegrityError:
            raise
        except Exception as exc:  # UsageError from from_hex on a forged id
            msg = f"{what}: bad id ({exc})"
            raise IntegrityError(msg) from None
        raw_summary = obj.get("summary", {})
        if not isinstance(raw_summary, dict):
            raise IntegrityError(what + ": bad summary")
        summary = SnapshotSummary(
            **{k: _count(raw_summary.get(k, 0), k, what) for k in _SUMMARY_INTS},
            backup_start=_text(raw_summary, "backup_start", what),
            backup_end=_text(raw_summary, "backup_end", what),
        )
        incomplete = obj.get("incomplete", False)
        if not isinstance(incomplete, bool):
            raise IntegrityError(what + ": field 'incomplete' is not a boolean")
        return cls(
            time=time,
            tree=tree,
            parent=parent,
            paths=_texts(obj, "paths", what, required=True),
            hostname=codec.field(obj, "hostname", str, what),
            username=_text(obj, "username", what),
            tags=_texts(obj, "tags", what),
            excludes=_texts(obj, "excludes", what),
            program_version=_text(obj, "program_version", what),
            incomplete=incomplete,
            summary=summary,
            original=_text(obj, "original", what),
        )


_MAX_COUNT = 1 << 63


def _aware_time(text: str, what: str) -> datetime:
    """A snapshot's time: ISO 8601 with its offset from UTC, representable in UTC."""
    try:
        time = datetime.fromisoformat(text)
        if time.utcoffset() is None:
            raise ValueError("no offset from UTC")
        time.astimezone(UTC)  # 0001-01-01T00:30+14:00 is before year 1 in UTC
    except (ValueError, OverflowError) as exc:
        msg = f"{what}: bad time {text[:40]!r} ({exc})"
        raise IntegrityError(msg) from None
    return time


def _count(value: object, key: str, what: str) -> int:
    if type(value) is not int or not 0 <= value < _MAX_COUNT:
        msg = f"{what}: summary field {key!r} is not a count"
        raise IntegrityError(msg)
    return value


def _text(obj: dict[str, Any], key: str, what: str) -> str:
    value = obj.get(key, "")
    if not isinstance(value, str):
        msg = f"{what}: field {key!r} is not text"
        raise IntegrityError(msg)
    return value


def _texts(obj: dict[str, Any], key: str, what: str, *, required: bool = False) -> tuple[str, ...]:
    value = obj.get(key, None if required else [])
    if not isinstance(value, list):
        msg = f"{what}: field {key!r} missing or not a list"
        raise IntegrityError(msg)
    if not all(isinstance(item, str) for item in value):
        msg = f"{what}: field {key!r} holds something other than text"
        raise IntegrityError(msg)
    return tuple(value)
