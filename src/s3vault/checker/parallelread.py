"""The read-back in worker processes: ``verify --read-data --jobs N`` with N > 1.

Each worker (s3vault/workerpool.py: forked, the key inherited) downloads packs on reader
threads, one ahead, and checks them (checker/readback.py ``check_pack``: storage id, header,
every blob decrypted, decompressed and hashed); the parent gets one small PackReading per pack,
in pack order, so findings are the serial run's, message for message. Memory: per worker, the
packs it holds (readers + 1).

A killed worker fails the verify (S3VaultError, exit code 1) saying so: a read-back that did
not finish vouches for nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future

from s3vault.checker.readback import PackReading, check_pack, fetch_pack, unreadable
from s3vault.errors import BackendError, S3VaultError
from s3vault.format.indexfile import IndexedPack
from s3vault.repository.compactpack import CompactPack
from s3vault.repository.repository import Repository
from s3vault.workerpool import Watchdog, WorkerJob, WorkerPool, add_counts, counts_since

Item = tuple[str, IndexedPack]  # (object name, the pack with its entries)
# What goes down a worker's pipe: the pack as a CompactPack, its entries in the index's own
# 45-byte encoding. Pickling a pack's thousands of entry records one by one took about a tenth
# of the parent's time in a read-back of the bench repository (py-spy), beside the walk.
_Sent = tuple[str, CompactPack]


class _PackChecker:
    """A worker's part (built in the parent before the fork)."""

    def __init__(self, repo: Repository) -> None:
        self._repo = repo
        self._base = repo.requests.snapshot()

    def fetch(self, sent: _Sent) -> bytes:
        return fetch_pack(self._repo, sent[1].kind, sent[1].id)

    def work(self, sent: _Sent, fetched: Future[bytes]) -> PackReading:
        name, compact = sent
        try:
            data = fetched.result()
        except BackendError as exc:
            return unreadable(name, exc)
        return check_pack(self._repo, name, compact.full(), data)

    def finish(self) -> object:
        """The requests this worker made (the parent's counters leave them out)."""
        return counts_since(self._base, self._repo.requests)


def read_in_workers(
    repo: Repository,
    items: Iterable[Item],
    on_reading: Callable[[PackReading], None],
    *,
    jobs: int,
    readers: int,
    watchdog: Watchdog | None = None,
) -> None:
    """Read and check every pack in ``jobs`` worker processes; ``on_reading`` gets each
    pack's reading in the parent, in the order of ``items``.

    Raises:
        S3VaultError: a worker process died; whatever ``on_reading`` raises.
    """
    checker = _PackChecker(repo)
    job = WorkerJob(
        fetch=checker.fetch, work=checker.work, finish=checker.finish, crash_at="verify-worker"
    )
    pool: WorkerPool[_Sent, bytes, PackReading] = WorkerPool(
        job,
        jobs=jobs,
        readers=readers,
        name="s3vault-verify",
        died=_died,
        remote=repo.remote,
        watchdog=watchdog,
    )
    sent = ((name, CompactPack.of(pack)) for name, pack in items)
    for requests in pool.run(sent, lambda _sent, reading: on_reading(reading)):
        add_counts(repo.requests, requests)


def _died(what: str) -> S3VaultError:
    return S3VaultError(
        f"a verify {what}; the read-back stopped before every pack was checked, so it "
        "vouches for nothing: run verify again"
    )
