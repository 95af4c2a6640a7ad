"""Snapshot files (design.md §8): the commit point of a backup.

A snapshot exists only when complete: it is written after every pack and index it needs. Its id
is the storage id (BLAKE3 of the sealed bytes). Canonical JSON, compressed and sealed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
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
        """Parse snapshot bytes.

        Raises:
            IntegrityError: malformed.
            FormatVersionError: a newer snapshot version.
        """
        what = "snapshot"
        obj = codec.loads(data, what)
        codec.check_version(obj.get("v"), SNAPSHOT_VERSION, what)
        try:
            time = datetime.fromisoformat(codec.field(obj, "time", str, what))
            tree = ObjectId.from_hex(codec.field(obj, "tree", str, what))
            parent = ObjectId.from_hex(obj["parent"]) if "parent" in obj else None
        except (ValueError, KeyError) as exc:
            msg = f"{what}: {exc}"
            raise IntegrityError(msg) from None
        except Exception as exc:  # UsageError from from_hex on a forged id
            msg = f"{what}: bad id ({exc})"
            raise IntegrityError(msg) from None
        raw_summary = obj.get("summary", {})
        if not isinstance(raw_summary, dict):
            raise IntegrityError(what + ": bad summary")
        summary = SnapshotSummary(
            **{k: int(raw_summary.get(k, 0)) for k in _SUMMARY_INTS},
            backup_start=str(raw_summary.get("backup_start", "")),
            backup_end=str(raw_summary.get("backup_end", "")),
        )
        return cls(
            time=time,
            tree=tree,
            parent=parent,
            paths=tuple(map(str, codec.field(obj, "paths", list, what))),
            hostname=codec.field(obj, "hostname", str, what),
            username=str(obj.get("username", "")),
            tags=tuple(map(str, obj.get("tags", []))),
            excludes=tuple(map(str, obj.get("excludes", []))),
            program_version=str(obj.get("program_version", "")),
            incomplete=bool(obj.get("incomplete", False)),
            summary=summary,
            original=str(obj.get("original", "")),
        )
