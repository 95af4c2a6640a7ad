"""A backup worker process (archiver/parallel.py): its pipe to the parent, its writer.

Messages to the parent, in order on one pipe (``_Outbox``, shared by the worker's threads):
``("claim", ticket, blobs)``, ``("trees", sealed tree blobs)``, ``("pack", IndexedPack,
started)``, ``("drop", tree id)``, ``("held", sealed data blobs of its last, partly filled
pack)`` (at the end, for the parent to pack), ``("done", task key, result, stats, files, bytes,
warnings)``, ``("progress", files, bytes, files in flight)`` (about twice a second while
the parent shows progress: a large file's bytes as they are read), ``("bye", stats, files,
bytes, warnings, requests)``, ``("error", exception)``.
From the parent: ``DirTask`` records, ``None`` (finish the tasks, store what is held, say
goodbye) and ``("granted", ticket, [bool])``, read by a thread of their own so that the parent
never blocks sending one.
"""

from __future__ import annotations

import contextlib
import pickle
import queue
import signal
import threading
from concurrent.futures import Future
from dataclasses import fields
from multiprocessing.connection import Connection
from typing import Any

from s3vault.archiver.dirworker import CollectingProgress, DirTask, DirWorker
from s3vault.archiver.pipeline import ArchiveOptions
from s3vault.backend.accounting import RequestCounts
from s3vault.collector import inherited_heap_frozen
from s3vault.crashpoint import crash_point
from s3vault.errors import S3VaultError
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository
from s3vault.repository.writer import Delegation
from s3vault.workerpool import exit_with_parent

_REQUEST_FIELDS = tuple(f.name for f in fields(RequestCounts))
SEND_BYTES = 4 << 20  # sealed tree blobs a worker gathers before sending them
PROGRESS_EVERY = 0.5  # seconds between two progress messages (the display shows 1-4 a second)


class _Outbox:
    """A worker's messages to the parent; sealed tree blobs are gathered into batches.
    Thread-safe (the reader and blob threads store blobs)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._trees: list[tuple[BlobType, ObjectId, bytes, int]] = []
        self._bytes = 0

    def tree(self, btype: BlobType, bid: ObjectId, sealed: bytes, raw_length: int) -> None:
        """A sealed tree blob for the parent to pack."""
        with self._lock:
            self._trees.append((btype, bid, sealed, raw_length))
            self._bytes += len(sealed)
            if self._bytes >= SEND_BYTES:
                self._send_trees()

    def _send_trees(self) -> None:
        if self._trees:
            self._conn.send(("trees", self._trees))
            self._trees, self._bytes = [], 0

    def held(self, blobs: list[tuple[BlobType, ObjectId, bytes, int]]) -> None:
        """The sealed blobs of the worker's partly filled pack, for the parent to pack
        (``Delegation.leftover``), in messages of about SEND_BYTES."""
        batch: list[tuple[BlobType, ObjectId, bytes, int]] = []
        size = 0
        for blob in blobs:
            batch.append(blob)
            size += len(blob[2])
            if size >= SEND_BYTES:
                self.send(("held", batch))
                batch, size = [], 0
        if batch:
            self.send(("held", batch))

    def send(self, message: tuple[Any, ...]) -> None:
        """Send a message after every tree blob gathered so far."""
        with self._lock:
            self._send_trees()
            self._conn.send(message)

    def send_now(self, message: tuple[Any, ...]) -> None:
        """Send a message that no tree blob has to precede (progress)."""
        with self._lock:
            self._conn.send(message)


class _Claims:
    """A worker's requests to store blobs, answered by the parent (``BlobWriter.grant``)."""

    def __init__(self, outbox: _Outbox) -> None:
        self._outbox = outbox
        self._lock = threading.Lock()
        self._next = 0
        self._waiting: dict[int, Future[list[bool]]] = {}
        self._gone = False

    def claim(self, blobs: list[tuple[BlobType, ObjectId]]) -> list[bool]:
        """Which of these blobs this worker is to store (the others are stored already, or
        by another worker).

        Raises:
            S3VaultError: the parent process is gone.
        """
        answer: Future[list[bool]] = Future()
        with self._lock:
            if self._gone:
                raise S3VaultError("the backup's parent process is gone")
            ticket, self._next = self._next, self._next + 1
            self._waiting[ticket] = answer
        self._outbox.send(("claim", ticket, blobs))
        return answer.result()

    def answered(self, ticket: int, granted: list[bool]) -> None:
        with self._lock:
            answer = self._waiting.pop(ticket)
        answer.set_result(granted)

    def fail(self) -> None:
        with self._lock:
            self._gone = True
            waiting, self._waiting = self._waiting, {}
        for answer in waiting.values():
            answer.set_exception(S3VaultError("the backup's parent process is gone"))


def _receive(conn: Connection, tasks: queue.SimpleQueue[DirTask | None], claims: _Claims) -> None:
    """Read the parent's messages as they come, so the parent never blocks sending one:
    tasks (None: stop once they are done) and answers to claims, until the pipe closes."""
    try:
        while True:
            message = conn.recv()
            if isinstance(message, tuple):
                claims.answered(message[1], message[2])
            else:
                tasks.put(message)
    except (EOFError, OSError):
        claims.fail()
        tasks.put(None)


def _report(outbox: _Outbox, exc: BaseException) -> None:
    """Send an exception to the parent (a description when it does not pickle); nothing when
    the parent is gone."""
    with contextlib.suppress(OSError):
        try:
            outbox.send(("error", exc))
        except (pickle.PicklingError, TypeError, AttributeError):
            outbox.send(("error", S3VaultError(f"backup worker: {type(exc).__name__}: {exc}")))


class _Ticker:
    """Sends the worker's progress every PROGRESS_EVERY seconds (files and bytes done, the
    files in flight), from a thread of its own, until stopped; nothing when nothing moved."""

    def __init__(self, outbox: _Outbox, progress: CollectingProgress) -> None:
        self._outbox = outbox
        self._progress = progress
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        shown: list[str] = []
        while not self._stop.wait(PROGRESS_EVERY):
            files, bytes_, in_flight = self._progress.take_counts()
            if files or bytes_ or in_flight != shown:
                try:
                    self._outbox.send_now(("progress", files, bytes_, in_flight))
                except OSError:  # the parent is gone
                    return
                shown = in_flight

    def stop(self) -> None:
        """No progress message after this returns (the next ones carry the rest)."""
        self._stop.set()
        self._thread.join()


def requests_since(base: RequestCounts, now: RequestCounts) -> RequestCounts:
    """The requests a worker made (its counters started as the parent's at the fork)."""
    return RequestCounts(**{f: getattr(now, f) - getattr(base, f) for f in _REQUEST_FIELDS})


def add_requests(total: RequestCounts, more: RequestCounts) -> None:
    """Count a worker's requests in the parent's counters."""
    for name in _REQUEST_FIELDS:
        setattr(total, name, getattr(total, name) + getattr(more, name))


def worker_main(
    conn: Connection,
    others: list[Connection],
    repo: Repository,
    options: ArchiveOptions,
    lists_files: bool = False,
    shows_progress: bool = False,
) -> None:
    """A worker process: tasks in, results, tree blobs and stored packs out, until the parent
    says stop (``lists_files``: with each file's status, for -vv; ``shows_progress``: with
    progress between the results, for a display)."""
    inherited_heap_frozen()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles an interrupt
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    exit_with_parent()  # a killed backup stores nothing more
    for other in others:  # another worker's pipe: its death must close it for the parent
        other.close()
    outbox = _Outbox(conn)
    claims = _Claims(outbox)
    progress = CollectingProgress(lists_files=lists_files, tracks=shows_progress)
    writer = repo.blob_writer(
        delegate=Delegation(
            claim=claims.claim,
            tree=outbox.tree,
            stored=lambda pack, started: outbox.send(("pack", pack, started)),
            leftover=outbox.held,
        ),
    )
    base = repo.requests.snapshot()
    worker = DirWorker(repo, writer, options, progress=progress)
    worker.on_drop = lambda tid: outbox.send(("drop", tid))
    tasks: queue.SimpleQueue[DirTask | None] = queue.SimpleQueue()
    try:
        # threads that cannot start (``ulimit -v``) are the parent's to say, as the rest
        threading.Thread(target=_receive, args=(conn, tasks, claims), daemon=True).start()
        ticker = _Ticker(outbox, progress) if shows_progress else None
        worker.open()
        while (task := tasks.get()) is not None:
            result = worker.do_task(task)
            crash_point("backup-worker-task")
            outbox.send(("done", task.key, result, worker.take_stats(), *progress.take()))
        if ticker is not None:
            ticker.stop()
        writer.flush()
        sent = requests_since(base, repo.requests)  # the parent's counts leave out a worker's
        outbox.send(("bye", worker.take_stats(), *progress.take(), sent))
    except BaseException as exc:  # to the parent, which fails the backup and says why (once)
        _report(outbox, exc)
    finally:
        worker.close()
