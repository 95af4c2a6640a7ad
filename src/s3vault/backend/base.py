"""The Backend protocol: a dumb, flat store of named byte objects.

Contract (every implementation passes tests/backend/conformance.py):

- Names are ``/``-separated relative paths made of ``[A-Za-z0-9._-]`` segments.
- ``put`` is create-only and atomic: after it returns, ``get`` sees the whole object; a crash
  leaves either nothing or the whole object, never a prefix. If the name exists it raises
  ObjectExistsError and leaves the stored object untouched. Where ``guarantees.atomic_create``
  is false (some S3-compatible stores) that holds for puts one after another, but of several
  *concurrent* puts of one name more than one may succeed and the last write wins: s3vault
  then relies on it only for content-addressed names (identical bytes) and unique names.
- ``get(name, offset, length)`` returns exactly the requested range (``length=None``: to the
  end); a range past the end returns what exists. Missing objects raise ObjectNotFoundError.
- ``list(prefix)`` yields every object whose name starts with ``prefix``, in no particular order.
  A failure while listing raises; it never ends the iteration early as if the listing were
  complete.
- ``delete`` removes an object; deleting a missing object raises ObjectNotFoundError.
- ``delete_many(names)`` removes several objects (on S3 in one DeleteObjects request per
  1,000). Names already gone are not errors. If some cannot be removed it raises, naming
  them (TransientBackendError when every failure is worth retrying); the others stay removed.
- ``stat`` and ``list`` report ``modified`` (seconds since the epoch, by the *store's* clock)
  and ``version`` (an opaque token that changes whenever the object is written: ETag on S3).
- ``replace(name, data, version)`` is compare-and-swap: it overwrites the object only if its
  current version is ``version`` (VersionMismatchError otherwise, ObjectNotFoundError if it is
  gone) and returns the new ObjectInfo. Only leases use it; everything else is create-only.
  Where ``guarantees.compare_and_swap`` is false it raises UnsupportedOperationError.
- ``server_time()`` is "now" by the store's clock, so ages (now − modified) never mix clocks.
- ``temporaries()`` yields what interrupted writes left beside the objects (the local store's
  ``.tmp-*`` files, with size and ``modified``): never objects, never in ``list``. A store that
  writes without temporaries yields nothing (S3: an interrupted multipart upload is the bucket
  lifecycle rule's business; memory). ``delete_temporary(name)`` removes one that
  ``temporaries`` yielded (gone already is fine) and refuses any other name.
- ``capabilities`` hands out what a store can do beyond this contract (streaming, probing,
  Object Lock: backend/capabilities.py). Every wrapper forwards it (wrappers inherit
  backend/forwarding.py), so callers ask the outermost backend, never the raw store.
- Errors worth retrying raise TransientBackendError; everything else BackendError subclasses.
- Every method is safe to call from several threads at once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from s3vault.backend.capabilities import Capabilities


# Storage classes whose objects cannot be read until restored from the archive (hours): S3
# GLACIER and DEEP_ARCHIVE (ObjectInfo.storage_class)
ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectInfo:
    """Name and size of a stored object."""

    name: str
    size: int
    modified: float = 0.0
    version: str = ""
    storage_class: str = ""  # S3 listings: the object's storage class ("" elsewhere)


@dataclass(frozen=True, slots=True, kw_only=True)
class Guarantees:
    """What a store promises beyond plain reads and writes (on S3: found by the capability
    probe at init and kept in the repository config)."""

    atomic_create: bool = True  # of concurrent create-only puts of one name, exactly one wins
    compare_and_swap: bool = True  # replace() works

    @property
    def exclusive(self) -> bool:
        """Both: a single lease object can be held by one process at a time."""
        return self.atomic_create and self.compare_and_swap


class Backend(Protocol):
    """A flat store of named byte objects (see the module docstring for the contract)."""

    @property
    def guarantees(self) -> Guarantees:
        """What this store promises (see Guarantees)."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """What this store can do beyond the contract (see backend/capabilities.py)."""
        ...

    @property
    def location(self) -> str:
        """Where the store is, for messages (never contains credentials)."""
        ...

    @property
    def remote(self) -> bool:
        """Every request costs a network round trip (S3): fewer, larger reads pay off."""
        ...

    def put(self, name: str, data: bytes | memoryview) -> None:
        """Create an object; ObjectExistsError if it exists."""
        ...

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """Read an object or a byte range of it."""
        ...

    def stat(self, name: str) -> ObjectInfo:
        """Size of an object."""
        ...

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object under a prefix."""
        ...

    def delete(self, name: str) -> None:
        """Remove an object."""
        ...

    def delete_many(self, names: Sequence[str]) -> None:
        """Remove objects; missing ones are fine."""
        ...

    def replace(self, name: str, data: bytes, version: str) -> ObjectInfo:
        """Compare-and-swap overwrite (leases only)."""
        ...

    def server_time(self) -> float:
        """Now, by the store's clock (seconds since the epoch)."""
        ...

    def temporaries(self) -> Iterator[ObjectInfo]:
        """Leftovers of interrupted writes (not objects); nothing on most stores."""
        ...

    def delete_temporary(self, name: str) -> None:
        """Remove a leftover ``temporaries`` yielded; refuses anything else."""
        ...
