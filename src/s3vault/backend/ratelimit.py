"""RateLimitedBackend: token buckets on bytes uploaded and downloaded (--limit-upload and
--limit-download, KiB/s). A transfer takes its bytes from the bucket before it starts; a
transfer larger than the burst runs into debt and waits it off, so the average rate holds
for every object size. Used for backends whose transfers are one local call (local directory,
memory); the S3 backend takes tokens itself for the bytes it streams (backend/s3/traffic.py,
and backend/stack.py for which is used)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from s3vault.backend.base import Backend, ObjectInfo
from s3vault.backend.forwarding import ForwardingBackend


class TokenBucket:
    """``rate`` bytes per second with a one-second burst. Thread-safe."""

    def __init__(
        self,
        rate: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = rate
        self._tokens = rate
        self._sleep = sleep
        self._now = monotonic
        self._last = monotonic()
        self._lock = threading.Lock()

    def take(self, amount: int) -> None:
        """Wait until ``amount`` bytes may be transferred."""
        with self._lock:
            now = self._now()
            self._tokens = min(self._rate, self._tokens + (now - self._last) * self._rate)
            self._last = now
            self._tokens -= amount
            wait = -self._tokens / self._rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)


class RateLimitedBackend(ForwardingBackend):
    """Wraps a backend with upload and download limits (None: unlimited)."""

    def __init__(
        self, inner: Backend, *, upload: TokenBucket | None, download: TokenBucket | None
    ) -> None:
        super().__init__(inner)
        self._up = upload
        self._down = download

    def put(self, name: str, data: bytes | memoryview) -> None:
        """Throttled upload."""
        if self._up is not None:
            self._up.take(len(data))
        self._inner.put(name, data)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """Throttled download (accounted after it arrives: its size is known then)."""
        data = self._inner.get(name, offset, length)
        if self._down is not None:
            self._down.take(len(data))
        return data

    def replace(self, name: str, data: bytes, version: str) -> ObjectInfo:
        """Throttled replace."""
        if self._up is not None:
            self._up.take(len(data))
        return self._inner.replace(name, data, version)
