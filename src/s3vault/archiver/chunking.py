"""Stage 3, read + chunk + hash: turn a file into blob ids, handing new blobs to the writer.

Runs in a pool of reader threads. Each reader chunks with its own FastCDC instance (compiled,
releases the GIL), computes keyed BLAKE3 ids and the whole-file content hash, and sends chunks of
big files to the blob pool (compress + seal + pack, also GIL-free in the libraries) so one large
file still keeps every core busy. At most ``window`` chunks per file are in flight, which bounds
memory by (readers × window × max chunk size).
"""

from __future__ import annotations

import errno
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass

from s3vault.chunker import (
    ByteStream,
    Chunker,
    ChunkerParams,
    is_zero_run,
    make_chunker,
)
from s3vault.crypto.hashing import ContentHasher, blob_id
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from s3vault.repository.writer import BlobWriter

INLINE_BELOW = 4 * 1024 * 1024
# O_NONBLOCK: a FIFO swapped in after the scan must not block the open (and regular files
# ignore it); O_NOFOLLOW: a symlink swapped in is not followed.
_OPEN_FLAGS = (
    os.O_RDONLY | os.O_NOFOLLOW | os.O_NOCTTY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
)
_NOATIME = getattr(os, "O_NOATIME", 0)


# A kernel file that refuses one read of many megabytes (ENOMEM: a /proc/sys file takes at
# most what the kernel can allocate at once) is read in pieces of this size instead.
SMALL_READ = 1 << 16


class FdReader:
    """The minimal binary stream over a file descriptor (no fstat, no buffering layer).

    ``sparse``: the file may have holes (it takes fewer blocks than its size needs; also true
    of a file that a file system compresses), so ``hole_after`` asks the file system where
    they are (SEEK_HOLE, SEEK_DATA); otherwise it costs nothing and says there are none. A
    file system that cannot tell says the whole file is data: it is read as any other.
    """

    __slots__ = ("_fd", "_sparse")

    def __init__(self, fd: int, *, sparse: bool = False) -> None:
        self._fd = fd
        self._sparse = sparse

    def hole_after(self, pos: int) -> tuple[int, int]:
        """(start, end) of the first hole at or after ``pos`` (start == end: none); the read
        position stays."""
        if not self._sparse:
            return (0, 0)
        here = os.lseek(self._fd, 0, os.SEEK_CUR)
        try:
            start = os.lseek(self._fd, pos, os.SEEK_HOLE)
            try:
                end = os.lseek(self._fd, start, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise
                end = max(start, os.fstat(self._fd).st_size)  # a hole up to the end
        except OSError:  # past the end (ENXIO), or no holes known here (EINVAL)
            return (0, 0)
        finally:
            os.lseek(self._fd, here, os.SEEK_SET)
        return (start, end)

    def seek(self, pos: int) -> None:
        """Continue reading at offset ``pos``."""
        os.lseek(self._fd, pos, os.SEEK_SET)

    def read(self, n: int) -> bytes:
        """n bytes, or fewer at the end of the file."""
        data = self._read(n)
        while 0 < len(data) < n:
            more = self._read(n - len(data))
            if not more:
                break
            data += more
        return data

    def readinto(self, buf: memoryview) -> int:
        """Fill buf as far as one read goes."""
        try:
            return os.readv(self._fd, [buf])
        except OSError as exc:
            if exc.errno != errno.ENOMEM or len(buf) <= SMALL_READ:
                raise
            return os.readv(self._fd, [buf[:SMALL_READ]])

    def _read(self, n: int) -> bytes:
        try:
            return os.read(self._fd, n)
        except OSError as exc:
            if exc.errno != errno.ENOMEM or n <= SMALL_READ:
                raise
            return os.read(self._fd, SMALL_READ)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadResult:
    """The content of one file as read."""

    content: tuple[ObjectId, ...]
    content_hash: ObjectId
    size: int


class FileReader:
    """Reads files into blobs; safe to use from many threads."""

    def __init__(
        self,
        *,
        writer: BlobWriter,
        id_key: bytes,
        params: ChunkerParams,
        blob_pool: Executor,
        window: int = 4,
        on_bytes: Callable[[int], None] | None = None,
        cancelled: threading.Event | None = None,
    ) -> None:
        self._writer = writer
        self._id_key = id_key
        self._params = params
        self._pool = blob_pool
        self._window = window
        self._on_bytes = on_bytes
        self._cancelled = cancelled or threading.Event()
        self._local = threading.local()
        self._zero_ids: dict[int, ObjectId] = {}  # the id of a hole's chunk, by its length

    def _chunker(self) -> Chunker:
        chunker: Chunker | None = getattr(self._local, "chunker", None)
        if chunker is None:
            chunker = self._local.chunker = make_chunker(self._params)
        return chunker

    def open(self, path: bytes) -> int:
        """Open a source file for reading without following a symlink or updating atime."""
        try:
            return os.open(path, _OPEN_FLAGS | _NOATIME)
        except PermissionError:  # O_NOATIME needs ownership; retry without it
            return os.open(path, _OPEN_FLAGS)

    def _id_of(self, chunk: memoryview) -> ObjectId:
        """The chunk's blob id; a hole's chunks (all alike) are hashed once."""
        if not is_zero_run(chunk):
            return blob_id(self._id_key, chunk)
        bid = self._zero_ids.get(len(chunk))
        if bid is None:
            bid = self._zero_ids[len(chunk)] = blob_id(self._id_key, chunk)
        return bid

    def read_stream(
        self, stream: ByteStream, size_hint: int, *, batched: bool = False
    ) -> ReadResult:
        """Chunk a stream and store its new chunks.

        Raises:
            OSError: reading failed (the caller turns this into a warning).
            BackendError, IntegrityError: storing a blob failed (fatal for the backup).

        When the operation is cancelled it returns early with a partial result that the
        caller must discard.
        """
        hasher = ContentHasher(self._id_key)
        ids: list[ObjectId] = []
        inflight: deque[Future[tuple[ObjectId, bool]]] = deque()
        size = 0
        inline = size_hint < INLINE_BELOW
        save = self._writer.save
        for chunk in self._chunker().chunks(stream, size_hint):
            if self._cancelled.is_set():
                break
            bid = self._id_of(chunk)
            hasher.update(chunk)
            ids.append(bid)
            size += len(chunk)
            if inline:
                if batched and isinstance(chunk.obj, bytes):  # an immutable whole-file read
                    self._writer.save_batched(BlobType.DATA, chunk, bid)
                else:
                    save(BlobType.DATA, chunk, bid)
            else:
                if len(inflight) >= self._window:
                    inflight.popleft().result()
                # A view into immutable bytes (a whole-file read) stays valid; a view into the
                # chunker's reused window must be copied before another thread keeps it.
                data = chunk if isinstance(chunk.obj, bytes) else bytes(chunk)
                inflight.append(self._pool.submit(save, BlobType.DATA, data, bid))
            if self._on_bytes is not None:
                self._on_bytes(len(chunk))
        try:
            while inflight:
                inflight.popleft().result()
        finally:
            for fut in inflight:
                fut.cancel()
        return ReadResult(content=tuple(ids), content_hash=hasher.digest(), size=size)
