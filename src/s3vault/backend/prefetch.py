"""PrefetchingBackend: listings started ahead, so they overlap what an opening does first.

Opening a repository is a chain of dependent steps: read the config, list and read the key
files, derive the key (Argon2id, ~0.1 s), and only then list the index files, the deletion
records and (for a backup) the snapshots. On S3 each listing is a round trip; none of them
depends on the key. This wrapper starts the listings of the prefixes it is given at once, in
threads, beside that chain. The first ``list(prefix)`` of such a prefix returns the listing
taken ahead (or raises its error, as the listing would have); every later ``list`` of it asks
the store again. A listing nobody asks for is dropped, its error unseen.

A listing taken ahead shows the store as it was when the repository was opened: use it only for
a first reader to whom that is the same as having started a moment earlier (the index an opening
loads, a backup's parent candidates). Never for a listing that must follow a lease or a lock
(prune lists the snapshots only once it holds the lease: it opens without prefetching them).
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from s3vault.backend.base import Backend, ObjectInfo
from s3vault.backend.forwarding import ForwardingBackend


class PrefetchingBackend(ForwardingBackend):
    """Forwards everything; the first listing of each given prefix was started ahead."""

    def __init__(self, inner: Backend, prefixes: Iterable[str]) -> None:
        super().__init__(inner)
        wanted = list(dict.fromkeys(prefixes))
        self._lock = threading.Lock()
        self._ahead: dict[str, Future[list[ObjectInfo]]] = {}
        if not wanted:
            return
        pool = ThreadPoolExecutor(len(wanted), thread_name_prefix="s3v-prefetch")
        try:
            for prefix in wanted:
                self._ahead[prefix] = pool.submit(self._listing, prefix)
        finally:
            pool.shutdown(wait=False)  # the threads end with their listing

    def _listing(self, prefix: str) -> list[ObjectInfo]:
        return list(self._inner.list(prefix))

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """The listing taken ahead, the first time a prefetched prefix is asked for; else the
        store's listing now.

        Raises:
            BackendError: the listing failed (ahead or now).
        """
        with self._lock:
            ahead = self._ahead.pop(prefix, None)
        if ahead is None:
            yield from self._inner.list(prefix)
        else:
            yield from ahead.result()

    @property
    def pending(self) -> builtins.list[str]:
        """Prefixes listed ahead that nobody has asked for yet."""
        with self._lock:
            return sorted(self._ahead)
