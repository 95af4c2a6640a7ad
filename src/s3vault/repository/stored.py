"""StoredBlobs: which blobs a repository stores, without where: what a writer that only adds
needs (copy into a target of 10^7 blobs).

A BlobWriter asks its index three things: may I store this blob (``reserve``: neither stored
nor in flight), I gave it up (``release``), this pack is stored (``add_pack``). A BlobIndex
answers them with 48 bytes a blob because it also says where each blob is; copy's target
never reads what it writes, so a BlobSet of raw ids per blob type (about 34 bytes a blob) is
enough. Thread-safe as BlobIndex is for these calls.
"""

from __future__ import annotations

import threading

from s3vault.format.packfile import BlobType
from s3vault.repository.blobset import BlobSet
from s3vault.repository.compactpack import CompactPack


class StoredBlobs:
    """The ids of the stored blobs of each type, and the blobs in flight."""

    def __init__(self) -> None:
        self._stored = {BlobType.DATA: BlobSet(), BlobType.TREE: BlobSet()}
        self._pending: dict[BlobType, set[bytes]] = {BlobType.DATA: set(), BlobType.TREE: set()}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return sum(len(s) for s in self._stored.values())

    def has(self, btype: BlobType, bid: bytes) -> bool:
        """Is the blob stored (in an uploaded pack)?"""
        with self._lock:
            return bid in self._stored[btype]

    def reserve(self, btype: BlobType, bid: bytes) -> bool:
        """Claim a blob for storing: True if it is neither stored nor already in flight."""
        with self._lock:
            pending = self._pending[btype]
            if bid in pending or bid in self._stored[btype]:
                return False
            pending.add(bid)
            return True

    def release(self, btype: BlobType, bid: bytes) -> None:
        """Give up a reservation (the blob was not stored after all)."""
        with self._lock:
            self._pending[btype].discard(bid)

    def add_pack(
        self,
        pack_id: bytes,
        size: int,
        entries: list[tuple[BlobType, bytes, int, int, int]],
        epoch: int = 1,
    ) -> None:
        """Record an uploaded pack's blobs as stored; clears their reservations."""
        del pack_id, size, epoch  # where is not kept
        with self._lock:
            for btype, bid, _offset, _length, _raw in entries:
                self._stored[btype].add(bid)
                self._pending[btype].discard(bid)

    def add_compact(self, pack: CompactPack) -> None:
        """Record a pack as an index file describes it."""
        with self._lock:
            for btype, bid, _length in pack.blobs():
                self._stored[btype].add(bid)
