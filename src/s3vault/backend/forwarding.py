"""ForwardingBackend: the base of every backend wrapper. It passes each member of the Backend
contract (backend/base.py) to the backend it wraps, unchanged; a wrapper inherits it and
states only what it changes (restic's wrappers embed the inner backend the same way).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from s3vault.backend.base import Backend, Guarantees, ObjectInfo
from s3vault.backend.capabilities import Capabilities


class ForwardingBackend:
    """Wraps a backend and forwards everything to it."""

    def __init__(self, inner: Backend) -> None:
        self._inner = inner

    @property
    def location(self) -> str:
        """The wrapped backend's location."""
        return self._inner.location

    @property
    def remote(self) -> bool:
        """The wrapped store's."""
        return self._inner.remote

    @property
    def guarantees(self) -> Guarantees:
        """The wrapped store's."""
        return self._inner.guarantees

    @property
    def capabilities(self) -> Capabilities:
        """The wrapped store's (backend/capabilities.py)."""
        return self._inner.capabilities

    def put(self, name: str, data: bytes | memoryview) -> None:
        """Pass through."""
        self._inner.put(name, data)

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
        """Pass through."""
        self._inner.delete(name)

    def delete_many(self, names: Sequence[str]) -> None:
        """Pass through."""
        self._inner.delete_many(names)

    def replace(self, name: str, data: bytes, version: str) -> ObjectInfo:
        """Pass through."""
        return self._inner.replace(name, data, version)

    def server_time(self) -> float:
        """Pass through."""
        return self._inner.server_time()

    def temporaries(self) -> Iterator[ObjectInfo]:
        """Pass through."""
        return self._inner.temporaries()

    def delete_temporary(self, name: str) -> None:
        """Pass through."""
        self._inner.delete_temporary(name)
