"""A file's bytes at any offset, read through its blobs.

``FileContent`` maps offsets to blobs from the index's plaintext lengths (one integer per blob,
nothing else held per open file); ``BlobCache`` keeps the few blobs read last (bounded in
bytes, shared by every open file) and fetches the next blobs of a file read in order ahead of
the reader. A 1 GB file costs the cache's bound, not its size. Every blob is authenticated and
checked against its id when it is loaded (``Repository.load_blob``); one that is missing or
damaged fails the read that needs it (``OSError(EIO)``, logged once per blob), not the mount.
"""

from __future__ import annotations

import errno
import logging
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from s3vault.errors import IntegrityError, ObjectNotFoundError
from s3vault.format.packfile import BlobType
from s3vault.format.tree import Node
from s3vault.ids import ObjectId
from s3vault.repository.copies import file_layout, read_length
from s3vault.repository.repository import Repository

log = logging.getLogger(__name__)
T = TypeVar("T")

READ_AHEAD = 2  # blobs fetched ahead of a reader going forward
DEFAULT_CACHE_BYTES = 64 << 20


class RemovedByPrune(ObjectNotFoundError):
    """A blob or tree the mount's index named that is no longer in the repository's, while
    snapshots shown were forgotten since: another host's prune removed it with them. Not
    damage."""


# How many of the snapshots the mount shows are gone from the store (forgotten since): what
# tells a prune's removal from damage (a lost pack whose index entries a `repair index`
# dropped was called "removed by a prune, nothing is damaged": an attack pass, 2026-12-07)
Forgotten = Callable[[Repository], int]


def read_fresh(
    repo: Repository,
    btype: BlobType,
    bid: ObjectId,
    load: Callable[[Repository], T],
    forgotten: Forgotten,
) -> tuple[T, Repository]:
    """``load(repo)``, a blob read through ``repo``; when its pack is gone, through a freshly
    read index (another host's prune repacked it, or deleted it with its forgotten snapshot,
    which the mount called damage: an attack pass, 2026-12-07). Returns what ``load`` gave
    and the repository view it read through (``repo`` or the fresh one).

    Raises:
        IntegrityError: damaged, or no longer indexed while no snapshot shown was forgotten.
        ObjectNotFoundError: gone (RemovedByPrune: no longer indexed, and snapshots shown
            were forgotten since).
    """
    # A file is opened, a directory listed, only when the mount's index had it
    if repo.index.has(btype, bid):
        try:
            return load(repo), repo
        except ObjectNotFoundError:  # its pack is gone
            fresh = repo.current(ask_the_store=True)
            if fresh is repo:
                raise
            repo = fresh
    if repo.index.has(btype, bid):
        return load(repo), repo
    gone = forgotten(repo)
    if gone:
        msg = (
            f"no longer in the repository: a prune removed it since this mount read the index, "
            f"and {gone} snapshot(s) shown here were forgotten since (the mount stops showing "
            "them at its next refresh); if its snapshot is still listed (`s3vault snapshots`), "
            "`s3vault verify` names the damage"
        )
        raise RemovedByPrune(msg)
    msg = (
        "no longer in the repository's index, though no snapshot shown here was forgotten: "
        "its data is lost (`s3vault verify` names the damage)"
    )
    raise IntegrityError(msg)


def _never_forgotten(_repo: Repository) -> int:
    return 0


def _data(bid: ObjectId) -> Callable[[Repository], bytes]:
    return lambda repo: repo.load_blob(BlobType.DATA, bid)


class BlobCache:
    """Decrypted data blobs, least recently used dropped first once their plaintext passes
    ``capacity`` bytes; a blob asked for while it is being fetched is fetched once. Thread-safe.
    """

    def __init__(
        self,
        repo: Repository,
        capacity: int = DEFAULT_CACHE_BYTES,
        forgotten: Forgotten = _never_forgotten,
    ) -> None:
        """``forgotten``: how many snapshots shown are gone (``read_fresh``)."""
        self._repo = repo
        self._forgotten = forgotten
        self._capacity = capacity
        self._lock = threading.Lock()
        self._blobs: OrderedDict[ObjectId, bytes] = OrderedDict()
        self._held = 0
        self._loading: dict[ObjectId, Future[bytes]] = {}
        self._pool = ThreadPoolExecutor(READ_AHEAD, thread_name_prefix="s3v-mount")
        self.failed: dict[ObjectId, str] = {}  # blobs that could not be read, and why
        self.removed: dict[ObjectId, str] = {}  # blobs a prune beside the mount removed

    def rebind(self, repo: Repository) -> None:
        """Read through ``repo`` from now on (a fresher index); what is cached stays valid
        (a blob's id is its content's)."""
        with self._lock:
            self._repo = repo

    @property
    def held(self) -> int:
        """Plaintext bytes held now."""
        with self._lock:
            return self._held

    def get(self, bid: ObjectId) -> bytes:
        """The blob's plaintext.

        Raises:
            OSError: EIO when it is missing or damaged (logged the first time).
        """
        with self._lock:
            data = self._blobs.get(bid)
            if data is not None:
                self._blobs.move_to_end(bid)
                return data
            future = self._loading.get(bid)
            if future is None:
                future = Future()
                self._loading[bid] = future
                owner = True
            else:
                owner = False
        if owner:
            self._load(bid, future)
        return future.result()

    def prefetch(self, bid: ObjectId) -> None:
        """Start fetching a blob in the background unless it is held or on its way."""
        with self._lock:
            known = bid in self._blobs or bid in self._loading
            if known or bid in self.failed or bid in self.removed:
                return
            future: Future[bytes] = Future()
            self._loading[bid] = future
        self._pool.submit(self._load, bid, future)

    def fail(self, bid: ObjectId, why: str) -> OSError:
        """Note a blob a file needs as damaged (logged once); the error its reader gets."""
        with self._lock:
            first = bid not in self.failed
            self.failed[bid] = why
        if first:
            log.warning("data blob %s %s", bid.short, why)
        return OSError(errno.EIO, f"data blob {bid.short} {why}")

    def close(self) -> None:
        """Stop the read-ahead threads and drop every blob."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            self._blobs.clear()
            self._held = 0

    def _load(self, bid: ObjectId, future: Future[bytes]) -> None:
        try:
            data, through = read_fresh(self._repo, BlobType.DATA, bid, _data(bid), self._forgotten)
        except (IntegrityError, ObjectNotFoundError) as exc:
            with self._lock:
                del self._loading[bid]
                into = self.removed if isinstance(exc, RemovedByPrune) else self.failed
                first = bid not in into
                into[bid] = str(exc)
            if first:
                log.warning("data blob %s cannot be read: %s", bid.short, exc)
            future.set_exception(OSError(errno.EIO, f"data blob {bid.short} cannot be read"))
            return
        except BaseException as exc:  # a bug or a store error: the reader gets EIO too
            with self._lock:
                del self._loading[bid]
            log.warning("data blob %s: %s: %s", bid.short, type(exc).__name__, exc)
            future.set_exception(OSError(errno.EIO, str(exc)))
            return
        if through is not self._repo:
            self.rebind(through)
        with self._lock:
            del self._loading[bid]
            self._blobs[bid] = data
            self._held += len(data)
            while self._held > self._capacity and len(self._blobs) > 1:
                _old, dropped = self._blobs.popitem(last=False)
                self._held -= len(dropped)
        future.set_result(data)


class FileContent:
    """The bytes of one file node, read at any offset through ``cache``."""

    def __init__(self, repo: Repository, node: Node, cache: BlobCache) -> None:
        """Raises:
        OSError: EIO when a blob of the file is not in the index, or its copies disagree on
            its length and none reads (logged)."""
        self._cache = cache
        self._blobs = node.content
        self._starts: list[int] = []
        # copies whose lengths fit the file (read to learn a length only where they disagree)
        layout = file_layout(repo.index, node.content, node.size, partial(read_length, repo))
        if layout.missing is not None:  # damage, counted for the exit code (it was not)
            raise cache.fail(layout.missing, "is not in the index")
        if layout.unreadable is not None:
            raise cache.fail(layout.unreadable, "cannot be read from any of its copies")
        for bid, bad, taken in layout.passed_over:
            log.warning(
                "data blob %s: the copy in pack %s has a length that does not fit the file; "
                "read from its copy in pack %s",
                bid.short,
                bad.pack_id.short,
                taken.pack_id.short,
            )
        size = 0
        for loc in layout.locations:
            self._starts.append(size)
            size += loc.raw_length
        self.size = size

    def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset`` (fewer at the end of the file).

        Raises:
            OSError: EIO when a blob the range needs cannot be read.
        """
        if offset >= self.size or size <= 0:
            return b""
        at = bisect_right(self._starts, offset) - 1
        out = bytearray()
        while len(out) < size and at < len(self._blobs):
            data = self._cache.get(self._blobs[at])
            for ahead in self._blobs[at + 1 : at + 1 + READ_AHEAD]:
                self._cache.prefetch(ahead)
            start = offset + len(out) - self._starts[at]
            out += data[start : start + size - len(out)]
            at += 1
        return bytes(out)
