"""BlobWriter: stores new blobs — dedup, seal, verify, pack, upload, index.

Write order (design.md §11): a pack is uploaded before any index file names it, and index files
are written before the snapshot that needs them. A blob enters the in-memory index only after its
pack is stored, so a failed upload can never be "deduplicated against" later in the same run;
any error aborts the backup before a snapshot is written.

Every blob is opened again right after sealing (decrypt, decompress, re-hash) before it joins a
pack: corruption in memory or in a codec is caught before it reaches storage (restic #4529).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from s3vault import compression
from s3vault.backend.base import Backend
from s3vault.clock import SystemClock
from s3vault.crashpoint import crash_point
from s3vault.errors import IntegrityError, ObjectExistsError, ObjectNotFoundError
from s3vault.format.envelope import SealedKind
from s3vault.format.indexfile import IndexedPack, IndexFile
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from s3vault.repository.names import pack_name
from s3vault.repository.packer import PackWriter
from s3vault.repository.sealer import PackSealing

log = logging.getLogger(__name__)

BATCH_BLOBS = 256
BATCH_BYTES = 4 << 20
INDEX_ENTRIES = 1 << 18  # an index file at the latest when unindexed packs hold this many blobs
CPUS = os.cpu_count() or 2
PACK_KINDS = {BlobType.DATA: ObjectKind.DATA, BlobType.TREE: ObjectKind.TREE}


@dataclass(slots=True)
class WriterStats:
    """What a BlobWriter stored."""

    data_blobs: int = 0
    tree_blobs: int = 0
    data_added: int = 0  # bytes stored: sealed blobs plus pack headers
    data_added_raw: int = 0  # plaintext bytes of new blobs
    packs: int = 0
    index_files: int = 0


@dataclass(frozen=True, slots=True)
class Delegation:
    """How the writer of a backup worker process (archiver/parallel.py) shares the work with
    the parent process, which alone writes index files: it packs and uploads data blobs
    itself, but stores only the blobs the parent grants it (exact dedup across processes),
    sends tree blobs to the parent sealed, and reports each pack it stored. At the end
    (``flush``) it hands the blobs of its last, partly filled pack to the parent sealed
    (``leftover``), which packs them with the other workers' leftovers: a run stores one
    partly filled data pack, not one per worker."""

    claim: Callable[[list[tuple[BlobType, ObjectId]]], list[bool]]
    tree: Callable[[BlobType, ObjectId, bytes, int], None]
    stored: Callable[[IndexedPack, float], None]  # the pack, monotonic() before its upload
    leftover: Callable[[list[tuple[BlobType, ObjectId, bytes, int]]], None]


class WriterIndex(Protocol):
    """What a BlobWriter asks of its index (BlobIndex; StoredBlobs, which keeps no locations)."""

    def reserve(self, btype: BlobType, bid: bytes) -> bool: ...
    def release(self, btype: BlobType, bid: bytes) -> None: ...
    def add_pack(
        self,
        pack_id: ObjectId,
        size: int,
        entries: list[tuple[BlobType, bytes, int, int, int]],
        epoch: int = 1,
    ) -> None: ...


class BlobWriter:
    """Thread-safe store of new blobs for one operation. Call ``flush()`` before committing."""

    def __init__(
        self,
        *,
        backend: Backend,
        sealer: PackSealing,
        index: WriterIndex,
        save_index: Callable[[IndexFile], ObjectId],
        pack_size: int,
        compression_level: int,
        verify: bool = True,
        index_every: int = 32,
        index_interval: float = 300.0,
        index_entries: int = INDEX_ENTRIES,
        on_tree_pack: Callable[[ObjectId, memoryview], None] | None = None,
        max_unindexed_age: float | None = None,
        monotonic: Callable[[], float] | None = None,
        delegate: Delegation | None = None,
        threads: int = CPUS,
    ) -> None:
        self._backend = backend
        self._sealer = sealer
        self._index = index
        self._save_index = save_index
        self._pack_size = pack_size
        self._level = compression_level
        self._verify = verify
        # An index file every index_every packs or index_interval seconds, whichever comes
        # first: what a killed run stored and indexed, a rerun does not send again (on a slow
        # link 32 packs take many minutes)
        self._index_every = index_every
        self._index_interval = index_interval
        # ... or as soon as the unindexed packs hold index_entries blobs: their entries wait in
        # memory (about 200 bytes each), and packs of tiny blobs hold 10^5 each (copy of 10^7)
        self._index_entries = index_entries
        self._unindexed_entries = 0
        self._on_tree_pack = on_tree_pack
        self._writers = {t: PackWriter(t, sealer, pack_size) for t in BlobType}
        self._locks = {t: threading.Lock() for t in BlobType}
        self._unindexed: list[IndexedPack] = []
        self._uploaded_at: dict[ObjectId, float] = {}
        self._max_age = max_unindexed_age
        self._monotonic = monotonic or SystemClock().monotonic
        self._index_lock = threading.Lock()
        self.stats = WriterStats()
        self._batch: list[tuple[BlobType, ObjectId, bytes | memoryview]] = []
        self._batch_bytes = 0
        self._stats_lock = threading.Lock()
        # A backup worker process's writer (archiver/parallel.py): this index says what was
        # stored before the run and what this process has met; the parent has the last word.
        self._delegate = delegate
        self._threads = threads

    def save(
        self, btype: BlobType, data: bytes | memoryview, bid: ObjectId | None = None
    ) -> tuple[ObjectId, bool]:
        """Store a blob unless it is already stored or in flight; returns (id, newly stored).

        Raises:
            IntegrityError: the sealed blob did not verify (corruption before upload).
            BackendError: uploading a pack failed.
        """
        if bid is None:
            bid = self._sealer.blob_id(data)
        if not self._index.reserve(btype, bid):
            return bid, False
        delegate = self._delegate
        if (
            delegate is not None
            and btype is BlobType.DATA
            and not delegate.claim([(btype, bid)])[0]
        ):
            return bid, False  # another process stores it (it stays reserved here)
        try:
            sealed = self._sealer.seal_blob(btype, bid, data, self._level, verify=self._verify)
        except BaseException:
            self._index.release(btype, bid)
            raise
        self._add(btype, bid, sealed, len(data))
        return bid, True

    def save_batched(self, btype: BlobType, data: bytes | memoryview, bid: ObjectId) -> bool:
        """Like save(), for many small blobs from one thread: they are compressed together on
        zstd's C threads when the batch is full or at batch_done(). ``data`` must not change
        until then. Returns True if the blob is new."""
        if not self._index.reserve(btype, bid):
            return False
        self._batch.append((btype, bid, data))
        self._batch_bytes += len(data)
        if len(self._batch) >= BATCH_BLOBS or self._batch_bytes >= BATCH_BYTES:
            self.batch_done()
        return True

    def batch_done(self) -> None:
        """Compress, seal and pack the batched blobs.

        Raises:
            IntegrityError, BackendError: as save().
        """
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        if batch and self._delegate is not None:
            batch = self._claimed(batch, self._delegate)
        if not batch:
            return
        done = 0
        try:
            packed = compression.compress_many([d for _, _, d in batch], self._level, self._threads)
            for (btype, bid, data), tagged in zip(batch, packed, strict=True):
                sealed = self._sealer.seal_packed(
                    btype, bid, tagged, len(data), verify=self._verify
                )
                self._add(btype, bid, sealed, len(data))
                done += 1
        except BaseException:
            for btype, bid, _ in batch[done:]:
                self._index.release(btype, bid)
            raise

    def grant(self, blobs: list[tuple[BlobType, ObjectId]]) -> list[bool]:
        """For a backup worker process (``Delegation.claim``): which of these blobs it is to
        store, reserved for it here; the others are stored or in flight already."""
        reserve = self._index.reserve
        return [reserve(btype, bid) for btype, bid in blobs]

    def add_sealed(self, btype: BlobType, bid: ObjectId, sealed: bytes, raw_length: int) -> bool:
        """Store a blob sealed (and verified) elsewhere, by a backup worker process, unless it
        is already stored or in flight: the exact dedup across workers. Returns True if new.

        Raises:
            BackendError: uploading a pack failed.
        """
        if not self._index.reserve(btype, bid):
            return False
        self._add(btype, bid, sealed, raw_length)
        return True

    def adopt(self, btype: BlobType, bid: ObjectId, sealed: bytes, raw_length: int) -> None:
        """Store a blob this writer granted a backup worker process (``grant``: reserved here
        since), sealed and verified there but handed back unpacked at the worker's end
        (``Delegation.leftover``).

        Raises:
            BackendError: uploading a pack failed.
        """
        self._add(btype, bid, sealed, raw_length)

    @staticmethod
    def _claimed(
        batch: list[tuple[BlobType, ObjectId, bytes | memoryview]], delegate: Delegation
    ) -> list[tuple[BlobType, ObjectId, bytes | memoryview]]:
        """The blobs of a batch this process is to store: data blobs the parent granted, and
        tree blobs (which go to the parent, its own dedup decides)."""
        data: list[tuple[BlobType, ObjectId]] = [
            (btype, bid) for btype, bid, _ in batch if btype is BlobType.DATA
        ]
        granted = iter(delegate.claim(data) if data else [])
        return [item for item in batch if item[0] is not BlobType.DATA or next(granted)]

    def _add(self, btype: BlobType, bid: ObjectId, sealed: bytes, raw_length: int) -> None:
        if self._delegate is not None and btype is BlobType.TREE:
            self._delegate.tree(btype, bid, sealed, raw_length)
            return
        full = None
        with self._locks[btype]:
            writer = self._writers[btype]
            writer.add(bid, sealed, raw_length)
            if writer.size >= self._pack_size:
                full = writer
                self._writers[btype] = PackWriter(btype, self._sealer, self._pack_size)
        with self._stats_lock:
            if btype is BlobType.DATA:
                self.stats.data_blobs += 1
            else:
                self.stats.tree_blobs += 1
            self.stats.data_added += len(sealed)
            self.stats.data_added_raw += raw_length
        if full is not None:
            self._upload(full)

    def _upload(self, writer: PackWriter) -> None:
        entries = list(writer.entries)
        started = self._monotonic()  # before the upload: a stop after it must count
        try:
            pack_id, data = writer.finish()
            name = object_name(PACK_KINDS[writer.type], pack_id)
            try:
                self._backend.put(name, data)
            except ObjectExistsError:
                # Same content-addressed name: identical bytes unless the store is damaged.
                if self._backend.stat(name).size != len(data):
                    raise
        except BaseException:
            for entry in entries:
                self._index.release(writer.type, entry.id)
            raise
        if writer.type is BlobType.TREE and self._on_tree_pack is not None:
            self._on_tree_pack(pack_id, data)
        log.debug("put pack %s (%d blobs, %d bytes)", name, len(entries), len(data))
        pack = IndexedPack(id=pack_id, size=len(data), epoch=writer.epoch, entries=tuple(entries))
        if self._delegate is not None:
            self._index_pack(pack)
            self._delegate.stored(pack, started)
            return
        with self._stats_lock:
            self.stats.data_added += len(data) - sum(e.length for e in entries)
        self._recorded(pack, started)

    def record_pack(self, pack: IndexedPack, started: float) -> None:
        """A pack another process (a backup worker) stored with blobs this writer granted it
        (``Delegation.claim``): index it as if it were this writer's own. ``started``:
        ``monotonic()`` before its upload began.

        Raises:
            BackendError, IntegrityError: as flush(), when an index file is due.
        """
        with self._stats_lock:
            for entry in pack.entries:
                if entry.type is BlobType.DATA:
                    self.stats.data_blobs += 1
                else:
                    self.stats.tree_blobs += 1
                self.stats.data_added_raw += entry.raw_length
            self.stats.data_added += pack.size
        self._recorded(pack, started)

    def _index_pack(self, pack: IndexedPack) -> None:
        self._index.add_pack(
            pack.id,
            pack.size,
            [(e.type, e.id, e.offset, e.length, e.raw_length) for e in pack.entries],
            pack.epoch,
        )

    def _recorded(self, pack: IndexedPack, started: float) -> None:
        """A stored pack joins the index, and an index file when one is due."""
        self._index_pack(pack)
        crash_point("pack-stored")
        with self._stats_lock:
            self.stats.packs += 1
        pending = None
        with self._index_lock:
            self._uploaded_at[pack.id] = started
            self._unindexed.append(pack)
            self._unindexed_entries += len(pack.entries)
            oldest = self._uploaded_at[self._unindexed[0].id]  # the first unindexed pack's
            due = self._monotonic() - oldest >= self._index_interval
            due = due or self._unindexed_entries >= self._index_entries
            if len(self._unindexed) >= self._index_every or due:
                pending, self._unindexed = self._unindexed, []
                self._unindexed_entries = 0
        if pending:
            self._write_index(pending)

    def _write_index(self, packs: list[IndexedPack]) -> None:
        self._check_still_stored(packs)
        crash_point("before-index")
        self._save_index(IndexFile(packs=tuple(packs)))
        crash_point("after-index")
        with self._stats_lock:
            self.stats.index_files += 1

    def _check_still_stored(self, packs: list[IndexedPack]) -> None:
        """Never name a deleted pack in an index file: a pack uploaded longer ago than
        ``max_unindexed_age`` (half the prune grace) could have been removed by a prune as
        garbage while this process was stopped; check that it is still there.

        Raises:
            IntegrityError: it is gone; whatever referenced it must not be committed.
        """
        if self._max_age is None:
            return
        now = self._monotonic()
        for pack in packs:
            with self._index_lock:
                uploaded = self._uploaded_at.pop(pack.id, now)
            if now - uploaded <= self._max_age:
                continue
            name = pack_name(pack)
            try:
                self._backend.stat(name)
            except ObjectNotFoundError:
                msg = (
                    f"pack {name} that this run stored was removed by a prune: the run took "
                    "longer than half the prune grace period since it stored it (stopped, "
                    "suspended or slowed down); nothing that "
                    "needs it was committed, and nothing stored is damaged: run the `s3vault` "
                    "command again (docs/concurrency.md)"
                )
                raise IntegrityError(msg) from None

    def flush(self) -> None:
        """Upload partly filled packs and write an index file for every pack not yet indexed;
        a backup worker process's writer hands its partly filled pack to the parent instead
        (``Delegation.leftover``: with N workers a small backup stored N small data packs).

        Raises:
            BackendError: an upload failed.
        """
        self.batch_done()
        for btype in BlobType:
            with self._locks[btype]:
                writer = self._writers[btype]
                self._writers[btype] = PackWriter(btype, self._sealer, self._pack_size)
            if not len(writer):
                continue
            if self._delegate is not None:
                self._delegate.leftover([(btype, *blob) for blob in writer.blobs()])
            else:
                self._upload(writer)
        with self._index_lock:
            pending, self._unindexed = self._unindexed, []
            self._unindexed_entries = 0
        if pending:
            self._write_index(pending)


def sealed_kind_for(kind: ObjectKind) -> SealedKind:
    """The envelope kind of a standalone file kind."""
    kinds = {
        ObjectKind.INDEX: SealedKind.INDEX,
        ObjectKind.SNAPSHOTS: SealedKind.SNAPSHOT,
        ObjectKind.LOCKS: SealedKind.LOCK,
        ObjectKind.DRILLS: SealedKind.DRILL,
        ObjectKind.DELETIONS: SealedKind.DELETION,
        ObjectKind.AUDIT: SealedKind.AUDIT,
        ObjectKind.LEDGER: SealedKind.LEDGER,
    }
    return kinds[kind]
