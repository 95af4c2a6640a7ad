"""Lease records (design.md §10): who holds the maintenance lease.

The lease object ``locks/maintenance`` holds one sealed LeaseFile (canonical JSON). Its age is
the store's LastModified, refreshed by compare-and-swap; the fields here only say who holds it,
for messages and for ``unlock``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from s3vault.errors import IntegrityError
from s3vault.format import codec

LEASE_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaseFile:
    """The holder of a lease."""

    holder: str  # random per acquisition: tells our own lease from another's
    operation: str
    hostname: str
    pid: int
    acquired: datetime  # the holder's clock: informational only
    ttl_seconds: float
    refreshes: int

    def encode(self) -> bytes:
        """Canonical JSON bytes."""
        obj: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        obj["acquired"] = self.acquired.isoformat()
        obj["v"] = LEASE_VERSION
        return codec.dumps(obj)

    @classmethod
    def decode(cls, data: bytes) -> LeaseFile:
        """Parse.

        Raises:
            IntegrityError: malformed.
            FormatVersionError: newer version.
        """
        obj = codec.loads(data, "lease")
        codec.check_version(obj.pop("v", None), LEASE_VERSION, "lease")
        try:
            obj["acquired"] = datetime.fromisoformat(obj["acquired"])
            return cls(**obj)
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"lease: {exc}"
            raise IntegrityError(msg) from None
