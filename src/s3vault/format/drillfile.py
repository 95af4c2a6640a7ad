"""Drill records (design.md §8a): the result of one restore-test, stored like a snapshot
(canonical JSON, compressed, sealed, named by storage id under ``drills/``)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from s3vault.errors import IntegrityError
from s3vault.format import codec

DRILL_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class DrillFile:
    """One restore drill."""

    time: datetime
    snapshot: str
    hostname: str
    sample: str
    files_checked: int
    bytes_checked: int
    mismatches: int
    errors: int
    restore_seconds: float
    verify_seconds: float
    bytes_per_second: float
    snapshot_bytes: int
    projected_rto_seconds: float
    rto_target_seconds: float | None
    snapshot_age_seconds: float
    rpo_target_seconds: float | None
    passed: bool
    failures: tuple[str, ...]

    def encode(self) -> bytes:
        """Canonical JSON bytes."""
        obj: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        obj["time"] = self.time.isoformat()
        obj["failures"] = list(self.failures)
        obj["v"] = DRILL_VERSION
        return codec.dumps(obj)

    @classmethod
    def decode(cls, data: bytes) -> DrillFile:
        """Parse.

        Raises:
            IntegrityError: malformed.
            FormatVersionError: newer version.
        """
        obj = codec.loads(data, "drill record")
        codec.check_version(obj.pop("v", None), DRILL_VERSION, "drill record")
        try:
            obj["time"] = datetime.fromisoformat(obj["time"])
            obj["failures"] = tuple(obj.get("failures", ()))
            return cls(**obj)
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"drill record: {exc}"
            raise IntegrityError(msg) from None
