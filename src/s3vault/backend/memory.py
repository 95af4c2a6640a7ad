"""MemoryBackend: a dict behind a lock. The reference implementation of the contract."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from s3vault.backend.base import ObjectInfo
from s3vault.errors import ObjectExistsError, ObjectNotFoundError


class MemoryBackend:
    """Objects kept in memory (tests, and the reference for the conformance suite)."""

    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @property
    def location(self) -> str:
        """memory:."""
        return "memory:"

    def put(self, name: str, data: bytes | memoryview) -> None:
        """Create-only store."""
        with self._lock:
            if name in self._objects:
                raise ObjectExistsError(f"{name} already exists")
            self._objects[name] = bytes(data)

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """Read (a range of) an object."""
        with self._lock:
            data = self._objects.get(name)
        if data is None:
            raise ObjectNotFoundError(f"{name} not found in memory:")
        end = len(data) if length is None else offset + length
        return data[offset:end]

    def stat(self, name: str) -> ObjectInfo:
        """Size of an object."""
        with self._lock:
            data = self._objects.get(name)
        if data is None:
            raise ObjectNotFoundError(f"{name} not found in memory:")
        return ObjectInfo(name=name, size=len(data))

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Objects under a prefix (a snapshot of the moment of the call)."""
        with self._lock:
            items = [(k, len(v)) for k, v in self._objects.items() if k.startswith(prefix)]
        for name, size in items:
            yield ObjectInfo(name=name, size=size)

    def delete(self, name: str) -> None:
        """Remove an object."""
        with self._lock:
            if self._objects.pop(name, None) is None:
                raise ObjectNotFoundError(f"{name} not found in memory:")

    def replace_for_test(self, name: str, data: bytes) -> None:
        """Overwrite an object in place (damage simulation; never used by s3vault itself)."""
        with self._lock:
            self._objects[name] = data
