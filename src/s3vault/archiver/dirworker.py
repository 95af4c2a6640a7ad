"""A backup worker process's share of the walk: a directory, or a slice of a big one, per task.

The parallel engine (archiver/parallel.py) hands each worker process ``DirTask`` records. The
worker lists the directory (against the parent snapshot's tree of it), applies the excludes,
and reads, chunks, hashes, compresses and seals the files it holds with the serial engine's code
(``Archiver._leaf``: change detection, hardlinks, warnings are the same). Subdirectories go
back to the parent process as new tasks, so no process walks the whole tree and any idle worker
takes the next directory; only when the parent process has work for the others too (a task's
``batch``) does the worker go on below, depth first, into the directories the parent snapshot
holds (an incremental run's are mostly unchanged: a round trip per directory cost as much as
walking it), and the rest go back. A directory with more than ``SLICE`` entries comes back as
slices, so one huge directory is shared by every worker. A directory without subdirectories
gets its tree built and sealed here; the others' trees are built by the parent from their
children's results, and keep the parent snapshot's tree id when nothing in them changed, as in
the serial engine.

Paths deeper than ``walk.DEEP_AT`` are walked whole, serially, in one worker (the walk's
descriptor chain cannot cross processes); such trees are rare.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from s3vault.archiver.pipeline import Archiver, ArchiveStats
from s3vault.archiver.reuse import ParentListing, same_dir_node, subtree_of
from s3vault.archiver.scan import list_names, read_problem, stat_names
from s3vault.archiver.trees import Encoded, PendingDir, SameNames
from s3vault.archiver.walk import Listing, is_deep
from s3vault.errors import raise_if_out_of_descriptors
from s3vault.format.tree import Node, NodeType
from s3vault.ids import ObjectId
from s3vault.progress import NullProgress

SLICE = 512  # entries: a directory with more is shared out in slices of this many


@dataclass(slots=True)
class DirTask:
    """One directory to list, or a slice of one already listed (``names``), or the targets
    named in one (``entries``, with ``explicit``)."""

    key: int  # the parent process's name for the directory
    path: bytes
    meta: Node
    st: os.stat_result | None  # the directory's, as listed (None: the targets' virtual top)
    psub: ObjectId | None  # the parent snapshot's tree of it
    root_dev: int
    entries: Listing | None = None
    tagged: frozenset[bytes] | None = None  # see DirFrame.tagged
    explicit: bool = False  # backup targets named by the user: no exclude applies
    batch: int = 1  # directories it may take in: its own and some below it (``do_task``)
    names: list[bytes] | None = None  # a slice: stat'ed by the worker that takes it

    @property
    def whole(self) -> bool:
        """A whole directory (to list), not a part of one."""
        return self.entries is None and self.names is None


@dataclass(slots=True)
class DirDone:
    """The directory is finished: its node carries its tree id."""

    node: Node


@dataclass(slots=True)
class Split:
    """The directory is big: here are its names, in slices, for any worker to take (and
    stat: lstat results cost more to send than to make again; and the parent snapshot's tree
    of it is parsed by the workers that take the slices, side by side)."""

    slices: list[list[bytes]]
    tagged: frozenset[bytes] | None


# a subdirectory still to do: metadata node, lstat, the parent snapshot's tree of it, and
# whether the metadata node equals the parent snapshot's node of it (its subtree aside)
SubDir = tuple[Node, os.stat_result, ObjectId | None, bool]


@dataclass(slots=True)
class Partial:
    """The entries of a directory (or slice) that are not directories, and its
    subdirectories still to do.

    An entry compared with the parent snapshot's node of its name comes as the JSON object its
    tree records (``Encoded``), or by its name alone when equal to it (``SameNames``: a
    directory of 100,000 unchanged files took 7.3 s with two workers and 2.6 s with one while
    every object crossed the pipe), so that the parent process keeps the parent's tree id of a
    directory where nothing changed (``PendingDir.kept``), as the serial engine does;
    ``parent_count``: the nodes in the parent snapshot's tree of a whole directory (None for
    the targets named in a directory, or with no parent tree: the tree is encoded; a slice
    gives the whole directory's)."""

    entries: list[Node | Encoded | SameNames]
    subdirs: list[SubDir] = field(default_factory=list)
    parent_count: int | None = None


DirResult = DirDone | Split | Partial
# a directory's result within a task's (``DirWorker.do_task``): the index of the record of the
# directory it is in (-1: the task's own directory) and its place in that record's
# ``subdirs``
Record = tuple[int, int, DirResult]


class CollectingProgress(NullProgress):
    """A worker's progress: counted here, replayed by the parent process (the events it does
    not override are not sent across; per-file events only when ``lists_files``)."""

    def __init__(self, *, lists_files: bool = False, tracks: bool = False) -> None:
        self._lock = threading.Lock()
        self._lists_files = lists_files
        self._tracks = tracks  # the files in flight are kept, for the parent to show
        self._in_flight: dict[str, None] = {}  # ordered set
        self.files = 0
        self.bytes_ = 0
        self.warned_events: list[tuple[str, str]] = []
        self.file_events: list[tuple[str, str]] = []

    @property
    def lists_files(self) -> bool:
        """As the parent's progress asked."""
        return self._lists_files

    def file_started(self, path: str) -> None:
        """A file in flight (kept only when the parent shows them)."""
        if self._tracks:
            with self._lock:
                self._in_flight[path] = None

    def file_done(self, path: str, status: str) -> None:
        """Keep a file's status for the parent to list (-vv)."""
        if self._tracks:
            with self._lock:
                self._in_flight.pop(path, None)
        if self._lists_files:
            with self._lock:
                self.file_events.append((path, status))

    def advanced(self, *, files: int = 0, bytes_: int = 0, item: str = "") -> None:
        """Count files and bytes done."""
        del item
        with self._lock:
            self.files += files
            self.bytes_ += bytes_

    def warned(self, path: str, message: str) -> None:
        """Keep a warning for the parent to show."""
        with self._lock:
            self._in_flight.pop(path, None)
            self.warned_events.append((path, message))

    def take_counts(self) -> tuple[int, int, list[str]]:
        """(files, bytes) since the last take, and the files in flight now: what a worker
        sends between its tasks' results, so that a large file's bytes show as they are
        read."""
        with self._lock:
            out = (self.files, self.bytes_, list(self._in_flight))
            self.files = self.bytes_ = 0
        return out

    def take(self) -> tuple[int, int, list[tuple[str, str]], list[tuple[str, str]]]:
        """(files, bytes, warnings, file statuses) since the last call."""
        with self._lock:
            out = (self.files, self.bytes_, self.warned_events, self.file_events)
            self.files, self.bytes_, self.warned_events, self.file_events = 0, 0, [], []
        return out


class DirWorker(Archiver):
    """The serial archiver's per-entry code, driven one directory task at a time."""

    on_drop: Callable[[ObjectId], None] | None = None  # a parent tree found unreadable
    _pools: tuple[ThreadPoolExecutor, ...] = ()  # started by ``open``
    # the parent's tree of the directory whose slices this worker takes (``_listing_of``)
    _kept_listing: tuple[ObjectId, ParentListing | None] | None = None

    def _parent_unreadable(self, tid: ObjectId, path: bytes, exc: Exception) -> None:
        """As the serial engine's; a tree it had to forget is forgotten by the parent
        process too (before this worker sends a tree blob that could carry its id)."""
        super()._parent_unreadable(tid, path, exc)
        if self.on_drop is not None:
            self.on_drop(tid)

    def open(self) -> None:
        """Start the reader and blob thread pools (after the fork: threads do not survive
        one)."""
        self._pools = self._open_pools()

    def close(self) -> None:
        """Stop the thread pools."""
        self._cancel.set()
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)

    def take_stats(self) -> ArchiveStats:
        """The counters since the last call."""
        with self._lock:
            stats, self.stats = self.stats, ArchiveStats()
        return stats

    def do_task(self, task: DirTask) -> list[Record]:
        """Do one task: its directory, then, depth first, directories below it that its
        parent snapshot holds too, until ``task.batch`` directories are done; one record
        each, every directory after the one it is in. Subdirectories not done go back to the
        parent process as tasks. A round trip per directory cost an unchanged run's parent
        and workers about 0.3 ms of CPU each, about as much as walking an unchanged
        directory (docs/performance.md).

        Raises:
            BackendError, IntegrityError: storing or reading the repository failed (fatal).
        """
        records: list[Record] = []
        stack: list[tuple[int, int, DirTask]] = [(-1, 0, task)]
        while stack and len(records) < task.batch:
            up, slot, current = stack.pop()
            result = self.process(current)
            records.append((up, slot, result))
            if not isinstance(result, Partial):
                continue
            here = len(records) - 1
            for i in reversed(range(len(result.subdirs))):  # the first is done first
                meta, st, psub, _same = result.subdirs[i]
                if psub is not None:
                    path, root_dev = self.subdir_place(
                        current.path, current.root_dev, meta.name, st
                    )
                    stack.append((here, i, DirTask(0, path, meta, st, psub, root_dev)))
        return records

    def process(self, task: DirTask) -> DirResult:
        """Do one directory, or a slice of one.

        Raises:
            BackendError, IntegrityError: storing or reading the repository failed (fatal).
        """
        if task.names is not None:
            entries, tagged = self._stat_slice(task, task.names), task.tagged
        elif task.entries is None:
            listed = self._list(task)
            if not isinstance(listed, tuple):
                return listed
            entries, tagged = listed
        else:
            entries, tagged = task.entries, task.tagged
        listing = self._listing_of(task)
        # a directory may keep its parent's tree: the count of the whole (for a slice too, as
        # the parent process adds up the slices; not for the targets named in a directory)
        count = listing.count if listing is not None and task.explicit is False else None
        pdir = PendingDir(task.meta, task.psub, parent_count=count)
        if listing is not None and tagged is None and self._matcher.empty and not task.explicit:
            entries = self._keep_unchanged(pdir, listing, task.path, entries)
        subdirs = []
        for name, cst in entries:
            sub = self._item(task, pdir, name, cst, listing, tagged)
            if sub is not None:
                subdirs.append(sub)
        self._count_unchanged()
        if not subdirs and task.whole:
            return self._finished(pdir)
        return Partial(_for_parent(pdir), subdirs, count)

    def _listing_of(self, task: DirTask) -> ParentListing | None:
        """The parent snapshot's tree of the task's directory. The slices of a big directory
        share one parse (kept for the next slice): each parsed the whole tree, and an unchanged
        run over 200,000 files in one directory parsed it 391 times (430 s against 20 s)."""
        path = task.path if task.psub else b""
        if task.whole or task.psub is None:
            return self._parent_listing(task.psub, path)
        kept = self._kept_listing
        if kept is None or kept[0] != task.psub:
            kept = self._kept_listing = (task.psub, self._parent_listing(task.psub, path))
        return kept[1]

    def _finished(self, pdir: PendingDir) -> DirDone:
        self._queue(pdir)
        self._drain(block=True)
        return DirDone(pdir.node)

    def _list(self, task: DirTask) -> DirResult | tuple[Listing, frozenset[bytes] | None]:
        """The listing of a directory, or the whole result when there is nothing to share."""
        path = task.path
        assert task.st is not None
        if is_deep(len(path)):
            pnode = Node(name=task.meta.name, type=NodeType.DIR, subtree=task.psub)
            pdir = self._walk_dir(path, task.meta, task.st, pnode, task.root_dev)
            self._drain(block=True)
            return DirDone(pdir.node)
        below = self._below(path, task.st, task.root_dev)
        if below is None:  # a mount point: keep the directory, not what is mounted there
            return self._finished(PendingDir(task.meta, task.psub))
        try:
            # on the way to a named path only: its other entries are left out
            tagged = frozenset() if below.way_only else self._tagged(path, path)
            names, entries = list_names(path, (task.st.st_dev, task.st.st_ino), stat_up_to=SLICE)
        except OSError as exc:
            raise_if_out_of_descriptors(exc)
            self._warn(path, f"cannot list directory: {exc.strerror or exc}", failed=True)
            return [], None
        if entries is not None:
            return entries, tagged
        return Split([names[i : i + SLICE] for i in range(0, len(names), SLICE)], tagged)

    def _stat_slice(self, task: DirTask, names: list[bytes]) -> Listing:
        """The entries of these names of the task's directory (``list_dir``'s). When the
        directory cannot be opened since it was listed (made unreadable, replaced), each of
        them carries the error: each is said and counted as not backed up (an attack pass:
        one "cannot list directory" for 512 files left out, counted as one)."""
        assert task.st is not None
        try:
            return stat_names(task.path, (task.st.st_dev, task.st.st_ino), names)
        except OSError as exc:
            raise_if_out_of_descriptors(exc)
            return [(name, exc) for name in names]

    def _item(
        self,
        task: DirTask,
        pdir: PendingDir,
        name: bytes,
        cst: os.stat_result | OSError,
        listing: ParentListing | None,
        tagged: frozenset[bytes] | None,
    ) -> SubDir | None:
        """One entry (as the serial walk's ``_visit``): a file joins ``pdir``, a directory
        comes back as work for the parent process."""
        io = task.path + b"/" + name if task.path != b"/" else b"/" + name
        if isinstance(cst, OSError):
            self._warn(io, read_problem(cst, "cannot read"), failed=True)
            return None
        if not task.explicit and self._skipped(io, name, cst, tagged):
            return None
        pobj = listing.get(name) if listing is not None else None
        if not stat.S_ISDIR(cst.st_mode):
            self._visit_leaf(pdir, pobj, io, name, cst, None)
            return None
        try:
            meta = self._meta(io, name, cst)
        except OSError as exc:
            self._warn(io, read_problem(exc, "cannot read metadata"), failed=True)
            return None
        psub = None
        if pobj is not None and pobj.get("type") == NodeType.DIR.value:
            psub = subtree_of(pobj)
        return meta, cst, psub, psub is not None and same_dir_node(meta, pobj)


def _for_parent(pdir: PendingDir) -> list[Node | Encoded | SameNames]:
    """The entries of a directory (its files read) as the parent process builds its tree
    from them: entries equal to the parent snapshot's by name only (most of an incremental
    run's)."""
    done: list[Node | Encoded | SameNames] = []
    same: list[bytes] = []
    for entry in pdir.entries:
        if isinstance(entry, Future):
            node = entry.result()
            if node is not None:
                done.append(node)
        elif isinstance(entry, Encoded) and entry.same:
            same.append(entry.name)
        elif isinstance(entry, Node | Encoded):
            done.append(entry)
    if same:
        done.append(SameNames(same))
    return done
