"""AccountingBackend: counts requests per kind and bytes each way (for summaries and costs)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from s3vault.backend.base import Backend, ObjectInfo
from s3vault.backend.forwarding import ForwardingBackend


@dataclass(slots=True)
class RequestCounts:
    """Requests made and bytes moved."""

    put: int = 0
    get: int = 0
    head: int = 0
    list: int = 0
    delete: int = 0
    bytes_up: int = 0
    bytes_down: int = 0

    def add(self, other: RequestCounts) -> None:
        """Count another counter's requests and bytes here too."""
        self.put += other.put
        self.get += other.get
        self.head += other.head
        self.list += other.list
        self.delete += other.delete
        self.bytes_up += other.bytes_up
        self.bytes_down += other.bytes_down

    def snapshot(self) -> RequestCounts:
        """A copy, for a result record."""
        return RequestCounts(
            put=self.put,
            get=self.get,
            head=self.head,
            list=self.list,
            delete=self.delete,
            bytes_up=self.bytes_up,
            bytes_down=self.bytes_down,
        )


class AccountingBackend(ForwardingBackend):
    """Wraps a backend and counts what passes through."""

    def __init__(self, inner: Backend) -> None:
        super().__init__(inner)
        self._lock = threading.Lock()
        self.counts = RequestCounts()

    def put(self, name: str, data: bytes | memoryview) -> None:
        """Counted put."""
        with self._lock:
            self.counts.put += 1
            self.counts.bytes_up += len(data)
        self._inner.put(name, data)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """Counted get."""
        data = self._inner.get(name, offset, length)
        with self._lock:
            self.counts.get += 1
            self.counts.bytes_down += len(data)
        return data

    def stat(self, name: str) -> ObjectInfo:
        """Counted HEAD."""
        with self._lock:
            self.counts.head += 1
        return self._inner.stat(name)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Counted listing (one per call; pages are the backend's business)."""
        with self._lock:
            self.counts.list += 1
        return self._inner.list(prefix)

    def delete(self, name: str) -> None:
        """Counted delete."""
        with self._lock:
            self.counts.delete += 1
        self._inner.delete(name)

    def delete_many(self, names: Sequence[str]) -> None:
        """Counted as one delete per object (a local store deletes them one by one)."""
        with self._lock:
            self.counts.delete += len(names)
        self._inner.delete_many(names)

    def replace(self, name: str, data: bytes, version: str) -> ObjectInfo:
        """Counted as a put."""
        with self._lock:
            self.counts.put += 1
            self.counts.bytes_up += len(data)
        return self._inner.replace(name, data, version)

    def temporaries(self) -> Iterator[ObjectInfo]:
        """Counted as a listing."""
        with self._lock:
            self.counts.list += 1
        return self._inner.temporaries()

    def delete_temporary(self, name: str) -> None:
        """Counted delete."""
        with self._lock:
            self.counts.delete += 1
        self._inner.delete_temporary(name)

    def server_time(self) -> float:
        """Counted as a HEAD."""
        with self._lock:
            self.counts.head += 1
        return self._inner.server_time()
