"""The process-parallel archiver: ``backup --jobs N`` with N > 1.

    parent process   plan the targets → hand out directory tasks → build the trees of directories
                     from their children's results → grant blobs (exact dedup) → pack tree blobs
                     and the workers' leftovers → index every pack → index files (the one
                     BlobWriter that writes them)
    N workers        list a directory against the parent snapshot's tree of it, read, chunk, hash
                     (archiver/dirworker.py) → claim new data blobs from the parent → compress,
                     seal, verify, pack and upload the granted ones → report each stored pack;
                     at the end, hand the blobs of the last, partly filled pack to the parent

Why processes: the interpreter lock keeps the threaded engine near one core; the chunker and the
codecs release it, but the walk, change detection, node and tree encoding and the hand-offs do
not. Workers are forked (``multiprocessing``'s "fork" start method) after the index is loaded:
the index, the key, the parent snapshot's tree cache and the exclude rules are inherited
copy-on-write, read-only, at no cost; "spawn" or "forkserver" would have to pickle the index
(millions of entries) into every worker. The parent starts its thread pools only after the fork.
What does not survive a fork is reset in the child: an S3 connection makes a client of its own
(backend/s3/client.py, for every request: ``get`` too), BLAKE3 hashes on one thread
(crypto/hashing.py). Unlike the read engines' workers (s3vault/workerpool.py), these open TLS
connections of their own, on new threads: a lock libcrypto holds while a thread of the parent
starts or ends would stay held in the child, so the fork waits until no ended thread (an index
listing's) is still on its way out (``settle_threads``); no thread of the parent makes requests
then (a backup holds no lease, so no refresh thread runs).

Why the workers pack and upload data themselves: with the parent as the one packer (every sealed
blob sent through a pipe), the parent was busy for about 3 of the 4.8 s of a first backup of
19,500 files on 2 cores (pipe reads, copies into packs, writes) and ``--jobs 2`` was slower than
the threaded engine (3.7 s against 3.1 s); with workers packing, the parent handles only names
and ``--jobs 2`` took 2.3 s against 4.1 s (same run). Tree blobs (small, one per directory) still
go to the parent sealed, so trees fill shared packs instead of one partial pack per worker;
so do the blobs left in a worker's last data pack when it stops (``("held", ...)``): a run
stores one partly filled data pack, not one per worker (with 16 workers a nightly backup of a
few changed files stored 16 small packs: 16 objects, 16 PUTs, where one does).

Exact dedup: a worker's copy of the index says what was stored before the run and what the worker
itself met; a data blob it believes new is claimed from the parent (batched: one round trip per
batch of small files, one per chunk of a big file), which reserves it in the one real index:
a blob is granted to one worker only, so every blob is stored once per repository. Packs are
uploaded before the parent indexes them, index files are written by the parent before the
snapshot (design.md §11: the commit order is the serial engine's).

Same snapshot: trees hold the same nodes as the serial engine's (the encoding sorts them), so
``--jobs 1`` and ``--jobs N`` give the same tree ids for the same input.

Failure: a worker that raises sends the exception and the parent re-raises it; a worker that dies
(killed, out of memory) closes its pipe and the parent fails the backup (S3VaultError, exit code
1) before any snapshot is written; the packs it uploaded are garbage that no snapshot names,
as after a killed serial backup. SIGINT/SIGTERM reach the parent, which kills its workers and
passes the KeyboardInterrupt on (exit 130); the workers ignore SIGINT, and a worker whose parent
is gone finds its pipe closed and exits.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, NoReturn, cast

from s3vault.archiver.dirworker import (
    DirDone,
    DirResult,
    DirTask,
    Partial,
    Record,
    Split,
)
from s3vault.archiver.excludes import ExcludeRules
from s3vault.archiver.pipeline import (
    ArchiveOptions,
    Archiver,
    ArchiveStats,
    _nested_targets,
    _whole_root,
    leading_stat,
    whole_root_base,
)
from s3vault.archiver.scan import node_type, read_problem
from s3vault.archiver.scanner import Scanner
from s3vault.archiver.trees import Encoded, PendingDir, SameNames
from s3vault.archiver.walk import Listing
from s3vault.archiver.workerproc import add_requests, worker_main
from s3vault.collector import inherited_heap_frozen
from s3vault.errors import S3VaultError
from s3vault.format.packfile import BlobType
from s3vault.format.tree import Node, NodeType, node_to_json
from s3vault.ids import ObjectId
from s3vault.progress import NullProgress, Progress
from s3vault.repository.repository import Repository
from s3vault.repository.writer import BlobWriter
from s3vault.workerpool import note_workers, settle_threads

IN_FLIGHT = 3  # tasks handed to one worker at a time: it never waits for the next
BATCH = 64  # directories a task may take in when the frontier is wide enough (DirWorker.do_task)
SCAN_POLL = 0.1  # seconds between two looks at a scanner process's counts
_COUNTERS = (
    "files_new",
    "files_changed",
    "files_unmodified",
    "files_failed",
    "dirs_new",
    "dirs_changed",
    "dirs_unmodified",
    "bytes_processed",
)


class _SharedCounts(NullProgress):
    """A scanner process's progress: its totals into memory the parent reads."""

    def __init__(self, shared: Any) -> None:
        self._shared = shared

    def totals(self, *, files: int, bytes_: int, complete: bool) -> None:
        """Publish the counts (read as final once this process has ended)."""
        self._shared[0] = files
        self._shared[1] = bytes_
        self._shared[2] = int(complete)


def _scan(shared: Any, targets: tuple[bytes, ...], root: bytes, excludes: ExcludeRules) -> None:
    inherited_heap_frozen()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles an interrupt
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    Scanner(targets, root, excludes, _SharedCounts(shared)).run()


class ScanProcess:
    """A first backup's scanner (archiver/scanner.py) in a process of its own, beside the
    parallel engine: its walk (an ``lstat`` and the exclude rules per file) no longer takes
    the parent's interpreter lock from the thread that answers the workers (on the bench
    corpus it was 0.15 s of the parent's 0.66 s of CPU while the workers ran, and the parent
    is the one process every worker waits on: docs/performance.md, "Scaling with cores").

    Same events as the thread: ``Progress.totals`` as the counts grow (looked at every
    ``SCAN_POLL`` s) and once with ``complete=True`` if the walk ended before ``stop()``. The
    counts cross in shared memory, never a pipe: the scanner cannot block on a parent that
    died (it finishes its walk, which reads no file, and exits). Not thread-safe: one thread
    calls ``start`` and ``stop``."""

    def __init__(
        self, targets: tuple[bytes, ...], root: bytes, excludes: ExcludeRules, progress: Progress
    ) -> None:
        ctx = multiprocessing.get_context("fork")
        self._shared = ctx.RawArray("q", 3)  # files, bytes, complete
        self._proc = ctx.Process(
            target=_scan, args=(self._shared, targets, root, excludes), name="s3vault-scan"
        )
        self._proc.daemon = True
        self._progress = progress
        self._stopping = threading.Event()
        self._relay = threading.Thread(target=self._pass_on, name="s3v-scan-relay", daemon=True)
        self._said: tuple[int, int, int] = (0, 0, 0)

    def start(self) -> None:
        """Fork the scanner, and a thread that passes its counts on."""
        self._proc.start()
        self._relay.start()

    def stop(self, *, wait: bool = True) -> None:
        """The backup is over: the scanner is ended and (``wait``) its last counts passed on;
        without ``wait`` (an interrupt) the relay thread, a daemon, is not waited for."""
        self._stopping.set()
        self._proc.kill()
        self._proc.join()
        if wait:
            self._relay.join()
            self._look(ended=True)

    def _pass_on(self) -> None:
        while not self._stopping.wait(SCAN_POLL):
            ended = self._proc.exitcode is not None  # reaped: all it wrote is visible here
            self._look(ended=ended)
            if ended:
                return

    def _look(self, *, ended: bool) -> None:
        """Pass the counts on if they changed. Complete only once the scanner has ended (a
        process still running may be seen to set the flag before its last counts)."""
        counts = (self._shared[0], self._shared[1], int(ended and self._shared[2] == 1))
        if counts != self._said and not self._said[2]:
            self._said = counts
            self._progress.totals(files=counts[0], bytes_=counts[1], complete=bool(counts[2]))


@dataclass(slots=True, eq=False)
class _Dir:
    """A directory whose tree the parent builds once ``pending`` (its tasks and subdirectories
    not yet done) drops to zero. It keeps the parent snapshot's tree (``psub``) when every
    entry equals the parent's, as many as that tree holds (``parent_count``, known once a
    worker listed the whole directory), and its own node equals the parent's (``meta_same``,
    for its own parent's decision): as the serial engine (archiver/trees.py)."""

    node: Node
    psub: ObjectId | None
    up: _Dir | None
    path: bytes
    root_dev: int
    st: os.stat_result | None = None
    pending: int = 1
    entries: list[Node | Encoded | SameNames] = field(default_factory=list)
    parent_count: int | None = None
    meta_same: bool = False


@dataclass(slots=True, eq=False)
class _Worker:
    proc: BaseProcess
    conn: Connection
    in_flight: int = 0
    finished: bool = False


class ParallelArchiver(Archiver):
    """Walks the sources with worker processes and produces the snapshot's root tree.

    The parent's part of the Archiver (stats, warnings, the parent snapshot's trees) is the
    serial engine's; standard input is never archived here (it is one stream).
    """

    def __init__(
        self,
        repo: Repository,
        writer: BlobWriter,
        options: ArchiveOptions,
        *,
        jobs: int,
        parent_tree: ObjectId | None = None,
        progress: Progress | None = None,
    ) -> None:
        assert options.stdin is None
        super().__init__(repo, writer, options, parent_tree=parent_tree, progress=progress)
        self._full = repo  # the workers need a full key's repository (the request counters)
        self._jobs = max(2, jobs)
        self._tasks: deque[DirTask] = deque()
        self._dirs: dict[int, _Dir] = {}
        self._root: Node | None = None
        self._noticed: set[tuple[str, str]] = set()  # notices kept so far (``_merge``)

    @property
    def jobs(self) -> int:
        """How many worker processes it runs."""
        return self._jobs

    def run(self) -> ObjectId:
        """Archive everything; returns the root tree id.

        Raises:
            BackendError, IntegrityError: storing failed; nothing was committed.
            S3VaultError: a worker process died.
            KeyboardInterrupt: passed through after the workers are stopped.
        """
        workers = self._fork()
        try:
            self._plan()
            self._serve(workers, lambda: self._root is not None)
            for w in workers:
                self._send(w, None)  # stop: send what you hold, and your counters
            self._serve(workers, lambda: all(w.finished for w in workers))
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
        assert self._root is not None and self._root.subtree is not None
        return self._root.subtree

    def _fork(self) -> list[_Worker]:
        note_workers(self._jobs)
        ctx = multiprocessing.get_context("fork")
        pipes = [ctx.Pipe() for _ in range(self._jobs)]
        workers = []
        # One reader thread and two chunks ahead of it per worker: the reader (chunking and
        # hashing) keeps the two blob threads busy; a second reader only added memory (a
        # worker reading large files peaked at 130-142 MiB with two, above restic's whole
        # first backup, and under the parent's key derivation with one) and the run was no
        # faster (docs/performance.md, "What a backup's peak is made of")
        worker_options = replace(self._opts, readers=1, blob_workers=2, read_ahead=2)
        settle_threads()  # no ended thread still in its exit handlers (workerpool.py)
        for i, (mine, theirs) in enumerate(pipes):
            others = [end for j, pair in enumerate(pipes) if j != i for end in pair]
            others.append(mine)
            proc = ctx.Process(
                target=worker_main,
                args=(
                    theirs,
                    others,
                    self._full,
                    worker_options,
                    self._progress.lists_files,
                    self._progress.shows_totals,
                ),
                name=f"s3vault-backup-{i}",
                daemon=True,
            )
            proc.start()
            workers.append(_Worker(proc, mine))
        for _, theirs in pipes:
            theirs.close()
        return workers

    # Planning: the targets and the directories that lead to them --------------------------

    def _plan(self) -> None:
        """Tasks for the backup targets; the directories leading to them are built here."""
        base = self._opts.root or b"/"
        if _whole_root(self._opts.paths):
            # "/" itself is a target: the root tree is the listing of the base directory
            base, st = whole_root_base(base)
            top = _Dir(self._meta(base, b"", st), self._parent_tree, None, base, st.st_dev, st)
            self._dirs[id(top)] = top
            self._tasks.append(DirTask(id(top), base, top.node, st, top.psub, st.st_dev))
            return
        top = _Dir(Node(name=b"", type=NodeType.DIR, mode=0o755), self._parent_tree, None, base, 0)
        self._dirs[id(top)] = top
        self._say_hidden(base)
        targets = iter(sorted(_nested_targets(self._opts.paths).items()))
        stack: list[tuple[_Dir, Iterator[tuple[bytes, object]], dict[bytes, Node]]] = [
            (top, targets, self._tree_nodes(self._parent_tree, b"/"))
        ]
        explicit: dict[int, Listing] = {}
        while stack:
            vdir, items, pnodes = stack[-1]
            item = next(items, None)
            if item is None:
                stack.pop()
                leaves = explicit.pop(id(vdir), None)
                if leaves:
                    vdir.pending += 1
                    self._tasks.append(
                        DirTask(
                            id(vdir),
                            vdir.path,
                            vdir.node,
                            None,
                            vdir.psub,
                            0,
                            leaves,
                            explicit=True,
                        )
                    )
                self._one_done(vdir, None)  # the planning's own hold on it
                continue
            child = self._plan_item(vdir, item[0], item[1], pnodes, explicit)
            if child is not None:
                stack.append(child)

    def _plan_item(
        self,
        vdir: _Dir,
        name: bytes,
        sub: object,
        pnodes: dict[bytes, Node],
        explicit: dict[int, Listing],
    ) -> tuple[_Dir, Iterator[tuple[bytes, object]], dict[bytes, Node]] | None:
        path = os.path.join(vdir.path, name)
        try:
            st = os.lstat(path)
        except OSError as exc:
            self._warn(path, read_problem(exc, "cannot read"), failed=True)
            return None
        pnode = pnodes.get(name)
        is_dir = node_type(st) is NodeType.DIR
        if sub is None and not is_dir:
            explicit.setdefault(id(vdir), []).append((name, st))
            return None
        psub = pnode.subtree if pnode is not None and pnode.type is NodeType.DIR else None
        try:
            st = leading_stat(path, st, self._opts.root) if sub is not None else st
            meta = self._meta(path, name, st)
        except OSError as exc:
            self._warn(path, read_problem(exc, "cannot read metadata"), failed=True)
            return None
        child = _Dir(meta, psub, vdir, path, st.st_dev, st)
        self._dirs[id(child)] = child
        vdir.pending += 1
        if sub is None:  # a target directory: the workers do it
            self._tasks.append(DirTask(id(child), path, meta, st, psub, st.st_dev))
            return None
        assert isinstance(sub, dict)
        return child, iter(sorted(sub.items())), self._tree_nodes(psub, path)

    # Serving the workers -----------------------------------------------------------------

    def _serve(self, workers: list[_Worker], done: Callable[[], bool]) -> None:
        """Hand out tasks and take in the workers' messages until ``done()``."""
        while not done():
            live = [w for w in workers if not w.finished]
            self._dispatch(live)
            by_conn = {w.conn: w for w in live}
            by_sentinel = {w.proc.sentinel: w for w in live}
            for ready in wait([*by_conn, *by_sentinel]):
                if isinstance(ready, int):
                    w = by_sentinel[ready]
                    if not w.finished and not w.conn.poll():
                        self._died(w)  # gone without a word (its last words are read first)
                    continue
                w = by_conn[cast("Connection[Any, Any]", ready)]
                if not w.finished:
                    self._receive(w)

    def _dispatch(self, workers: list[_Worker]) -> None:
        for w in sorted(workers, key=lambda w: w.in_flight):
            while self._tasks and w.in_flight < IN_FLIGHT:
                task = self._tasks.pop()  # depth first: the frontier stays small
                if task.psub is not None and len(self._tasks) >= len(workers):
                    # the others have work: this worker may go on below the directory (an
                    # incremental run's directories are mostly unchanged, cheap to walk)
                    task.batch = BATCH
                self._send(w, task)
                w.in_flight += 1

    def _send(self, w: _Worker, message: object) -> None:
        """Send to a worker; a worker that died meanwhile fails the backup with its message.
        (A broken pipe must never escape: click turns any EPIPE into a silent exit 1, meant
        for a closed standard output.)"""
        try:
            w.conn.send(message)
        except OSError:  # BrokenPipeError, ConnectionResetError: its end is closed
            self._died(w)

    def _died(self, w: _Worker) -> NoReturn:
        w.proc.join(timeout=5)  # its pipe closes as it dies: let it finish dying
        code = w.proc.exitcode
        how = f"was killed by signal {-code}" if code is not None and code < 0 else "exited"
        msg = (
            f"a backup worker process (pid {w.proc.pid}) {how} unexpectedly; no snapshot was "
            "written: run the backup again"
        )
        raise S3VaultError(msg)

    def _receive(self, w: _Worker) -> None:
        try:
            message = w.conn.recv()
        except (EOFError, OSError):
            self._died(w)
        kind = message[0]
        if kind == "claim":
            self._send(w, ("granted", message[1], self._writer.grant(message[2])))
        elif kind == "trees":
            add = self._writer.add_sealed
            for btype, bid, sealed, raw_length in message[1]:
                add(btype, bid, sealed, raw_length)
        elif kind == "pack":
            self._writer.record_pack(message[1], message[2])
        elif kind == "held":  # a worker's last, partly filled pack: packed with the others'
            adopt = self._writer.adopt
            for btype, bid, sealed, raw_length in message[1]:
                adopt(btype, bid, sealed, raw_length)
        elif kind == "done":
            self._done(w, *message[1:])
        elif kind == "progress":
            self._progressed(w, *message[1:])
        elif kind == "drop":  # an unreadable parent tree: store it again if met, never dedup
            self._repo.index.drop_blob(BlobType.TREE, message[1])
        elif kind == "bye":
            self._progress.files_in_flight(w.proc.pid or 0, [])
            self._merge(*message[1:6])
            add_requests(self._full.requests, message[6])
            w.finished = True
        else:
            raise message[1]

    def _done(
        self,
        w: _Worker,
        key: int,
        result: list[Record],
        stats: ArchiveStats,
        *taken: Any,  # CollectingProgress.take's: files, bytes, warnings, file statuses
    ) -> None:
        """A task's result, its counts and its directories' records."""
        w.in_flight -= 1
        if not w.in_flight:  # its files are done: not shown in flight until it ticks again
            self._progress.files_in_flight(w.proc.pid or 0, [])
        self._merge(stats, *taken)
        self._records(self._dirs[key], result)

    def _progressed(self, w: _Worker, files: int, bytes_: int, in_flight: list[str]) -> None:
        """A worker's progress between its results: a large file's bytes as it reads them."""
        if files or bytes_:
            self._progress.advanced(files=files, bytes_=bytes_)
        self._progress.files_in_flight(w.proc.pid or 0, in_flight)

    def _merge(
        self,
        stats: ArchiveStats,
        files: int,
        bytes_: int,
        warned: list[tuple[str, str]],
        statuses: list[tuple[str, str]],
    ) -> None:
        # A notice may come from several workers: each that takes a slice of a big directory
        # reads the parent snapshot's tree of it, and says so when it is unreadable (said
        # once per worker, found by an attack pass); it is said and kept once.
        notices = [note for note in stats.notices if note not in self._noticed]
        said = set(stats.notices) & self._noticed
        self._noticed.update(notices)
        with self._lock:
            for name in _COUNTERS:
                setattr(self.stats, name, getattr(self.stats, name) + getattr(stats, name))
            self.stats.warnings.extend(stats.warnings)
            self.stats.notices.extend(notices)
        if files or bytes_:
            self._progress.advanced(files=files, bytes_=bytes_)
        for path, message in warned:
            if (path, message) not in said:
                self._progress.warned(path, message)
        for path, status in statuses:
            self._progress.file_done(path, status)

    def _records(self, d: _Dir, records: list[Record]) -> None:
        """A task's results: its directory's, then those of the directories below it that
        the worker did too (``DirWorker.do_task``), each after the one it is in."""
        here: dict[int, set[int]] = {}  # by record: its subdirectories the worker did
        for up, slot, _ in records[1:]:
            here.setdefault(up, set()).add(slot)
        made: list[list[_Dir]] = []
        for index, (up, slot, result) in enumerate(records):
            target = d if up < 0 else made[up][slot]
            made.append(self._result(target, result, here.get(index, set())))

    def _result(self, d: _Dir, result: DirResult, done_here: set[int]) -> list[_Dir]:
        """One directory's result; returns its subdirectories (those in ``done_here`` have
        their results in the same task's records, the others become tasks)."""
        if isinstance(result, DirDone):
            self._one_done(d, result.node)
        elif isinstance(result, Split):
            d.pending += len(result.slices)
            for part in result.slices:
                task = DirTask(id(d), d.path, d.node, d.st, d.psub, d.root_dev, names=part)
                task.tagged = result.tagged
                self._tasks.append(task)
            self._one_done(d, None)
        else:
            return self._partial(d, result, done_here)
        return []

    def _partial(self, d: _Dir, result: Partial, done_here: set[int]) -> list[_Dir]:
        d.entries.extend(result.entries)
        if result.parent_count is not None:
            d.parent_count = result.parent_count
        children = []
        for i, (meta, st, psub, meta_same) in enumerate(result.subdirs):
            path, root_dev = self.subdir_place(d.path, d.root_dev, meta.name, st)
            child = _Dir(meta, psub, d, path, root_dev, st, meta_same=meta_same)
            self._dirs[id(child)] = child
            d.pending += 1
            children.append(child)
            if i not in done_here:
                self._tasks.append(DirTask(id(child), path, meta, st, psub, root_dev))
        self._one_done(d, None)
        return children

    # Trees ---------------------------------------------------------------------------------

    def _one_done(self, d: _Dir, node: Node | None) -> None:
        """One of a directory's tasks or subdirectories is done; a directory with nothing
        left gets its tree (``node``: built by a worker), and its parent hears of it."""
        d.pending -= 1
        while d.pending == 0:
            if node is None:
                node = self._build(d)
            del self._dirs[id(d)]
            up = d.up
            if up is None:
                self._root = node
                return
            same = d.meta_same and node.subtree is not None and node.subtree == d.psub
            up.entries.append(Encoded(node.name, node_to_json(node), same))
            up.pending -= 1
            d, node = up, None

    def _parent_objects(self, d: _Dir) -> Callable[[bytes], dict[str, Any] | None] | None:
        """The parent snapshot's nodes of the directory by name (None: unreadable)."""
        listing = self._parent_listing(d.psub, d.path)
        return listing.get if listing is not None else None

    def _build(self, d: _Dir) -> Node:
        tree = PendingDir(d.node, d.psub, parent_count=d.parent_count)
        for entry in d.entries:  # in any order: the encoding sorts them by name
            tree.add(entry)
        d.entries = []
        node, same = tree.finalise(self._writer, lambda: self._parent_objects(d))
        with self._lock:
            if same:
                self.stats.dirs_unmodified += 1
            elif d.psub is not None:
                self.stats.dirs_changed += 1
            else:
                self.stats.dirs_new += 1
        return node
