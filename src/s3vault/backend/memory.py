"""MemoryBackend: a dict behind a lock. The reference implementation of the contract.

Its store clock (``modified``, ``server_time``) is an injected ``Clock``: a test that moves a
``ManualClock`` ages every object at once, as time passing on a real store does."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence

from s3vault.backend.base import Guarantees, ObjectInfo
from s3vault.backend.capabilities import NO_CAPABILITIES, Capabilities
from s3vault.clock import Clock, SystemClock
from s3vault.errors import (
    BackendError,
    ObjectExistsError,
    ObjectNotFoundError,
    UnsupportedOperationError,
    VersionMismatchError,
)


class MemoryBackend:
    """Objects kept in memory (tests, and the reference for the conformance suite)."""

    def __init__(self, *, clock: Clock | None = None, guarantees: Guarantees | None = None) -> None:
        self._guarantees = guarantees or Guarantees()
        self._objects: dict[str, bytes] = {}
        self._meta: dict[str, tuple[float, str]] = {}  # name → (modified, version)
        self._clock = clock or SystemClock()
        self._versions = 0
        self._lock = threading.Lock()

    def _stamp(self, name: str) -> None:
        self._versions += 1
        self._meta[name] = (self.server_time(), f"v{self._versions}")

    def _info(self, name: str) -> ObjectInfo:
        modified, version = self._meta[name]
        return ObjectInfo(
            name=name, size=len(self._objects[name]), modified=modified, version=version
        )

    @property
    def location(self) -> str:
        """memory:."""
        return "memory:"

    @property
    def remote(self) -> bool:
        """In this process."""
        return False

    def put(self, name: str, data: bytes | memoryview) -> None:
        """Create-only store."""
        with self._lock:
            if name in self._objects:
                raise ObjectExistsError(f"{name} already exists")
            self._objects[name] = bytes(data)
            self._stamp(name)

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
            if name not in self._objects:
                raise ObjectNotFoundError(f"{name} not found in memory:")
            return self._info(name)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Objects under a prefix (a snapshot of the moment of the call)."""
        with self._lock:
            items = [self._info(k) for k in self._objects if k.startswith(prefix)]
        yield from items

    def delete(self, name: str) -> None:
        """Remove an object."""
        with self._lock:
            if self._objects.pop(name, None) is None:
                raise ObjectNotFoundError(f"{name} not found in memory:")
            del self._meta[name]

    def delete_many(self, names: Sequence[str]) -> None:
        """One delete after another; names already gone are fine."""
        for name in names:
            with contextlib.suppress(ObjectNotFoundError):
                self.delete(name)

    def replace(self, name: str, data: bytes, version: str) -> ObjectInfo:
        """Compare-and-swap overwrite."""
        if not self._guarantees.compare_and_swap:
            raise UnsupportedOperationError(f"replace {name}: not offered by this store")
        with self._lock:
            if name not in self._objects:
                raise ObjectNotFoundError(f"{name} not found in memory:")
            if self._meta[name][1] != version:
                raise VersionMismatchError(f"{name} changed (expected version {version})")
            self._objects[name] = bytes(data)
            self._stamp(name)
            return self._info(name)

    @property
    def guarantees(self) -> Guarantees:
        """Atomic create-only writes and compare-and-swap, unless told to claim less (tests
        of what s3vault does on stores without them)."""
        return self._guarantees

    @property
    def capabilities(self) -> Capabilities:
        """None beyond the contract."""
        return NO_CAPABILITIES

    def server_time(self) -> float:
        """Now by the injected clock (seconds since the epoch)."""
        return self._clock.now().timestamp()

    def temporaries(self) -> Iterator[ObjectInfo]:
        """None: a put is atomic in memory."""
        return iter(())

    def delete_temporary(self, name: str) -> None:
        """Refused: this store keeps no temporary files."""
        msg = f"{name!r}: memory: keeps no temporary files"
        raise BackendError(msg)

    def replace_for_test(self, name: str, data: bytes) -> None:
        """Overwrite an object in place (damage simulation; never used by s3vault itself)."""
        with self._lock:
            self._objects[name] = data
            self._stamp(name)
