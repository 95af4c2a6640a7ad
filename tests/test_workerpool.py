"""s3vault/workerpool.py on its own: the fork hazard of issue 16 and the watchdog.

The hang: a worker forked while another thread of the parent held a lock (OpenSSL's, taken by
a thread that had made TLS requests and was ending) waited on that lock forever at its first
TLS connection. For a remote store a worker now never fetches: the parent does, after the fork,
and hands the bytes over. The first test is that mechanism with a lock of our own: held by
another thread at the fork, needed by every fetch; the worker's copy would stay held forever.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import timedelta

import pytest

from s3vault import collector
from s3vault.clock import ManualClock, SystemClock
from s3vault.errors import S3VaultError
from s3vault.workerpool import Watchdog, WorkerJob, WorkerPool, available, settle_threads

pytestmark = pytest.mark.skipif(not available(), reason="no fork here")

_after_fork: list[threading.Event] = []


def _forked_in_parent() -> None:
    for event in _after_fork:
        event.set()


os.register_at_fork(after_in_parent=_forked_in_parent)


def _died(what: str) -> S3VaultError:
    return S3VaultError(f"a test {what}")


def test_a_lock_held_by_another_thread_at_the_fork_does_not_hang_a_remote_fetch() -> None:
    lock = threading.Lock()
    forked = threading.Event()
    lock.acquire()  # by the holder thread's leave: released only after the fork

    def holder() -> None:
        forked.wait()
        lock.release()

    def fetch(task: int) -> tuple[int, int]:
        with lock:  # in a forked worker, this lock would be held for good
            return task * 2, os.getpid()

    def work(task: int, fetched: Future[tuple[int, int]]) -> tuple[int, int, int]:
        value, fetched_in = fetched.result()
        return value, fetched_in, os.getpid()

    job: WorkerJob[int, tuple[int, int], tuple[int, int, int]] = WorkerJob(
        fetch=fetch, work=work, finish=lambda: None, crash_at="test-worker"
    )
    # a regression fails on the watchdog (about 5 s), it does not hang the suite
    pool = WorkerPool(
        job, jobs=2, readers=2, name="t", died=_died, remote=True, watchdog=Watchdog(5.0)
    )
    got: list[tuple[int, int, int, int]] = []
    thread = threading.Thread(target=holder)
    _after_fork.append(forked)
    try:
        thread.start()
        pool.run(range(20), lambda task, result: got.append((task, *result)))
    finally:
        _after_fork.remove(forked)
        forked.set()
        thread.join()
    assert [g[0] for g in got] == list(range(20))  # in task order
    assert all(value == task * 2 for task, value, _, _ in got)
    assert {fetched_in for _, _, fetched_in, _ in got} == {os.getpid()}  # fetched here
    assert os.getpid() not in {worker for *_, worker in got}  # worked on elsewhere


class _JumpingClock(ManualClock):
    """Simulated time: while ``running()`` says so, every reading is 100 s after the one
    before; else time stands still (so a worker slowed down by a loaded machine never looks
    stuck)."""

    def __init__(self, running: Callable[[], bool]) -> None:
        super().__init__()
        self._running = running

    def monotonic(self) -> float:
        if self._running():
            self.advance(timedelta(seconds=100))
        return super().monotonic()


@pytest.mark.parametrize("remote", [False, True])
def test_a_worker_that_sends_nothing_is_stopped_after_the_watchdog_time(remote: bool) -> None:
    """Tasks and fetched data larger than a pipe's buffer: the stopped worker's pipe fills, and
    the watchdog must still see it (no send blocks the parent's main thread)."""

    def work(task: tuple[int, bytes], fetched: Future[bytes]) -> int:
        if task[0] == 3:
            os.kill(os.getpid(), signal.SIGSTOP)  # a worker stuck for good
        return task[0] + len(fetched.result()) - len(task[1])

    job: WorkerJob[tuple[int, bytes], bytes, int] = WorkerJob(
        fetch=lambda task: bytes(len(task[1])),
        work=work,
        finish=lambda: None,
        crash_at="test-worker",
    )
    done: list[int] = []
    clock = _JumpingClock(lambda: len(done) == 3)  # time runs once the stuck task is next
    watchdog = Watchdog(stall_after=600, clock=clock, poll=0.01)
    pool = WorkerPool(
        job, jobs=2, readers=1, name="t", died=_died, remote=remote, watchdog=watchdog
    )
    tasks = ((n, bytes(1 << 20)) for n in range(12))
    with pytest.raises(S3VaultError, match=r"a test worker process \d+ sent nothing for \d+ s"):
        pool.run(tasks, lambda task, result: done.append(result))
    assert done == [0, 1, 2]  # what came before the stuck task, in order
    assert not [c for c in multiprocessing.active_children() if c.name.startswith("t-")]


def test_silence_is_not_a_stall_while_a_worker_holds_nothing() -> None:
    """A worker waiting for the parent's (slow) fetch is not stalled: only one that holds a
    task it has not answered is."""
    release = threading.Event()

    def fetch(task: int) -> int:
        if task == 0:
            release.wait()
        return task

    job: WorkerJob[int, int, int] = WorkerJob(
        fetch=fetch, work=lambda t, f: f.result(), finish=lambda: None, crash_at="test-worker"
    )

    class SlowFetchClock(_JumpingClock):
        """The slow fetch ends after an hour of simulated time; then time stands still."""

        def monotonic(self) -> float:
            now = super().monotonic()
            if now > 3600:
                release.set()
            return now

    clock = SlowFetchClock(lambda: not release.is_set())
    watchdog = Watchdog(stall_after=600, clock=clock, poll=0.01)
    pool = WorkerPool(job, jobs=1, readers=1, name="t", died=_died, remote=True, watchdog=watchdog)
    got: list[int] = []
    try:
        pool.run(range(3), lambda task, result: got.append(result))
    finally:
        release.set()
    assert got == [0, 1, 2]
    assert clock.monotonic() > 3600


def test_settle_threads_returns_once_ended_threads_are_gone() -> None:
    threads = [threading.Thread(target=lambda: None) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert settle_threads(timeout=5.0)
    tasks = set(os.listdir("/proc/self/task"))
    assert tasks >= {str(t.native_id) for t in threading.enumerate()}


def test_settle_threads_in_a_forked_process_does_not_wait_for_itself() -> None:
    """In a process that was itself forked (the test suite's fork server, a library caller's
    child), threading still holds the parent's native id for the main thread: the waiting
    thread must not take itself for a thread on its way out (it waited the whole timeout)."""
    pid = os.fork()
    if pid == 0:  # the child: settled at once, well before the 5 s timeout
        clock = SystemClock()
        start = clock.monotonic()
        settled = settle_threads(timeout=5.0)
        os._exit(0 if settled and clock.monotonic() - start < 1.0 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_worker_forked_inside_a_collector_pause_collects_its_own_cycles_not_the_parents() -> None:
    """s3vault/collector.py: a restore forks its workers with the collector paused (its plan
    is never worth traversing). A worker must not inherit the pause (a long read-back's own
    reference cycles would never be freed), and its collections must leave the parent's
    objects alone (each traversal would copy the fork's shared pages)."""
    inherited = [[] for _ in range(1000)]  # tracked objects of the parent's heap

    def work(task: int, _fetched: Future[None]) -> tuple[bool, bool, bool]:
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        freed = gc.collect() >= 1  # its own cycle was found and freed
        return gc.isenabled(), freed, gc.get_freeze_count() >= len(inherited)

    job: WorkerJob[int, None, tuple[bool, bool, bool]] = WorkerJob(
        fetch=lambda _task: None, work=work, finish=lambda: None, crash_at="test-worker"
    )
    pool = WorkerPool(job, jobs=2, readers=1, name="t", died=_died, remote=False)
    got: list[tuple[bool, bool, bool]] = []
    assert gc.isenabled()
    with collector.paused():
        pool.run(range(4), lambda _task, result: got.append(result))
        assert not gc.isenabled()  # the parent's pause holds
    assert gc.isenabled()  # and ends as it began
    assert got == [(True, True, True)] * 4
    assert gc.get_freeze_count() == 0  # the parent's heap was not frozen
