"""Proof that a restore is exact: every file's bytes against the whole-file hash recorded at
backup time, and its metadata (size, mode, mtime, link target) against the snapshot.

``prove_on_disk`` checks files a restore wrote (``restore --verify``: their content only);
``prove_streamed`` reads each file's blobs in order and hashes them without writing anything
(restore-test --no-disk).
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from s3vault.crypto.hashing import ContentHasher
from s3vault.errors import STORE_REFUSALS, RestoreError, S3VaultError, raise_if_out_of_descriptors
from s3vault.format.packfile import BlobType
from s3vault.format.tree import Node, NodeType
from s3vault.ids import ObjectId
from s3vault.progress import Progress
from s3vault.repository.repository import Repository
from s3vault.restorer import nodes
from s3vault.restorer.locator import Entry, Locator
from s3vault.restorer.plan import FileTask, RestorePlan
from s3vault.restorer.sinks import READ_FLAGS
from s3vault.workerpool import (
    Watchdog,
    WorkerJob,
    WorkerPool,
    add_counts,
    available,
    counts_since,
)

Problem = tuple[str, str]  # (path, what is wrong)
SLICE = 256


class _Stopped(Exception):
    """The proof was told to stop (an interrupt): the file's check ends at its next block."""


def _file_problem(
    locator: Locator,
    entry: Entry,
    node: Node,
    id_key: bytes,
    *,
    metadata: bool = True,
    stop: threading.Event | None = None,
) -> str:
    try:
        with locator.at(entry) as (dir_fd, name):
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                return "not a regular file after restore"
            fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise_if_out_of_descriptors(exc)
        return f"missing after restore ({exc.strerror})"
    if st.st_size != node.size:
        os.close(fd)
        return f"size {st.st_size}, the snapshot says {node.size}"
    hasher = ContentHasher(id_key)
    try:
        with open(fd, "rb", buffering=0) as f:
            while block := f.read(4 << 20):
                if stop is not None and stop.is_set():
                    raise _Stopped
                hasher.update(block)
    except OSError as exc:
        raise_if_out_of_descriptors(exc)
        return f"cannot be read after restore ({exc.strerror})"
    if node.content_hash is None or hasher.digest() != node.content_hash:
        return "content differs from the backed-up file (hash mismatch)"
    if not metadata:
        return ""
    # a set-id bit on a file whose owner the restore could not give it is left off on purpose
    expected, _dropped = nodes.setid_for_owner(node, st.st_uid, st.st_gid)
    if stat.S_IMODE(st.st_mode) != expected:
        if expected != node.mode:
            return (
                f"mode {stat.S_IMODE(st.st_mode):o}, expected {expected:o} (the snapshot's "
                f"{node.mode:o} without the set-id bits of an owner the file does not have)"
            )
        return f"mode {stat.S_IMODE(st.st_mode):o}, the snapshot says {node.mode:o}"
    if st.st_mtime_ns != node.mtime_ns:
        return "mtime differs from the snapshot"
    return ""


def _link_problem(locator: Locator, entry: Entry, first: Entry) -> str:
    try:
        with locator.at(entry) as (fd, name):
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        with locator.at(first) as (fd, name):
            st_first = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except OSError as exc:
        raise_if_out_of_descriptors(exc)
        return f"hard link missing after restore ({exc.strerror})"
    if (st.st_dev, st.st_ino) != (st_first.st_dev, st_first.st_ino):
        return "not a hard link of the file the snapshot links it to"
    return ""


def _symlink_problem(locator: Locator, entry: Entry, node: Node) -> str:
    try:
        with locator.at(entry) as (fd, name):
            target = os.readlink(name, dir_fd=fd)
    except OSError as exc:
        raise_if_out_of_descriptors(exc)
        return "symlink missing after restore"
    return "" if target == node.link_target else "symlink target differs from the snapshot"


def let_owner_in(plan: RestorePlan, target: bytes) -> None:
    """Give the owner search and read on every restored directory whose mode withholds them
    (0000, 0333), parents first, so that a proof run as another user than root reaches the
    files below: it said "missing after restore (Permission denied)" and the drill failed
    with "damage found" on a sound repository (an attack pass, 2026-12-07). For a drill's
    own scratch directory only: the proof checks no directory's mode. Best effort."""
    locator = Locator(target, plan.dir_entries)
    try:
        for entry, node in plan.dirs:
            if node.mode & 0o500 == 0o500:
                continue
            with contextlib.suppress(OSError), locator.at(entry) as (fd, name):
                os.chmod(name, (node.mode & 0o7777) | 0o700, dir_fd=fd, follow_symlinks=True)
    finally:
        locator.close()


def prove_on_disk(
    plan: RestorePlan,
    target: bytes,
    id_key: bytes,
    *,
    workers: int = 4,
    jobs: int = 1,
    metadata: bool = True,
    progress: Progress | None = None,
    watchdog: Watchdog | None = None,
) -> list[Problem]:
    """Check every file and link a restore wrote under ``target`` against the snapshot (files
    that failed to restore are the restore's errors, not checked again). ``metadata=False``:
    each regular file's size and content hash only (``restore --verify``: an attribute the
    restore could not set is its warning already). ``progress`` is told of each file read.
    ``jobs`` > 1: files are read and hashed in that many worker processes (slices of SLICE
    files each; problems in the same order as with one)."""
    locator = Locator(target, plan.dir_entries)
    problems: list[Problem] = []
    tasks = [t for t in plan.files if not t.failed]
    failed = {t.entry for t in plan.files if t.failed}

    stop = threading.Event()

    def check(task: FileTask) -> Problem | None:
        try:
            why = _file_problem(
                locator, task.entry, task.node, id_key, metadata=metadata, stop=stop
            )
        except _Stopped:
            return None
        if progress is not None:
            progress.advanced(files=1, bytes_=task.node.size)
        return (plan.shown(task.entry), why) if why else None

    try:
        if jobs > 1 and available() and len(tasks) > SLICE:
            problems = _prove_in_workers(
                plan, locator, tasks, id_key, metadata, jobs, progress, watchdog
            )
        else:
            problems = _on_threads(check, tasks, workers, stop)
        if not metadata:
            return problems
        for entry, _node, first in plan.hardlinks:
            why = "" if first in failed else _link_problem(locator, entry, first)
            if why:
                problems.append((plan.shown(entry), why))
        for entry, node in plan.others:
            why = _symlink_problem(locator, entry, node) if node.type is NodeType.SYMLINK else ""
            if why:
                problems.append((plan.shown(entry), why))
    finally:
        locator.close()
    return problems


def _prove_in_workers(
    plan: RestorePlan,
    locator: Locator,
    tasks: list[FileTask],
    id_key: bytes,
    metadata: bool,
    jobs: int,
    progress: Progress | None,
    watchdog: Watchdog | None,
) -> list[Problem]:
    """Slices of files checked in worker processes (s3vault/workerpool.py)."""

    def work(start: int, _fetched: Future[None]) -> list[Problem]:
        found = []
        for task in tasks[start : start + SLICE]:
            why = _file_problem(locator, task.entry, task.node, id_key, metadata=metadata)
            if why:
                found.append((plan.shown(task.entry), why))
        return found

    problems: list[Problem] = []

    def take(start: int, found: list[Problem]) -> None:
        problems.extend(found)
        if progress is not None:
            batch = tasks[start : start + SLICE]
            progress.advanced(files=len(batch), bytes_=sum(t.node.size for t in batch))

    job: WorkerJob[int, None, list[Problem]] = WorkerJob(
        fetch=lambda _start: None, work=work, finish=lambda: None, crash_at="prove-worker"
    )
    pool = WorkerPool(
        job, jobs=jobs, readers=1, name="s3vault-prove", died=_died, watchdog=watchdog
    )
    pool.run(range(0, len(tasks), SLICE), take)
    return problems


def _died(what: str) -> RestoreError:
    return RestoreError(f"a read-back {what}; the proof stopped before every file was read")


# A streamed proof's problem for a file whose data cannot be read (what a restore on disk counts
# as an error, not a mismatch: ops/drill.py)
UNREADABLE = "cannot be restored: "


def prove_streamed(
    repo: Repository,
    plan: RestorePlan,
    *,
    workers: int = 4,
    jobs: int = 1,
    watchdog: Watchdog | None = None,
) -> list[Problem]:
    """Fetch every planned file's blobs in order and check its hash; writes nothing.
    ``jobs`` > 1: slices of SLICE files in that many worker processes (same problems, same
    order).

    Raises:
        RestoreError: a worker process died.
    """
    id_key = repo.sealer.current.id_key
    stop = threading.Event()

    def check(task: FileTask) -> Problem | None:
        path, node = plan.shown(task.entry), task.node
        hasher = ContentHasher(id_key)
        size = 0
        try:
            for bid in node.content:
                if stop.is_set():
                    return None
                data = repo.load_blob(BlobType.DATA, bid)
                hasher.update(data)
                size += len(data)
        except STORE_REFUSALS:  # an outage, a refusal, a bucket gone: no evidence, stop
            raise
        except S3VaultError as exc:
            return path, f"{UNREADABLE}{exc}"
        if size != node.size:
            return path, f"size {size}, the snapshot says {node.size}"
        if node.content_hash is None or hasher.digest() != node.content_hash:
            return path, "content differs from the backed-up file (hash mismatch)"
        return None

    tasks = [t for t in plan.files if not t.failed]
    found: list[Problem] = []
    # a remote store's blobs are fetched here: a worker never opens a connection (workerpool.py)
    if jobs > 1 and available() and len(tasks) > SLICE and not repo.remote:
        base = repo.requests.snapshot()

        def work(start: int, _fetched: Future[None]) -> tuple[list[Problem], list[ObjectId]]:
            # with the packs in which a blob failed to open (a reader that went on to another
            # copy): the parent's ledger must not prove them (repository/ledger.py covered_by)
            mark = repo.tree_reads.mark()
            problems = [p for t in tasks[start : start + SLICE] if (p := check(t))]
            return problems, sorted(repo.tree_reads.failed_since(mark))

        def take(_start: int, result: tuple[list[Problem], list[ObjectId]]) -> None:
            found.extend(result[0])
            for pack in result[1]:
                repo.tree_reads.failed(pack)

        job: WorkerJob[int, None, tuple[list[Problem], list[ObjectId]]] = WorkerJob(
            fetch=lambda _start: None,
            work=work,
            finish=lambda: counts_since(base, repo.requests),
            crash_at="prove-worker",
        )
        pool = WorkerPool(
            job, jobs=jobs, readers=1, name="s3vault-prove", died=_died, watchdog=watchdog
        )
        for requests in pool.run(range(0, len(tasks), SLICE), take):
            add_counts(repo.requests, requests)
        return found
    return _on_threads(check, tasks, workers, stop)


def _on_threads(
    check: Callable[[FileTask], Problem | None],
    tasks: list[FileTask],
    workers: int,
    stop: threading.Event,
) -> list[Problem]:
    """``check`` each task on ``workers`` threads, SLICE at a time (bounded: not one future per
    file), problems in the tasks' order. An interrupt sets ``stop`` (the checks end at their
    next block) and drops the queued ones: a drill stopped while it read a 20 GiB file had
    waited for it, past the grace of a stop, and left its restore behind (an attack pass,
    2026-12-07)."""
    found: list[Problem] = []
    with ThreadPoolExecutor(workers, thread_name_prefix="s3v-prove") as pool:
        try:
            for start in range(0, len(tasks), SLICE):
                found.extend(p for p in pool.map(check, tasks[start : start + SLICE]) if p)
        except BaseException:
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return found
