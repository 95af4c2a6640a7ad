"""Restorer: execute a RestorePlan — directories, files, parallel pack fetches, links, metadata.

Idempotent: a file already present with the snapshot's size and mtime whose content hash matches
is left alone, so re-running an interrupted restore only fetches what is missing.
Damage is contained: a blob that fails authentication, or a pack that is missing, fails only the
files that need it; they are named in the result and every other file is restored.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from s3vault.crypto.hashing import ContentHasher
from s3vault.errors import BackendError, IntegrityError
from s3vault.format.tree import NodeType
from s3vault.progress import NullProgress, Progress
from s3vault.repository.repository import Repository
from s3vault.restorer.fetch import PackRange, coalesce, max_range, open_range, read_range
from s3vault.restorer.plan import FileTask, RestorePlan
from s3vault.restorer.sinks import FilesystemSink


@dataclass(slots=True)
class RestoreOutcome:
    """What a restore did."""

    files_restored: int = 0
    files_skipped: int = 0
    dirs: int = 0
    others: int = 0
    bytes_written: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)


def _already_correct(task: FileTask, id_key: bytes) -> bool:
    node = task.node
    try:
        st = os.lstat(task.path)
    except OSError:
        return False
    if not os.path.isfile(task.path) or os.path.islink(task.path):
        return False
    if st.st_size != node.size or st.st_mtime_ns != node.mtime_ns or node.content_hash is None:
        return False
    hasher = ContentHasher(id_key)
    try:
        with open(task.path, "rb", buffering=0) as f:
            while block := f.read(4 << 20):
                hasher.update(block)
    except OSError:
        return False
    return hasher.digest() == node.content_hash


# Threads that authenticate, decompress and write. Each step releases the interpreter lock
# but the Python between them holds it: a second decoder only adds contention (measured on
# 2 cores, docs/performance.md: 1 decoder 3.10 s, 2 decoders 3.28 s for the same restore).
DECODERS = 1


class Restorer:
    """Runs one restore plan into a sink.

    Two pools: ``workers`` threads read pack ranges (requests in flight: on S3 it is latency
    that needs hiding), DECODERS threads open blobs and write them. A semaphore bounds the
    ranges held in memory — read, waiting or being written — to workers + DECODERS.
    """

    def __init__(
        self,
        repo: Repository,
        plan: RestorePlan,
        *,
        sink: FilesystemSink | None = None,
        workers: int = 4,
        progress: Progress | None = None,
    ) -> None:
        self._repo = repo
        self._plan = plan
        self._sink = sink or FilesystemSink()
        self._workers = workers
        self._progress = progress or NullProgress()
        self._lock = threading.Lock()
        self.outcome = RestoreOutcome()
        self._skip: set[int] = set()
        self._aborted: BaseException | None = None

    def run(self, target: bytes) -> RestoreOutcome:
        """Restore everything in the plan under ``target``.

        Raises:
            RestoreError: the target cannot be written (disk full, permissions): aborts.
        """
        plan, sink, out = self._plan, self._sink, self.outcome
        # Nothing can be in place already in a new or empty target: skip the checks.
        os.makedirs(target, exist_ok=True)
        with os.scandir(target) as entries:
            fresh = next(entries, None) is None
        out.errors.extend(plan.missing_blobs)
        out.warnings.extend(plan.unsafe)
        for path, _node in plan.dirs:
            sink.make_dir(path)
            out.dirs += 1
        self._progress.started("restore", total_files=len(plan.files), total_bytes=plan.total_bytes)
        id_key = self._repo.sealer.current.id_key
        for number, task in enumerate(plan.files):
            if task.failed:
                continue
            if not fresh and _already_correct(task, id_key):
                self._skip.add(number)
                out.files_skipped += 1
                self._progress.advanced(files=1, bytes_=task.node.size)
                continue
            if task.missing == 0:
                sink.create_file(task.path, task.node.size)
                self._file_done(task)
        try:
            self._fetch_all()
        finally:
            self._sink.close_all()
        self._finish()
        self._progress.finished("restore")
        return out

    def _file_done(self, task: FileTask) -> None:
        """Content complete: metadata now (on a decode thread, beside other files' reads)."""
        warning = self._sink.set_metadata(task.path, task.node)
        with self._lock:
            self.outcome.files_restored += 1
            self._warn_if(task.path, warning)
        self._progress.advanced(files=1)

    def _fail(self, numbers: set[int], message: str) -> None:
        with self._lock:
            for number in numbers:
                task = self._plan.files[number]
                if not task.failed:
                    task.failed = message

    def _ranges(self) -> list[PackRange]:
        limit = max_range(self._repo.config.pack_size, remote=self._repo.backend.remote)
        ranges: list[PackRange] = []
        for pack_id, wanted in self._plan.packs.items():
            blobs = [(bid, slot[0]) for bid, slot in wanted.items()]
            ranges.extend(coalesce(pack_id, blobs, limit))
        return ranges

    def _fetch_all(self) -> None:
        """Read every range on the fetch pool and write it on the decode pool, in order.

        Raises:
            RestoreError: the target cannot be written; no further range is started.
        """
        held = threading.Semaphore(self._workers + DECODERS)
        with (
            ThreadPoolExecutor(self._workers, thread_name_prefix="s3v-fetch") as readers,
            ThreadPoolExecutor(DECODERS, thread_name_prefix="s3v-restore") as writers,
        ):
            done: list[Future[None]] = []
            for r in self._ranges():
                held.acquire()
                if self._aborted is not None:
                    held.release()
                    break
                data = readers.submit(read_range, self._repo, r)
                done.append(writers.submit(self._write_range, r, data, held))
            for future in done:
                future.result()

    def _write_range(self, r: PackRange, fetched: Future[bytes], held: threading.Semaphore) -> None:
        try:
            self._write_blobs(r, fetched)
        except BaseException as exc:
            self._aborted = exc
            raise
        finally:
            held.release()

    def _write_blobs(self, r: PackRange, fetched: Future[bytes]) -> None:
        wanted = self._plan.packs[r.pack_id]
        files = self._plan.files
        try:
            data = fetched.result()
        except (BackendError, IntegrityError) as exc:
            self._fail({n for bid, _ in r.blobs for n, _ in wanted[bid][1]}, str(exc))
            return
        for bid, blob in open_range(self._repo, r, data):
            targets = wanted[bid][1]
            if isinstance(blob, IntegrityError):
                self._fail({n for n, _ in targets}, str(blob))
                continue
            for number, offset in targets:
                task = files[number]
                if number in self._skip or task.failed:
                    continue
                self._sink.write(task.path, task.node.size, offset, blob)
                self._progress.advanced(bytes_=len(blob))
                with self._lock:
                    self.outcome.bytes_written += len(blob)
                    task.missing -= 1
                    done = task.missing == 0
                if done:
                    self._sink.finish_file(task.path, task.node.size)
                    self._file_done(task)

    def _finish(self) -> None:
        plan, sink, out = self._plan, self._sink, self.outcome
        failed_paths = set()
        for task in plan.files:
            if task.failed:
                out.errors.append((os.fsdecode(task.path), task.failed))
                failed_paths.add(task.path)
        for path, _node, first in plan.hardlinks:
            if first in failed_paths:
                out.errors.append((os.fsdecode(path), "its hard-link source failed to restore"))
                continue
            sink.link(path, first)
            out.files_restored += 1
        for path, node in plan.others:
            if node.type is NodeType.SOCKET:
                continue  # a socket belongs to a process that is gone: nothing to restore
            warning = sink.make_other(path, node)
            if warning:
                self._warn_if(path, warning)
                continue
            out.others += 1
            self._warn_if(path, sink.set_metadata(path, node))
        for path, node in reversed(plan.dirs):
            self._warn_if(path, sink.set_metadata(path, node))

    def _warn_if(self, path: bytes, warning: str) -> None:
        if warning:
            self.outcome.warnings.append((os.fsdecode(path), warning))
            self._progress.warned(os.fsdecode(path), warning)
