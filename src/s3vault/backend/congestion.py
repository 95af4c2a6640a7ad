"""How many requests a backend keeps in flight: additive increase, multiplicative decrease.

A store that answers 503 SlowDown is asking for fewer requests, not just later ones (AWS
partitions a prefix within minutes; third-party stores throttle far lower: ../shared/S3.md §2
item 4). botocore backs off each throttled request; this window also halves how many run at
once, and wins one slot back per window's worth of requests that were not throttled.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class CongestionWindow:
    """A counting gate whose size follows the store's throttling."""

    def __init__(self, maximum: int) -> None:
        self._max = max(1, maximum)
        self._limit = float(self._max)
        self._in_flight = 0
        self._cond = threading.Condition()
        self.throttles = 0  # how many throttling answers were seen (reported, tested)

    @property
    def limit(self) -> int:
        """Requests allowed in flight now."""
        return int(self._limit)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the duration of a request (waits while the window is full)."""
        with self._cond:
            while self._in_flight >= int(self._limit):
                self._cond.wait()
            self._in_flight += 1
        try:
            yield
        finally:
            with self._cond:
                self._in_flight -= 1
                self._limit = min(float(self._max), self._limit + 1.0 / self._limit)
                self._cond.notify_all()

    def throttled(self) -> None:
        """The store said SlowDown (or similar): halve the window."""
        with self._cond:
            self.throttles += 1
            self._limit = max(1.0, self._limit / 2)
