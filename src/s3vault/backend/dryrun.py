"""DryRunBackend: reads pass through; writes and deletes are counted and dropped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from s3vault.backend.base import Backend, ObjectInfo
from s3vault.backend.capabilities import Capabilities
from s3vault.backend.forwarding import ForwardingBackend

log = logging.getLogger(__name__)


class DryRunBackend(ForwardingBackend):
    """Wraps a backend so that nothing is ever written or deleted."""

    def __init__(self, inner: Backend) -> None:
        super().__init__(inner)
        self._lock = threading.Lock()
        self.puts = 0
        self.put_bytes = 0
        self.deletes = 0

    @property
    def capabilities(self) -> Capabilities:
        """The wrapped store's, without the two that write: probing (it writes probe objects)
        and Object Lock (it extends retain-until dates)."""
        streaming = self._inner.capabilities.streaming
        return Capabilities(streaming=streaming)

    def put(self, name: str, data: bytes | memoryview) -> None:
        """Count and drop (``-vv`` says so after the writer's "put pack" line)."""
        with self._lock:
            self.puts += 1
            self.put_bytes += len(data)
        log.debug("dry run: %s not written (%d bytes)", name, len(data))

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

    def delete_temporary(self, name: str) -> None:
        """Count and drop."""
        with self._lock:
            self.deletes += 1
