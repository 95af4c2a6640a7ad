"""Capabilities: what a store can do beyond the Backend contract, in one record that every
wrapper forwards (``backend.capabilities``), so a caller holding the outermost backend of a
stack reaches them without looking past the wrappers at the raw store.

Each field is a handle on the store that has the capability, or None where it has not:

- ``streaming`` (StreamingBackend): the store counts its own wire requests and throttles the
  bytes it actually streams (S3: each multipart part as it is sent, downloads as they arrive),
  so the stack puts no accounting or rate-limit wrapper in front of it.
- ``probing`` (ProbedBackend, backend/dialect.py): the store can be probed for what it does
  and told to work by a StoreDialect (S3).
- ``object_lock`` (LockingBackend, backend/objectlock.py): the store can lock objects (S3
  Object Lock).

A handle talks to the store itself: its calls pass through no wrapper (no retry, no
accounting), exactly as calls on the raw store did. A wrapper that must not let a capability
through says so by overriding ``capabilities`` (the dry run drops the two that write).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from s3vault.backend.dialect import ProbedBackend
from s3vault.backend.objectlock import LockingBackend

if TYPE_CHECKING:
    from s3vault.backend.accounting import RequestCounts
    from s3vault.backend.ratelimit import TokenBucket


@runtime_checkable
class StreamingBackend(Protocol):
    """A backend that counts its own wire requests and throttles the bytes it streams."""

    counts: RequestCounts

    def throttle(self, upload: TokenBucket | None, download: TokenBucket | None) -> None:
        """Take tokens from these buckets for the bytes actually streamed."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Capabilities:
    """Handles on what a store can do beyond the contract (None: it cannot)."""

    streaming: StreamingBackend | None = None
    probing: ProbedBackend | None = None
    object_lock: LockingBackend | None = None


NO_CAPABILITIES = Capabilities()  # a plain store: a local directory, memory
