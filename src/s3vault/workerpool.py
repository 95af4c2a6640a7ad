"""Worker processes for the read engines (``restore --jobs``, ``verify --read-data --jobs``):
fork N workers, hand each a few tasks at a time, deliver their results in task order, and fail
clearly when one dies.

    parent                              each worker (forked: it inherits the key, the index,
    ------                              the plan, read-only, copy-on-write; nothing is pickled
    tasks → ("task", seq, task)  ───►   but the tasks themselves)
                                        fetch(task) on ``readers`` threads (I/O, read ahead)
                                        work(task, fetched) on its main thread (CPU: decrypt,
    on_result(task, result)  ◄───       decompress, hash, write) → ("result", seq, result)
    in task order                       at the end: ("bye", finish())

Why processes: decrypting, decompressing and hashing release the interpreter lock, but the
Python between them does not, so threads keep a restore or a read-back near one core.
Why fork (the archiver's reason, archiver/parallel.py): the key, the index and the plan are
inherited at no cost; "spawn" would pickle them into every worker. Where fork is not available
(not POSIX) ``available()`` is False and callers take their serial path.

Failure: a worker that raises sends the exception and the parent re-raises it; a worker that
dies (killed, out of memory) closes its pipe, and the parent raises the error ``died`` makes of
its description; either way every other worker is killed before the error leaves ``run``. So
is a KeyboardInterrupt (workers ignore SIGINT: the parent decides). A worker whose parent is
gone finds its pipe closed and exits. A broken pipe never escapes as such (click would turn an
EPIPE into a silent exit).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import queue
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Generic, NoReturn, TypeVar, cast

from s3vault.crashpoint import crash_point
from s3vault.errors import S3VaultError

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")
C = TypeVar("C")
_END = object()  # no more tasks


def default_jobs() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def available() -> bool:
    """Whether worker processes can be forked here."""
    return "fork" in multiprocessing.get_all_start_methods()


def counts_since(base: C, now: C) -> C:
    """Field-by-field difference of two records of counters (a worker's own requests: its
    counters started as the parent's at the fork)."""
    values = {f.name: getattr(now, f.name) - getattr(base, f.name) for f in fields(base)}  # type: ignore[arg-type]
    return type(base)(**values)


def add_counts(total: object, more: object) -> None:
    """Add a record of counters into another of the same type, in place."""
    for f in fields(total):  # type: ignore[arg-type]
        setattr(total, f.name, getattr(total, f.name) + getattr(more, f.name))


@dataclass(frozen=True, slots=True)
class WorkerJob(Generic[T, P, R]):
    """What a worker does with each task. ``fetch`` runs on a reader thread, ahead of
    ``work`` (which gets its Future: a fetch that raised is ``work``'s to report);
    ``finish`` runs once at the end and its (picklable) result goes to the parent.
    ``crash_at``: the crash point passed after each task (crashpoint.py)."""

    fetch: Callable[[T], P]
    work: Callable[[T, Future[P]], R]
    finish: Callable[[], object]
    crash_at: str


@dataclass(slots=True, eq=False)
class _Worker:
    proc: BaseProcess
    conn: Connection
    in_flight: int = 0
    summary: object = None
    finished: bool = False


class WorkerPool(Generic[T, P, R]):
    """Runs a job over tasks in ``jobs`` forked processes. One use: ``run`` once."""

    def __init__(
        self,
        job: WorkerJob[T, P, R],
        *,
        jobs: int,
        readers: int,
        name: str,
        died: Callable[[str], S3VaultError],
    ) -> None:
        self._job = job
        self._jobs = max(1, jobs)
        self._readers = max(1, readers)
        self._name = name
        self._died_error = died
        self._in_flight = self._readers + 2  # the worker always has its next tasks at hand

    def run(self, tasks: Iterable[T], on_result: Callable[[T, R], None]) -> list[object]:
        """Hand out every task; ``on_result`` is called in the parent, in task order; returns
        each worker's ``finish()`` result.

        Raises:
            S3VaultError: a worker died (``died``'s error) or raised (its exception); whatever
                ``on_result`` raises. Every worker is stopped first.
        """
        workers = self._fork()
        try:
            self._serve(workers, iter(tasks), on_result)
            for w in workers:
                self._send(w, None)  # stop: finish what you hold, and say goodbye
            while not all(w.finished for w in workers):
                for w, message in self._messages(workers):
                    if message[0] != "bye":
                        raise message[1]
                    w.summary, w.finished = message[1], True
            for w in workers:
                w.proc.join()
        except BaseException:
            for w in workers:
                w.proc.kill()
            for w in workers:
                w.proc.join()
            raise
        finally:
            for w in workers:
                w.conn.close()
        return [w.summary for w in workers]

    def _serve(
        self, workers: list[_Worker], source: Iterator[T], on_result: Callable[[T, R], None]
    ) -> None:
        """Until every task is done: hand tasks out, take results in, deliver them in order."""
        sent: dict[int, T] = {}
        arrived: dict[int, R] = {}
        seq = delivered = 0
        more = True
        while more or sent:
            for w in sorted(workers, key=lambda w: w.in_flight):
                while more and w.in_flight < self._in_flight:
                    task = next(source, _END)
                    if task is _END:
                        more = False
                        break
                    sent[seq] = cast("T", task)
                    self._send(w, ("task", seq, task))
                    w.in_flight += 1
                    seq += 1
            if not sent:
                break
            for w, message in self._messages(workers):
                if message[0] != "result":
                    raise message[1]  # "error": the worker's exception
                w.in_flight -= 1
                arrived[message[1]] = message[2]
            while delivered in arrived:
                on_result(sent.pop(delivered), arrived.pop(delivered))
                delivered += 1

    def _fork(self) -> list[_Worker]:
        ctx = multiprocessing.get_context("fork")
        pipes = [ctx.Pipe() for _ in range(self._jobs)]
        workers = []
        for i, (mine, theirs) in enumerate(pipes):
            others = [end for j, pair in enumerate(pipes) if j != i for end in pair]
            others.append(mine)
            proc = ctx.Process(
                target=_worker_main,
                args=(theirs, others, self._job, self._readers),
                name=f"{self._name}-{i}",
                daemon=True,
            )
            proc.start()
            workers.append(_Worker(proc, mine))
        for _, theirs in pipes:
            theirs.close()
        return workers

    def _messages(self, workers: list[_Worker]) -> list[tuple[_Worker, tuple[Any, ...]]]:
        """The messages ready now (waits for one); a worker gone without a word fails."""
        live = [w for w in workers if not w.finished]
        by_conn = {w.conn: w for w in live}
        by_sentinel = {w.proc.sentinel: w for w in live}
        out = []
        ready = wait([*by_conn, *by_sentinel])
        for conn in ready:
            if not isinstance(conn, int):
                w = by_conn[cast("Connection[Any, Any]", conn)]
                try:
                    out.append((w, w.conn.recv()))
                except (EOFError, OSError):
                    self._died(w)
        heard = {id(w) for w, _ in out}  # a worker exits after its goodbye: not a death
        for sentinel in ready:
            if isinstance(sentinel, int):
                w = by_sentinel[sentinel]
                if id(w) not in heard and not w.conn.poll():
                    self._died(w)  # gone without a word (its last words are read first)
        return out

    def _send(self, w: _Worker, message: object) -> None:
        try:
            w.conn.send(message)
        except OSError:  # BrokenPipeError, ConnectionResetError: its end is closed
            self._died(w)

    def _died(self, w: _Worker) -> NoReturn:
        w.proc.join(timeout=5)  # its pipe closes as it dies: let it finish dying
        code = w.proc.exitcode
        how = f"was killed by signal {-code}" if code is not None and code < 0 else "exited"
        raise self._died_error(f"worker process {w.proc.pid} {how} unexpectedly")


def _receive(conn: Connection, tasks: queue.SimpleQueue[tuple[int, Any] | None]) -> None:
    """Read the parent's messages as they come (so it never blocks sending one)."""
    try:
        while (message := conn.recv()) is not None:
            tasks.put((message[1], message[2]))
    except (EOFError, OSError):
        pass  # the parent is gone: stop
    tasks.put(None)


def _send_error(conn: Connection, exc: BaseException) -> None:
    """Send an exception to the parent (a description when it does not pickle)."""
    with contextlib.suppress(OSError):
        try:
            conn.send(("error", exc))
        except (pickle.PicklingError, TypeError, AttributeError):
            conn.send(("error", S3VaultError(f"worker: {type(exc).__name__}: {exc}")))


def _worker_main(
    conn: Connection, others: list[Connection], job: WorkerJob[Any, Any, Any], readers: int
) -> None:
    """A worker process: tasks in, results out in order, until the parent says stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles an interrupt
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for other in others:  # another worker's pipe: its death must close it for the parent
        other.close()
    tasks: queue.SimpleQueue[tuple[int, Any] | None] = queue.SimpleQueue()
    threading.Thread(target=_receive, args=(conn, tasks), daemon=True).start()
    try:
        with ThreadPoolExecutor(readers, thread_name_prefix="s3v-read") as pool:
            pending: deque[tuple[int, Any, Future[Any]]] = deque()
            more = True
            while True:
                while more and len(pending) <= readers:  # one to work on, ``readers`` read ahead
                    try:
                        item = tasks.get(block=not pending)
                    except queue.Empty:
                        break
                    if item is None:
                        more = False
                        break
                    pending.append((item[0], item[1], pool.submit(job.fetch, item[1])))
                if not pending:
                    break
                seq, task, fetched = pending.popleft()
                result = job.work(task, fetched)
                crash_point(job.crash_at)
                conn.send(("result", seq, result))
        conn.send(("bye", job.finish()))
    except BaseException as exc:  # to the parent, which fails the run and says why (once)
        _send_error(conn, exc)
