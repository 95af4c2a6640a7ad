"""S3 Object Lock as s3vault uses it (docs/immutability.md, design.md §7).

With a lock policy adopted from the config, the S3 backend (backend/s3/objectlock.py) gives
every object it creates (except the maintenance lease and probe objects) a retain-until date of
now + period + margin in the policy's mode, and deletes content-addressed objects by version
id, so the freed space is really freed and the store itself refuses a locked version. Callers
ask ``retained_until`` first and defer what is still locked: s3vault never sends a delete the
store must refuse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

MODES = ("GOVERNANCE", "COMPLIANCE")
UNLOCKED_PREFIXES = ("locks/", "probe/")  # rewritten or removed within minutes
# Written once under a content-derived name: deleted by version id. Everything else (config,
# key files) is overwritten and gets a delete marker instead, hiding all its versions.
VERSION_DELETED = (
    "data/",
    "tree/",
    "index/",
    "snapshots/",
    "deletions/",
    "drills/",
    "audit/",
    "ledger/",
    "views/",
    "state/",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LockPolicy:
    """How long new objects stay locked: ``period`` (what the retention policy needs) plus
    ``margin`` (so that a retain-until date is extended at most once per margin, not every run)."""

    mode: str  # GOVERNANCE or COMPLIANCE
    period: float  # seconds
    margin: float  # seconds

    def to_dict(self) -> dict[str, Any]:
        """As stored in the config."""
        return {"mode": self.mode, "period": self.period, "margin": self.margin}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LockPolicy:
        """From the config.

        Raises:
            ValueError: malformed.
        """
        mode = str(data["mode"])
        if mode not in MODES:
            msg = f"unknown object lock mode {mode!r}"
            raise ValueError(msg)
        return cls(mode=mode, period=float(data["period"]), margin=float(data["margin"]))

    @property
    def duration(self) -> float:
        """Seconds a new object is locked for."""
        return self.period + self.margin


@runtime_checkable
class LockingBackend(Protocol):
    """A backend that can lock objects (S3 with Object Lock)."""

    def adopt_lock(self, policy: LockPolicy) -> None:
        """Lock every object created from now on under ``policy``."""
        ...

    def retained_until(self, names: Sequence[str]) -> dict[str, float]:
        """The names among these still locked, with their retain-until time (store clock)."""
        ...

    def extend_locks(self, names: Sequence[str], until: float) -> int:
        """Make these objects stay locked at least until ``until``; returns how many changed."""
        ...

    def known_locks(self) -> dict[str, float]:
        """Every retain-until this process wrote or read (to keep across runs)."""
        ...

    def remember_locks(self, known: dict[str, float]) -> None:
        """Retain-until times learnt by earlier runs on this host."""
        ...
