"""RateLimitedBackend: token buckets on bytes uploaded and downloaded (--limit-upload and
--limit-download, KiB/s). A transfer takes its bytes from the bucket before it starts; a
transfer larger than the burst runs into debt and waits it off, so the average rate holds
for every object size. Used for backends whose transfers are one local call (local directory,
memory); the S3 backend takes tokens itself for the bytes it streams (backend/s3/traffic.py,
and backend/stack.py for which is used)."""

from __future__ import annotations

import mmap
import multiprocessing
import struct
import time
from collections.abc import Callable

from s3vault.backend.base import Backend, ObjectInfo
from s3vault.backend.forwarding import ForwardingBackend


class TokenBucket:
    """``rate`` bytes per second with a one-second burst. Thread-safe, and shared with the
    processes forked after it was made (``backup --jobs``: the limit is the command's, not
    each worker's): its state lives in shared memory under a process-shared lock."""

    _STATE = struct.Struct("=dd")  # tokens, time of the last take (monotonic: system-wide)

    def __init__(
        self,
        rate: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = rate
        self._sleep = sleep
        self._now = monotonic
        self._state = mmap.mmap(-1, self._STATE.size)  # MAP_SHARED: forks see one bucket
        self._STATE.pack_into(self._state, 0, rate, monotonic())
        self._lock = multiprocessing.get_context("fork").Lock()

    def take(self, amount: int) -> None:
        """Wait until ``amount`` bytes may be transferred."""
        with self._lock:
            now = self._now()
            tokens, last = self._STATE.unpack_from(self._state, 0)
            tokens = min(self._rate, tokens + (now - last) * self._rate) - amount
            self._STATE.pack_into(self._state, 0, tokens, now)
            wait = -tokens / self._rate if tokens < 0 else 0.0
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
