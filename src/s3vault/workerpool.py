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

Fork and threads (issue 16): a forked child has only the thread that forked, and every lock
another thread of the parent held at that instant stays held in the child for good. The one
that hung restores on S3 is OpenSSL's: libcrypto takes a process-wide lock when a thread first
uses it and again when such a thread ends (its thread-exit handler runs after Python has
joined the thread), so a fork while a thread that had made TLS requests (an index listing, a
prefetch) was still ending left the lock taken in the child, and the child's first TLS
connection on a new thread waited on it forever (py-spy: ``CRYPTO_THREAD_write_lock`` under
``SSL_CTX_load_verify_locations``). Hence, for a remote store (``remote=True``), ``fetch`` runs
in the parent, on reader threads started after the fork, and the bytes go to the worker with
its task: a worker never opens a connection, never starts a TLS session, never touches the
parent's connection pool. Its own threads read local files only (a local store's ``fetch``)
and its OpenSSL use (decryption) stays on its main thread, whose OpenSSL state was made in the
parent. Before forking, ``settle_threads`` waits (bounded) until no ended thread is still on
its way out, for the archiver's workers, which do open connections.

Watchdog: a worker that holds a task and sends nothing for ``Watchdog.stall_after`` seconds
(by ``Watchdog.clock``) is taken as hung: every worker is killed and ``run`` raises the error
``died`` makes of "worker process N sent nothing for S s" (exit code 1), as for a death.

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
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Generic, NoReturn, TypeVar, cast

from s3vault.clock import Clock, SystemClock
from s3vault.collector import inherited_heap_frozen
from s3vault.crashpoint import crash_point
from s3vault.errors import BackendError, S3VaultError

T = TypeVar("T")
P = TypeVar("P")
R = TypeVar("R")
C = TypeVar("C")
_END = object()  # no more tasks
STALL_AFTER = 600.0  # seconds a worker holding a task may stay silent (Watchdog's default)


# the most worker processes this process set out to start at once (``most_workers``)
_most_workers = [0]


def note_workers(count: int) -> None:
    """A pool of ``count`` worker processes is about to start (called before the fork)."""
    _most_workers[0] = max(_most_workers[0], count)


def most_workers() -> int:
    """The most worker processes this process set out to start at once: a command short of
    memory or descriptors is told to run fewer only if it ran more than one (a restore's
    ``--jobs 0`` runs none below ``SERIAL_BELOW_BYTES``)."""
    return _most_workers[0]


def default_jobs() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# A read of less than this many bytes (a restore, a drill and their proof on disk) runs in one
# process unless --jobs says otherwise: forking the pool costs more than it saves. Measured
# (2 cores, local repository, load 5, means of 3 runs): restoring 16 MiB took 0.55 s in one
# process against 0.77 s with two workers, 64 MiB 0.52 s against 0.94 s; a large restore keeps
# them (docs/performance.md: 420 MiB took 3.46 s in one process, 1.59 s with two workers, when
# the second core was free).
SERIAL_BELOW_BYTES = 32 << 20


def jobs_for(requested: int, total_bytes: int) -> int:
    """Worker processes for a read of ``total_bytes``: ``requested`` when given (--jobs),
    else one for a small read (``SERIAL_BELOW_BYTES``) and one per core for a large one."""
    if requested:
        return requested
    return 1 if total_bytes < SERIAL_BELOW_BYTES else default_jobs()


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


ORPHAN_CHECK_EVERY = 0.2  # seconds between a worker's looks at whether its parent lives


def exit_with_parent() -> None:
    """In a worker process: end at once (exit 1) when the parent process is gone. A backup
    SIGKILLed by its operator had a worker finish its upload and store a pack 15-25 s later
    (an attack pass, 2026-12-07): it noticed only at its next read of the parent's pipe.
    One process ends with every write in flight; so do its workers now, within
    ORPHAN_CHECK_EVERY. A thread that cannot start (``ulimit -v``) leaves the pipe's close
    as before."""
    parent = multiprocessing.parent_process()
    pid = parent.pid if parent is not None else os.getppid()

    def watch() -> None:
        while os.getppid() == pid:
            time.sleep(ORPHAN_CHECK_EVERY)
        os._exit(1)

    with contextlib.suppress(RuntimeError):
        threading.Thread(target=watch, name="s3v-orphan", daemon=True).start()


def settle_threads(timeout: float = 1.0) -> bool:
    """Wait until no thread of this process is on its way out (at most ``timeout`` seconds):
    every OS thread is either a live Python thread or asleep (a native pool's idle thread).
    A Python thread that was joined may still be running its C-level thread-exit handlers
    (OpenSSL's take a process-wide lock): forking then would leave that lock taken in the
    child. Returns False where it cannot tell (no /proc) or the wait ran out."""
    clock = SystemClock()
    deadline = clock.monotonic() + timeout
    while True:
        try:
            tids = os.listdir("/proc/self/task")
        except OSError:
            return False
        # this thread by the kernel's id: in a process that was itself forked (a fork server,
        # a library caller's child) threading's record of the main thread's native id is the
        # parent's, and the waiting thread, running, would count as one on its way out (every
        # call then waited the whole timeout: 1 s a fork, seen in the test suite)
        live = {t.native_id for t in threading.enumerate()} | {threading.get_native_id()}
        if not any(_running(tid) for tid in tids if int(tid) not in live):
            return True
        if clock.monotonic() >= deadline:
            return False
        time.sleep(0.001)


def _running(tid: str) -> bool:
    """Whether an OS thread of this process is running or runnable (or in the kernel)."""
    try:
        with open(f"/proc/self/task/{tid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False  # gone
    return stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] in (b"R", b"D")


@dataclass(frozen=True, slots=True)
class Watchdog:
    """How long a worker that holds a task may send nothing before it is taken as hung
    (``stall_after`` seconds by ``clock``), and how often the parent looks (``poll``, real
    seconds)."""

    stall_after: float = STALL_AFTER
    clock: Clock = field(default_factory=SystemClock)
    poll: float = 1.0


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
    in_flight: int = 0  # tasks given to it (a remote store's: fetched or being fetched)
    holding: int = 0  # tasks it has received and not answered (the watchdog's concern)
    heard: float = 0.0  # when it last sent something, or was handed work while idle
    stopping: bool = False  # told to stop: its goodbye is due
    summary: object = None
    finished: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)  # guards holding and heard
    sending: threading.Lock = field(default_factory=threading.Lock)  # one sender at a time


class WorkerPool(Generic[T, P, R]):
    """Runs a job over tasks in ``jobs`` forked processes. One use: ``run`` once.

    ``remote``: the store is remote, so ``fetch`` runs in the parent (``readers`` threads per
    worker, started after the fork) and its result goes to the worker with the task; else each
    worker fetches on ``readers`` threads of its own. Tasks are sent from threads of the
    parent's (never from its main thread, which must stay free to notice a stalled worker
    whose pipe is full)."""

    def __init__(
        self,
        job: WorkerJob[T, P, R],
        *,
        jobs: int,
        readers: int,
        name: str,
        died: Callable[[str], S3VaultError],
        remote: bool = False,
        watchdog: Watchdog | None = None,
    ) -> None:
        self._job = job
        self._jobs = max(1, jobs)
        self._readers = max(1, readers)
        self._name = name
        self._died_error = died
        self._remote = remote
        self._watchdog = watchdog or Watchdog()
        # the worker always has its next tasks at hand: ``readers`` being fetched (by it, or
        # here), one it works on, and (fetching itself) one more waiting for a reader
        self._in_flight = self._readers + (1 if remote else 2)

    def run(self, tasks: Iterable[T], on_result: Callable[[T, R], None]) -> list[object]:
        """Hand out every task; ``on_result`` is called in the parent, in task order; returns
        each worker's ``finish()`` result.

        Raises:
            S3VaultError: a worker died or stalled (``died``'s error) or raised (its
                exception); whatever ``on_result`` raises. Every worker is stopped first.
        """
        workers = self._fork()
        fetchers = ThreadPoolExecutor(
            self._readers * self._jobs if self._remote else self._jobs,
            thread_name_prefix="s3v-read" if self._remote else "s3v-hand",
        )
        try:
            self._serve(workers, iter(tasks), on_result, fetchers)
            for w in workers:
                self._send(w, None)  # stop: finish what you hold, and say goodbye
                w.stopping, w.heard = True, self._watchdog.clock.monotonic()
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
            fetchers.shutdown(wait=True, cancel_futures=True)
            for w in workers:
                w.conn.close()
        return [w.summary for w in workers]

    def _serve(
        self,
        workers: list[_Worker],
        source: Iterator[T],
        on_result: Callable[[T, R], None],
        fetchers: ThreadPoolExecutor,
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
                    w.in_flight += 1
                    fetchers.submit(self._fetch_and_hand, w, seq, cast("T", task))
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

    def _fetch_and_hand(self, w: _Worker, seq: int, task: T) -> None:
        """On a thread of the parent's: fetch a task's data (a remote store) and hand the task
        to its worker; the watchdog's clock starts if it held none. A worker whose pipe is
        closed is dead: the main thread finds out by its sentinel."""
        message: tuple[Any, ...] = ("task", seq, task)
        if self._remote:
            try:
                message += (("ok", self._job.fetch(task)),)
            except Exception as exc:  # the worker's ``work`` reports it, as its own fetch's
                message += (("raised", _picklable(exc)),)
        with w.lock:
            if w.holding == 0:
                w.heard = self._watchdog.clock.monotonic()
            w.holding += 1
        with w.sending, contextlib.suppress(OSError):
            w.conn.send(message)

    def _fork(self) -> list[_Worker]:
        note_workers(self._jobs)
        ctx = multiprocessing.get_context("fork")
        pipes = [ctx.Pipe() for _ in range(self._jobs)]
        workers = []
        settle_threads()
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
        """The messages ready now (waits for one); a worker gone without a word fails, and
        so does one that held a task and said nothing for the watchdog's time."""
        live = [w for w in workers if not w.finished]
        by_conn = {w.conn: w for w in live}
        by_sentinel = {w.proc.sentinel: w for w in live}
        out = []
        ready: list[Any] = []
        while not ready:
            poll = min(self._watchdog.poll, self._watchdog.stall_after / 4)
            ready = wait([*by_conn, *by_sentinel], timeout=poll)
            if not ready:
                self._check_stalls(live)
        now = self._watchdog.clock.monotonic()
        for conn in ready:
            if not isinstance(conn, int):
                w = by_conn[cast("Connection[Any, Any]", conn)]
                try:
                    message = w.conn.recv()
                except (EOFError, OSError):
                    self._died(w)
                with w.lock:
                    w.heard = now
                    w.holding -= message[0] == "result"
                out.append((w, message))
        heard = {id(w) for w, _ in out}  # a worker exits after its goodbye: not a death
        for sentinel in ready:
            if isinstance(sentinel, int):
                w = by_sentinel[sentinel]
                if id(w) not in heard and not w.conn.poll():
                    self._died(w)  # gone without a word (its last words are read first)
        return out

    def _check_stalls(self, live: list[_Worker]) -> None:
        now = self._watchdog.clock.monotonic()
        limit = self._watchdog.stall_after
        for w in live:
            with w.lock:
                waiting = w.holding > 0 or w.stopping
                silent = now - w.heard
            if waiting and silent >= limit:
                w.proc.kill()
                raise self._died_error(
                    f"worker process {w.proc.pid} sent nothing for {_seconds(silent)} s "
                    f"(limit {_seconds(limit)} s) and was stopped"
                )

    def _send(self, w: _Worker, message: object) -> None:
        try:
            with w.sending:
                w.conn.send(message)
        except OSError:  # BrokenPipeError, ConnectionResetError: its end is closed
            self._died(w)

    def _died(self, w: _Worker) -> NoReturn:
        w.proc.join(timeout=5)  # its pipe closes as it dies: let it finish dying
        code = w.proc.exitcode
        how = f"was killed by signal {-code}" if code is not None and code < 0 else "exited"
        raise self._died_error(f"worker process {w.proc.pid} {how} unexpectedly")


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _picklable(exc: Exception) -> Exception:
    """``exc`` if it crosses a pipe, else a BackendError that says what it was."""
    try:
        pickle.dumps(exc)
    except Exception:  # anything that does not pickle
        return BackendError(f"{type(exc).__name__}: {exc}")
    return exc


def _receive(conn: Connection, tasks: queue.SimpleQueue[tuple[Any, ...] | None]) -> None:
    """Read the parent's messages as they come (so it never blocks sending one)."""
    try:
        while (message := conn.recv()) is not None:
            tasks.put(message[1:])
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


def _fetched(outcome: tuple[str, Any]) -> Future[Any]:
    """The parent's fetch of a task, as the Future a reader thread's would be."""
    future: Future[Any] = Future()
    if outcome[0] == "ok":
        future.set_result(outcome[1])
    else:
        future.set_exception(outcome[1])
    return future


def _worker_main(
    conn: Connection, others: list[Connection], job: WorkerJob[Any, Any, Any], readers: int
) -> None:
    """A worker process: tasks in, results out in order, until the parent says stop. A task
    comes with its fetched data (a remote store: fetched by the parent) or without (fetched
    here, on ``readers`` threads, ahead of the work)."""
    inherited_heap_frozen()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles an interrupt
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    exit_with_parent()
    for other in others:  # another worker's pipe: its death must close it for the parent
        other.close()
    tasks: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
    try:
        # a thread that cannot start (``ulimit -v``) is the parent's to say, as the rest: it
        # printed a traceback per worker before the parent's "out of memory" (an attack pass)
        threading.Thread(target=_receive, args=(conn, tasks), daemon=True).start()
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
                    fetched = (
                        _fetched(item[2]) if len(item) > 2 else pool.submit(job.fetch, item[1])
                    )
                    pending.append((item[0], item[1], fetched))
                if not pending:
                    break
                seq, task, fetched = pending.popleft()
                result = job.work(task, fetched)
                crash_point(job.crash_at)
                conn.send(("result", seq, result))
        conn.send(("bye", job.finish()))
    except BaseException as exc:  # to the parent, which fails the run and says why (once)
        _send_error(conn, exc)
