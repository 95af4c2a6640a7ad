"""Clock: the only module that reads wall time. Everything time-dependent takes a Clock."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

_BOOTTIME = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)


class Clock(Protocol):
    """Source of the current time."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, for measuring durations."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)

    def monotonic(self) -> float:
        """CLOCK_BOOTTIME where there is one: it keeps counting while the machine sleeps, so
        a suspended process never thinks its lease or its backup is younger than it is."""
        return time.clock_gettime(_BOOTTIME)


class ManualClock:
    """A clock that moves only when told to (tests and simulations)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._mono = 0.0

    def now(self) -> datetime:
        """The clock's current time."""
        return self._now

    def monotonic(self) -> float:
        """Seconds advanced so far."""
        return self._mono

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward."""
        self._now += delta
        self._mono += delta.total_seconds()
