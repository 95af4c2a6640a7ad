"""DryRunBackend: reads pass through; writes and deletes are counted and dropped."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from s3vault.backend.base import Backend, Guarantees, ObjectInfo


class DryRunBackend:
    """Wraps a backend so that nothing is ever written or deleted."""

    def __init__(self, inner: Backend) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.puts = 0
        self.put_bytes = 0
        self.deletes = 0

    @property
    def location(self) -> str:
        """The wrapped backend's location."""
        return self._inner.location

    @property
    def remote(self) -> bool:
        """The wrapped store's."""
        return self._inner.remote

    def put(self, name: str, data: bytes | memoryview) -> None:
        """Count and drop."""
        with self._lock:
            self.puts += 1
            self.put_bytes += len(data)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """Pass through."""
        return self._inner.get(name, offset, length)

    def stat(self, name: str) -> ObjectInfo:
        """Pass through."""
        return self._inner.stat(name)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Pass through."""
        return self._inner.list(prefix)

    def delete(self, name: str) -> None:
        """Count and drop."""
        with self._lock:
            self.deletes += 1

    def delete_many(self, names: Sequence[str]) -> None:
        """Count and drop."""
        with self._lock:
            self.deletes += len(names)

    def replace(self, name: str, data: bytes, version: str) -> ObjectInfo:
        """Count and drop; reports the object as it is."""
        with self._lock:
            self.puts += 1
        return self._inner.stat(name)

    @property
    def guarantees(self) -> Guarantees:
        """The wrapped store's."""
        return self._inner.guarantees

    def temporaries(self) -> Iterator[ObjectInfo]:
        """Pass through."""
        return self._inner.temporaries()

    def delete_temporary(self, name: str) -> None:
        """Count and drop."""
        with self._lock:
            self.deletes += 1

    def server_time(self) -> float:
        """Pass through."""
        return self._inner.server_time()
