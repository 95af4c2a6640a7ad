"""Archiver: the backup pipeline, stages connected by bounded queues and thread pools.

    main thread   scan (sorted walk, excludes) → change detection against the parent tree →
                  submit changed files ─┐                      ┌→ finalise directories (trees)
    reader pool   open, read, chunk, hash, dedup ─→ blob pool: compress, seal, verify, pack, write

Bounds: at most ``readers × 8`` files in flight (a semaphore), ``window`` chunks per big file,
``MAX_PENDING_DIRS`` directories waiting for their files; memory does not grow with the input.

Error policy: a source file that cannot be read, vanishes or changes while being read is a
warning (the path is named and counted; the snapshot is marked incomplete); storage and
integrity errors abort the backup before any snapshot is written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Protocol

from s3vault.archiver import walk
from s3vault.archiver.changes import ChangeRules, unchanged
from s3vault.archiver.chunking import FdReader, FileReader
from s3vault.archiver.excludes import Below, ExcludeMatcher, ExcludeRules
from s3vault.archiver.pseudofs import generated_devices, is_generated
from s3vault.archiver.reuse import (
    JsonNode,
    ParentListing,
    keep_unchanged,
    same_dir_node,
    subtree_of,
    unchanged_object,
)
from s3vault.archiver.scan import (
    list_dir,
    metadata_node,
    node_type,
    open_dir,
    read_problem,
    read_xattrs,
)
from s3vault.archiver.trees import Encoded, PendingDir
from s3vault.archiver.walk import DirFrame, Listing, PathBuffer, is_deep
from s3vault.chunker import ByteStream, ChunkerParams
from s3vault.errors import (
    IntegrityError,
    ObjectNotFoundError,
    S3VaultError,
    raise_if_out_of_descriptors,
)
from s3vault.format.configfile import ConfigFile
from s3vault.format.packfile import BlobType
from s3vault.format.tree import Node, NodeType, Tree, node_from_json, node_to_json
from s3vault.ids import ObjectId
from s3vault.progress import NullProgress, Progress
from s3vault.repository.index import BlobIndex
from s3vault.repository.writer import BlobWriter

MAX_PENDING_DIRS = 4096
INLINE_FILES_BELOW = 256 * 1024
_Entry = Node | Future[Node | None] | PendingDir


@dataclass(slots=True)
class FileSource:
    """How a reader gets at a file: an open descriptor (deep directories: opened while the
    walk was there), or the path to open; ``path`` names it in warnings."""

    path: bytes
    fd: int | None = None
    opener: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveOptions:
    """What to archive and how hard to work."""

    paths: tuple[bytes, ...] = ()  # absolute, as the snapshot records them
    root: bytes = b""  # where they are read: below this directory
    excludes: ExcludeRules = field(default_factory=ExcludeRules)
    changes: ChangeRules = field(default_factory=ChangeRules)
    with_atime: bool = False  # record access times (restic's --with-atime)
    stdin: ByteStream | None = None
    stdin_filename: bytes = b"stdin"  # may hold "/": stored below those directories
    stdin_mtime_ns: int = 0  # the stdin file's (and its directories') time
    readers: int = 2
    blob_workers: int = 3
    # chunks of one large file a reader has at the blob workers at once (each a copy of up to
    # the maximum chunk size): with ``readers``, what bounds the read-ahead's memory
    read_ahead: int = 4


@dataclass(slots=True)
class ArchiveStats:
    """Counters of one run (updated from several threads under a lock)."""

    files_new: int = 0
    files_changed: int = 0
    files_unmodified: int = 0
    files_failed: int = 0
    dirs_new: int = 0
    dirs_changed: int = 0
    dirs_unmodified: int = 0
    bytes_processed: int = 0
    warnings: list[tuple[str, str]] = field(default_factory=list)  # source problems
    notices: list[tuple[str, str]] = field(default_factory=list)  # repository damage worked around

    @property
    def files_processed(self) -> int:
        """Files in the snapshot."""
        return self.files_new + self.files_changed + self.files_unmodified


def _whole_root(paths: tuple[bytes, ...]) -> bool:
    """One of the targets is "/" itself (a path without components)."""
    return any(not any(part for part in path.split(b"/")) for path in paths)


def whole_root_base(base: bytes) -> tuple[bytes, os.stat_result]:
    """The directory whose listing is the root tree when "/" is a target, and its stat:
    ``--root`` may name a link to it (a mount path, /mnt/old -> /srv/old), which is followed
    here once, as the user named it; below it no link is followed (scan.list_dir opens each
    directory with O_NOFOLLOW, and a link there gave an empty snapshot).

    Raises:
        OSError: it cannot be reached.
    """
    real = os.fsencode(os.path.realpath(base))
    return real, os.lstat(real)


def leading_stat(path: bytes, st: os.stat_result, root: bytes = b"") -> os.stat_result:
    """The stat of a directory that leads to a backup target (``/lib`` of ``/lib/terminfo``):
    a symbolic link there (Debian's ``/lib -> usr/lib``) is recorded as the directory it leads
    to, as restic does; recorded as a link, the target's whole subtree sat under a symlink
    node that no reader follows, and restore, ls, find and restore-test saw nothing.

    With a ``root`` (``backup --root``), a link that leads out of it is not followed: the
    image's ``home -> /home`` or ``up -> ../elsewhere`` saved the running host's files under
    the image's paths, without a word.

    Raises:
        OSError: the link leads nowhere, or out of ``root``.
        NotADirectoryError: it leads to something else than a directory.
    """
    if not stat.S_ISLNK(st.st_mode):
        return st
    inside = os.path.realpath(root).rstrip(b"/")
    if root and not (os.path.realpath(path) + b"/").startswith(inside + b"/"):
        raise OSError(
            errno.EXDEV, "a symbolic link that leads out of the --root directory: not followed"
        )
    followed = os.stat(path)
    if not stat.S_ISDIR(followed.st_mode):
        raise NotADirectoryError(
            errno.ENOTDIR, "a symbolic link to something else than a directory"
        )
    return followed


def hidden_by_links(paths: tuple[bytes, ...], base: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """The paths that another target encloses through a symbolic link, as (path, target,
    link): ``backup D D/sub/file`` with ``D/sub`` (or ``D``) a link stores it as the link, so
    ``D/sub/file`` (another directory's file) would be dropped without a word. Linear in the
    components (a path 10,000 levels deep, many paths from --files-from)."""
    ends: dict[bytes, object] = {}  # a trie of the targets' components; b"" marks a target
    split = {tuple(c for c in p.split(b"/") if c) for p in paths}
    for parts in split:
        node = ends
        for c in parts:
            node = node.setdefault(c, {})  # type: ignore[assignment]
        node[b""] = True
    found = []
    for parts in split:
        node, top = ends, 0
        for k, c in enumerate(parts[:-1], 1):
            node = node[c]  # type: ignore[assignment]
            if b"" in node:
                top = k  # the outermost target that encloses this one
                break
        link = _link_below(base, parts, top) if top else None
        if link is not None:
            found.append((os.path.join(base, *parts), os.path.join(b"/", *parts[:top]), link))
    return found


def _link_below(base: bytes, parts: tuple[bytes, ...], top: int) -> bytes | None:
    """The first of ``parts[:top]``, ``parts[:top + 1]``, ... (not the whole path) that is a
    symbolic link, walked one component at a time from a descriptor (no path is resolved
    twice); None when there is none, or the walk meets something that is not there."""
    flags = os.O_PATH | os.O_DIRECTORY
    try:
        fd = os.open(os.path.join(base, *parts[: top - 1]), flags)
    except OSError:
        return None
    try:
        for depth in range(top, len(parts)):
            name = parts[depth - 1]
            st = os.lstat(name, dir_fd=fd)
            if stat.S_ISLNK(st.st_mode):
                return os.path.join(base, *parts[:depth])
            inner = os.open(name, flags | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
    except OSError:
        return None
    finally:
        os.close(fd)
    return None


def _nested_targets(paths: tuple[bytes, ...]) -> dict[bytes, object]:
    """{component: subtree-or-None} with None marking a backup target; nested targets merge."""
    root: dict[bytes, object] = {}
    for path in sorted(paths, key=len):
        parts = [p for p in path.split(b"/") if p]
        node = root
        for i, part in enumerate(parts):
            child = node.get(part, {})
            if child is None:
                break  # an enclosing directory is already a target
            if i == len(parts) - 1:
                node[part] = None
                break
            node[part] = child
            assert isinstance(child, dict)
            node = child
    return root


class _ArchiveKeys(Protocol):
    @property
    def chunker_seed(self) -> int: ...
    @property
    def id_key(self) -> bytes: ...


class _ArchiveSealer(Protocol):
    @property
    def current(self) -> _ArchiveKeys: ...


class ArchiveRepository(Protocol):
    """What the serial engine asks of the repository it archives into: the settings, the
    chunker seed and id key, the index it deduplicates against, and the parent's trees. A
    full key's ``Repository``, or a put-only host's view of it (repository/putrepo.py), whose
    parent trees come from the host's own state (design.md §6a)."""

    @property
    def config(self) -> ConfigFile: ...
    @property
    def sealer(self) -> _ArchiveSealer: ...
    @property
    def index(self) -> BlobIndex: ...
    def load_tree(self, tid: ObjectId) -> Tree: ...
    def load_blob(self, btype: BlobType, bid: ObjectId) -> bytes: ...


class Archiver:
    """Walks the sources and produces the snapshot's root tree."""

    def __init__(
        self,
        repo: ArchiveRepository,
        writer: BlobWriter,
        options: ArchiveOptions,
        *,
        parent_tree: ObjectId | None = None,
        progress: Progress | None = None,
    ) -> None:
        self._repo = repo
        self._writer = writer
        self._opts = options
        self._parent_tree = parent_tree
        self._progress = progress or NullProgress()
        self._matcher = ExcludeMatcher(options.excludes, named=options.paths)
        self._generated = generated_devices()  # /proc, /sys: no size to check reads against
        self.stats = ArchiveStats()
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._fifo: deque[PendingDir] = deque()
        self._hardlinks: dict[tuple[int, int], Future[Node | None] | Node | None] = {}
        self._slots = threading.BoundedSemaphore(max(1, options.readers) * 8)
        self._unchanged = [0, 0]  # files and bytes the walk found unchanged, not yet counted
        self._unreadable_trees: dict[ObjectId, str] = {}  # parent trees that did not read: why
        cfg = repo.config
        self._params = ChunkerParams(
            min_size=cfg.chunker_min,
            avg_size=cfg.chunker_avg,
            max_size=cfg.chunker_max,
            seed=repo.sealer.current.chunker_seed,
        )

    # Entry point -------------------------------------------------------------------------------

    def run(self) -> ObjectId:
        """Archive everything; returns the root tree id.

        Raises:
            BackendError, IntegrityError: storing failed; nothing was committed.
            KeyboardInterrupt: passed through after the workers are stopped.
        """
        rpool, bpool = self._open_pools()
        try:
            base = self._opts.root or b"/"
            if self._opts.stdin is None and _whole_root(self._opts.paths):
                # "/" itself is a target: the root tree is the listing of the base directory
                base, st = whole_root_base(base)
                parent = Node(name=b"", type=NodeType.DIR, subtree=self._parent_tree)
                root = self._walk_dir(base, self._meta(base, b"", st), st, parent, st.st_dev)
            else:
                root = PendingDir(Node(name=b"", type=NodeType.DIR, mode=0o755), self._parent_tree)
                if self._opts.stdin is not None:
                    self._add_stdin(root, self._opts.stdin)
                else:
                    parent_nodes = self._tree_nodes(self._parent_tree, b"/")
                    self._say_hidden(base)
                    self._add_targets(root, base, _nested_targets(self._opts.paths), parent_nodes)
                self._queue(root)
            self._writer.batch_done()
            self._drain(block=True)
            assert root.node.subtree is not None
            return root.node.subtree
        except BaseException:
            self._cancel.set()
            raise
        finally:
            rpool.shutdown(wait=True, cancel_futures=True)
            bpool.shutdown(wait=True, cancel_futures=True)

    def _open_pools(self) -> tuple[ThreadPoolExecutor, ThreadPoolExecutor]:
        """The reader and blob thread pools, and the file reader that uses them; the caller
        shuts both pools down."""
        rpool = ThreadPoolExecutor(max(1, self._opts.readers), thread_name_prefix="s3v-read")
        bpool = ThreadPoolExecutor(max(1, self._opts.blob_workers), thread_name_prefix="s3v-blob")
        self._rpool = rpool
        self._reader = FileReader(
            writer=self._writer,
            id_key=self._repo.sealer.current.id_key,
            params=self._params,
            blob_pool=bpool,
            window=max(1, self._opts.read_ahead),
            on_bytes=lambda n: self._progress.advanced(bytes_=n),
            cancelled=self._cancel,
        )
        return rpool, bpool

    # Walk ----------------------------------------------------------------------------------

    def _meta(
        self,
        path: bytes | int,
        name: bytes,
        st: os.stat_result,
        *,
        content: tuple[ObjectId, ...] = (),
        content_hash: ObjectId | None = None,
        size: int | None = None,
    ) -> Node:
        """``metadata_node`` with this run's options (the access time or not)."""
        return metadata_node(
            path,
            name,
            st,
            content=content,
            content_hash=content_hash,
            size=size,
            with_atime=self._opts.with_atime,
        )

    def _tagged(self, io: bytes, shown: bytes) -> frozenset[bytes] | None:
        """Whether the directory ``io`` reaches is tagged (None; else the names of its entries
        that stay). A tag file that does not qualify is shown as a warning, not counted: the
        directory is backed up whole, nothing was skipped."""
        keep, problems = self._matcher.tagged(io)
        for problem in problems:
            self._progress.warned(os.fsdecode(shown), problem)
        return keep

    def _below(self, real: bytes, st: os.stat_result, root_dev: int) -> Below | None:
        """How the walk goes on inside the directory at ``real`` (below the root), the walk
        above it staying on ``root_dev`` (ExcludeMatcher.below: ``--one-file-system``)."""
        return self._matcher.below(real[len(self._opts.root) :], st.st_dev, root_dev)

    def subdir_place(
        self, up: bytes, up_dev: int, name: bytes, st: os.stat_result
    ) -> tuple[bytes, int]:
        """The path of the subdirectory ``name`` of ``up`` (whose walk stays on ``up_dev``),
        and the device its own walk stays on (a directory named as a target: its own)."""
        path = up + b"/" + name if up != b"/" else b"/" + name
        below = self._below(path, st, up_dev)
        return path, up_dev if below is None else below.device

    def _skipped(
        self, real: bytes, name: bytes, st: os.stat_result, tagged: frozenset[bytes] | None
    ) -> bool:
        """The walk leaves out this entry of a directory (``real``: its path, below the
        root): the directory is tagged and it is not a tag file, or an exclude matches the
        path as recorded. One rule for the serial walk and the worker processes. A path the
        user named is never left out, also below another named directory (``d d/sub
        --exclude sub`` dropped d/sub without a word: docs/usage.md promises otherwise)."""
        return self._matcher.skipped(real[len(self._opts.root) :], name, st, tagged)

    def _say_hidden(self, base: bytes) -> None:
        """A failure line for each path another target holds only through a link."""
        for path, top, link in hidden_by_links(self._opts.paths, base):
            self._warn(
                path,
                f"not backed up: it is below the backup target {os.fsdecode(top)} through "
                f"the symbolic link {os.fsdecode(link)}, which is stored as a link; name the "
                "directory the link leads to instead",
                failed=True,
            )

    def _warn(self, path: bytes, message: str, *, failed: bool = False) -> None:
        shown = os.fsdecode(path)
        with self._lock:
            self.stats.warnings.append((shown, message))
            if failed:
                self.stats.files_failed += 1
        self._progress.warned(shown, message)

    def _tree_nodes(self, tid: ObjectId | None, path: bytes) -> dict[bytes, Node]:
        """The parent snapshot's entries of a directory. A parent tree that cannot be read is
        no reason to fail: the directory is backed up as if it had no parent (its files are
        read again), the blob is never deduplicated against, and the run says so."""
        if tid is None:
            return {}
        if tid in self._unreadable_trees:
            self._say_unreadable(path, self._unreadable_trees[tid])
            return {}
        try:
            return {n.name: n for n in self._repo.load_tree(tid).nodes}
        except (IntegrityError, ObjectNotFoundError) as exc:
            self._parent_unreadable(tid, path, exc)
            return {}

    def _parent_listing(self, tid: ObjectId | None, path: bytes) -> ParentListing | None:
        """The parent snapshot's tree of a directory as its JSON objects (archiver/reuse.py);
        an unreadable one as in ``_tree_nodes``: the directory is backed up as if it had no
        parent, and the run says so."""
        if tid is None:
            return None
        if tid in self._unreadable_trees:
            self._say_unreadable(path, self._unreadable_trees[tid])
            return None
        try:
            return ParentListing.parse(self._repo.load_blob(BlobType.TREE, tid))
        except (IntegrityError, ObjectNotFoundError) as exc:  # a newer version: no fallback
            self._parent_unreadable(tid, path, exc)
            return None

    def _parent_unreadable(self, tid: ObjectId, path: bytes, exc: Exception) -> None:
        """A parent tree that does not read: never deduplicated against again (dropped from
        the index), and every directory that had it says why with its first read's cause (a
        second read fails as "not in the index": an attack pass saw a worker that took slices
        of two big directories in turn say so, which points at the index, not the pack)."""
        self._repo.index.drop_blob(BlobType.TREE, tid)
        self._unreadable_trees[tid] = str(exc)
        self._say_unreadable(path, str(exc))

    def _say_unreadable(self, path: bytes, why: str) -> None:
        shown = os.fsdecode(path)
        message = f"the parent snapshot's tree is unreadable ({why}); files below are read again"
        with self._lock:
            if (shown, message) in self.stats.notices:  # a big directory's next slice
                return
            self.stats.notices.append((shown, message))
        self._progress.warned(shown, message)

    def _add_targets(
        self,
        top: PendingDir,
        base: bytes,
        targets: dict[bytes, object],
        parent_nodes: dict[bytes, Node],
    ) -> None:
        """The backup targets and the directories that lead to them (an explicit stack: a
        target path may have thousands of components)."""
        stack = [(top, base, iter(sorted(targets.items())), parent_nodes)]
        while stack:
            pdir, prefix, items, pnodes = stack[-1]
            item = next(items, None)
            if item is None:
                stack.pop()
                if stack:
                    self._queue(pdir)  # the top one is queued by run()
                continue
            name, sub = item
            path = os.path.join(prefix, name)
            try:
                st = os.lstat(path)
            except OSError as exc:
                self._warn(path, read_problem(exc, "cannot read"), failed=True)
                continue
            pnode = pnodes.get(name)
            if sub is None:
                entry = self._entry(path, name, st, pnode, st.st_dev)
                if entry is not None:
                    pdir.add(entry)
                continue
            assert isinstance(sub, dict)
            psub = pnode.subtree if pnode is not None and pnode.type is NodeType.DIR else None
            try:
                st = leading_stat(path, st, self._opts.root)
                meta = self._meta(path, name, st)
            except OSError as exc:
                self._warn(path, read_problem(exc, "cannot read metadata"), failed=True)
                continue
            vdir = PendingDir(meta, psub)
            pdir.add(vdir)
            stack.append((vdir, path, iter(sorted(sub.items())), self._tree_nodes(psub, path)))

    def _entry(
        self,
        path: bytes,
        name: bytes,
        st: os.stat_result,
        pnode: Node | None,
        root_dev: int,
        *,
        shown: bytes | None = None,
        open_now: bool = False,
    ) -> _Entry | None:
        """The entry for one directory item. ``path`` reaches it now; ``shown`` is its real
        path when ``path`` is a /proc/self/fd one that is valid only now (``open_now``: its
        file is opened here, not on a reader thread)."""
        if node_type(st) is NodeType.DIR:
            try:
                meta = self._meta(path, name, st)
            except OSError as exc:
                self._warn(shown or path, read_problem(exc, "cannot read metadata"), failed=True)
                return None
            return self._walk_dir(path, meta, st, pnode, root_dev)
        return self._leaf(path, name, st, pnode, shown=shown, open_now=open_now)

    def _leaf(
        self,
        path: bytes,
        name: bytes,
        st: os.stat_result,
        pnode: Node | None,
        *,
        shown: bytes | None = None,
        open_now: bool = False,
    ) -> _Entry | None:
        """The entry for anything but a directory (the walk's frames handle those)."""
        ntype = node_type(st)
        try:
            if ntype is not NodeType.FILE:
                self._progress.advanced(files=1, item=os.fsdecode(shown or path))
                return self._meta(path, name, st)
            if unchanged(st, pnode, self._repo.index, self._opts.changes):
                assert pnode is not None
                with self._lock:
                    self.stats.files_unmodified += 1
                    self.stats.bytes_processed += st.st_size
                self._progress.file_done(os.fsdecode(shown or path), "unchanged")
                self._progress.advanced(files=1, bytes_=st.st_size)
                return self._meta(
                    path, name, st, content=pnode.content, content_hash=pnode.content_hash
                )
        except OSError as exc:
            self._warn(shown or path, read_problem(exc, "cannot read metadata"), failed=True)
            return None
        return self._submit_file(path, name, st, pnode, shown=shown, open_now=open_now)

    def _submit_file(
        self,
        path: bytes,
        name: bytes,
        st: os.stat_result,
        pnode: Node | None,
        *,
        shown: bytes | None = None,
        open_now: bool = False,
    ) -> _Entry | None:
        key = (st.st_dev, st.st_ino)
        first = self._hardlinks.get(key) if st.st_nlink > 1 else None
        if isinstance(first, Node) and not self._same_version(first, st):
            first = None  # changed since that name was read, or a new file on a reused inode
        if first is not None:
            try:
                meta = self._meta(path, name, st)  # here: ``path`` may be valid only now
            except OSError as exc:
                self._warn(shown or path, read_problem(exc, "cannot read metadata"), failed=True)
                return None
            link = FileSource(path=shown or path, opener=path)
            if isinstance(first, Node):  # read, and still that version: nothing to read here
                return self._link_node(first, meta, name, st, pnode, link)
            if open_now:  # in case this name must be read: ``path`` is valid only now
                with contextlib.suppress(OSError):
                    link.fd = self._reader.open(path)
            return self._pooled(self._link_node, first, meta, name, st, pnode, link)
        source = FileSource(path=shown or path)
        if open_now:
            try:
                source.fd = self._reader.open(path)
            except OSError as exc:
                raise_if_out_of_descriptors(exc)
                self._warn(source.path, self._open_problem(exc), failed=True)
                return None
        else:
            source.opener = path
        if st.st_size < INLINE_FILES_BELOW:
            # Handing a small file to another thread costs more (GIL and queue hand-offs)
            # than reading it here; large files go to the pool, which keeps the cores busy.
            node = self._read_file(source, name, st, pnode, batched=True)
            if st.st_nlink > 1:
                self._hardlinks[key] = node
            return node
        fut = self._pooled(self._read_file, source, name, st, pnode)
        if st.st_nlink > 1:
            self._hardlinks[key] = fut
        return fut

    def _pooled(self, fn: Callable[..., Node | None], *args: object) -> Future[Node | None]:
        self._slots.acquire()
        try:
            fut = self._rpool.submit(fn, *args)
        except BaseException:
            self._slots.release()
            raise
        fut.add_done_callback(lambda _f: self._slots.release())
        return fut

    def _same_version(self, read: Node, st: os.stat_result) -> bool:
        """Whether a name's stat shows the version of its inode that another name's node was
        read from: a write since (even one that put the mtime back) changes the ctime, and so
        does a new file that the file system gave a freed inode's number. Size and mtime only
        with --ignore-ctime (a file system whose ctimes move by themselves). A node read from
        another inode (a file renamed over the one scanned, ``_read_file``) is no version of
        this one."""
        if (read.size, read.mtime_ns) != (st.st_size, st.st_mtime_ns):
            return False
        if read.inode and read.inode != st.st_ino:
            return False
        return self._opts.changes.ignore_ctime or read.ctime_ns == st.st_ctime_ns

    def _link_node(
        self,
        first: Future[Node | None] | Node,
        meta: Node,
        name: bytes,
        st: os.stat_result,
        pnode: Node | None,
        source: FileSource,
    ) -> Node | None:
        """Another name of an inode already read in this run: reuse its content if the inode
        still is the version read (same size, mtime and ctime); else, or if that read failed
        (the other name vanished before it was opened), read this name itself."""
        done = first.result() if isinstance(first, Future) else first
        if done is None or not self._same_version(done, st):
            node = self._read_file(source, name, st, pnode)
            if node is not None:  # the further names compare with this newer read
                self._hardlinks[(st.st_dev, st.st_ino)] = node
            return node
        if source.fd is not None:
            os.close(source.fd)
        self._count_file(pnode, done.size, os.fsdecode(source.path))
        return replace(meta, content=done.content, content_hash=done.content_hash, size=done.size)

    def _count_file(self, pnode: Node | None, size: int, shown: str) -> None:
        with self._lock:
            if pnode is None:
                self.stats.files_new += 1
            else:
                self.stats.files_changed += 1
            self.stats.bytes_processed += size
        self._progress.file_done(shown, "new" if pnode is None else "modified")
        self._progress.advanced(files=1)

    @staticmethod
    def _open_problem(exc: OSError) -> str:
        if isinstance(exc, FileNotFoundError):
            return "vanished before it could be read"
        return f"cannot open: {exc.strerror}"

    def _read_file(
        self,
        source: FileSource,
        name: bytes,
        st: os.stat_result,
        pnode: Node | None,
        *,
        batched: bool = False,
    ) -> Node | None:
        """Read one file into blobs. ``batched``: only from the walker thread, whose small
        blobs the writer compresses in batches."""
        fd = source.fd
        if self._cancel.is_set():
            if fd is not None:
                os.close(fd)
            return None
        if fd is None:
            try:
                fd = self._reader.open(source.opener)
            except OSError as exc:
                raise_if_out_of_descriptors(exc)
                self._warn(source.path, self._open_problem(exc), failed=True)
                return None
        shown = os.fsdecode(source.path)
        self._progress.file_started(shown)
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                self._warn(source.path, "replaced while the backup was running", failed=True)
                return None
            # The metadata of what is read, from the open: another file renamed over it since
            # the scan (an editor's save, a package manager) was left out of every snapshot,
            # run after run, for a file replaced often enough; and one renamed over twice can
            # have the scanned inode's number again (ext4 gives it back), which saved one
            # version's content with another's mode and mtime (attack passes, 2026-12-07)
            st = before
            sparse = before.st_blocks * 512 < before.st_size  # holes, or compressed
            result = self._reader.read_stream(
                FdReader(fd, sparse=sparse), st.st_size, batched=batched
            )
            after = os.fstat(fd)
            generated = is_generated(fd, before.st_dev, self._generated)
            node = self._meta(
                fd,  # extended attributes of what was read, whatever its path has become
                name,
                st,
                content=result.content,
                content_hash=result.content_hash,
                size=result.size,
            )
        except OSError as exc:
            self._warn(source.path, f"read error: {exc.strerror or exc}", failed=True)
            return None
        finally:
            os.close(fd)
        if self._cancel.is_set():
            return None
        if not generated and (
            result.size != st.st_size
            or after.st_mtime_ns != st.st_mtime_ns
            or after.st_size != result.size
            # a write during the read that put the mtime back (rsync --inplace, touch -r) still
            # moves the ctime; compared from the open, not from the scan, so that a chmod or a
            # new link between the two is not taken for a change of content; nor is the loss
            # of its last name (another file renamed over it: what was read is whole)
            or (
                after.st_ctime_ns != before.st_ctime_ns
                and after.st_nlink > 0
                and not self._opts.changes.ignore_ctime
            )
        ):
            self._warn(source.path, "changed while being read; the snapshot holds the version read")
        self._count_file(pnode, result.size, shown)
        return node

    def _walk_dir(
        self, path: bytes, meta: Node, st: os.stat_result, pnode: Node | None, root_dev: int
    ) -> PendingDir:
        """Walk a directory and everything below it, depth first in name order, with an
        explicit stack of frames (archiver/walk.py): no recursion, whatever the depth."""
        paths = PathBuffer(path)
        psub = pnode.subtree if pnode is not None and pnode.type is NodeType.DIR else None
        top = self._enter(paths, None, path, len(path), meta, st, psub, root_dev)
        stack = [top]
        while stack:
            frame = stack[-1]
            item = next(frame.entries, None)
            if item is None:
                stack.pop()
                self._leave(paths, frame, stack[-1] if stack else None)
                continue
            child = self._visit(paths, frame, item[0], item[1], frame.root_dev)
            if child is not None:
                stack.append(child)
        return top.pdir

    def _enter(
        self,
        paths: PathBuffer,
        parent: DirFrame | None,
        io: bytes,
        plen: int,
        meta: Node,
        st: os.stat_result,
        psub: ObjectId | None,
        root_dev: int,
    ) -> DirFrame:
        """Open a directory for the walk: list it, and find its parent snapshot's entries
        (``psub``: the parent snapshot's tree of it)."""
        frame = DirFrame(
            pdir=PendingDir(meta, psub),
            entries=iter(()),
            parent=None,
            plen=plen,
            io=io,
            ident=(st.st_dev, st.st_ino),
        )
        below = self._below(paths.path(plen), st, root_dev)
        if below is None:
            return frame  # a mount point: keep the directory, not what is mounted there
        frame.root_dev = below.device
        try:
            if is_deep(plen):  # beyond what an absolute path may reach
                frame.fd = open_dir(io, frame.ident)
                frame.io = walk.fd_path(frame.fd)
                if parent is not None and parent.fd is not None:
                    walk.close(parent.fd)  # only the innermost deep directory stays open
                    parent.fd = None
            # on the way to a named path only: its other entries are left out
            tagged = frozenset() if below.way_only else self._tagged(frame.io, paths.path(plen))
            frame.tagged = tagged
            entries = list_dir(frame.io, None if frame.fd is not None else frame.ident)
        except OSError as exc:
            raise_if_out_of_descriptors(exc)
            self._warn(
                paths.path(plen), f"cannot list directory: {exc.strerror or exc}", failed=True
            )
            entries = []
        frame.parent = self._parent_listing(psub, paths.path(plen) if psub else b"")
        if frame.parent is not None:
            frame.pdir.parent_count = frame.parent.count
            if frame.fd is None and frame.tagged is None and self._matcher.empty:
                entries = self._keep_unchanged(frame.pdir, frame.parent, frame.io, entries)
        frame.entries = iter(entries)
        return frame

    def _keep_unchanged(
        self, pdir: PendingDir, parent: ParentListing, io: bytes, entries: Listing
    ) -> Listing:
        """The common case of an unchanged run in one pass over the directory ``io`` (no
        excludes, no tags): its regular files whose parent nodes stay as they are join
        ``pdir`` at once; the rest of the entries (returned, in order) are visited one by
        one."""
        kept, rest = keep_unchanged(
            entries,
            parent,
            index=self._repo.index,
            rules=self._opts.changes,
            with_atime=self._opts.with_atime,
        )
        add, done = pdir.add, self._progress.file_done
        base = io if io.endswith(b"/") else io + b"/"
        size = 0
        for name, st, obj in kept:
            add(Encoded(name, obj, True))
            size += st.st_size
            done(os.fsdecode(base + name), "unchanged")
        self._unchanged[0] += len(kept)  # counted by _count_unchanged
        self._unchanged[1] += size
        return rest

    def _count_unchanged(self) -> None:
        """Count the unchanged files the walk found since the last call (one progress event
        per directory, not per file)."""
        files, size = self._unchanged
        if files:
            self._unchanged = [0, 0]
            with self._lock:
                self.stats.files_unmodified += files
                self.stats.bytes_processed += size
            self._progress.advanced(files=files, bytes_=size)

    def _leave(self, paths: PathBuffer, frame: DirFrame, parent: DirFrame | None) -> None:
        """A directory is done: queue its tree; reopen a deep parent through ".."."""
        self._count_unchanged()
        self._queue(frame.pdir)
        if frame.fd is None:
            return
        if parent is not None and parent.fd is None and is_deep(parent.plen):
            try:
                parent.fd = open_dir(frame.io + b"/..", parent.ident)
                parent.io = walk.fd_path(parent.fd)
            except OSError as exc:
                raise_if_out_of_descriptors(exc)
                self._warn(
                    paths.path(parent.plen),
                    f"moved while being backed up ({exc.strerror or exc}); the rest of it is "
                    "not in this snapshot",
                    failed=True,
                )
                parent.entries = iter(())
        walk.close(frame.fd)
        frame.fd = None

    def _visit(
        self,
        paths: PathBuffer,
        frame: DirFrame,
        name: bytes,
        cst: os.stat_result | OSError,
        root_dev: int,
    ) -> DirFrame | None:
        """One entry of the directory on top of the stack; a subdirectory comes back as the
        frame to walk next."""
        deep = frame.fd is not None
        io = frame.child_io(name)
        real = paths.path(frame.plen, name) if deep else io
        if isinstance(cst, OSError):
            self._warn(real, read_problem(cst, "cannot read"), failed=True)
            return None
        if self._skipped(real, name, cst, frame.tagged):
            return None
        pobj = frame.parent.get(name) if frame.parent is not None else None
        if not stat.S_ISDIR(cst.st_mode):
            self._visit_leaf(frame.pdir, pobj, io, name, cst, real if deep else None)
            return None
        try:
            meta = self._meta(io, name, cst)
        except OSError as exc:
            self._warn(real, read_problem(exc, "cannot read metadata"), failed=True)
            return None
        psub = None
        if pobj is not None and pobj.get("type") == NodeType.DIR.value:
            psub = subtree_of(pobj)
        plen = paths.enter(frame.plen, name)
        child = self._enter(paths, frame, io, plen, meta, cst, psub, root_dev)
        child.pdir.meta_same = psub is not None and same_dir_node(meta, pobj)
        frame.pdir.add(child.pdir)
        return child

    def _visit_leaf(
        self,
        pdir: PendingDir,
        pobj: JsonNode | None,
        io: bytes,
        name: bytes,
        st: os.stat_result,
        shown: bytes | None,
    ) -> None:
        """An entry that is not a directory, added to ``pdir``: an unchanged file is compared
        with its parent's node ``pobj`` as the tree records it (archiver/reuse.py); anything
        else takes ``_leaf``. ``shown``: see ``_entry`` (its file is opened here)."""
        if pobj is not None and stat.S_ISREG(st.st_mode):
            try:
                obj = unchanged_object(
                    pobj,
                    name,
                    st,
                    index=self._repo.index,
                    rules=self._opts.changes,
                    xattrs=lambda: read_xattrs(io),
                    with_atime=self._opts.with_atime,
                )
            except OSError as exc:
                self._warn(shown or io, read_problem(exc, "cannot read metadata"), failed=True)
                return
            if obj is not None:
                pdir.add(Encoded(name, obj, obj is pobj or obj == pobj))
                self._unchanged[0] += 1  # counted by _count_unchanged
                self._unchanged[1] += st.st_size
                self._progress.file_done(os.fsdecode(shown or io), "unchanged")
                return
        pnode = None
        if pobj is not None:
            try:
                pnode = node_from_json(pobj)
            except IntegrityError:  # a node that does not decode: the file is new
                pnode = None
        entry = self._leaf(io, name, st, pnode, shown=shown, open_now=shown is not None)
        if isinstance(entry, Node) and pobj is not None:
            obj = node_to_json(entry)  # compared, so that its directory may keep its tree
            pdir.add(Encoded(name, obj, obj == pobj))
        elif entry is not None:
            pdir.add(entry)

    def _add_stdin(self, root: PendingDir, stream: ByteStream) -> None:
        """Standard input as one file; a name with "/" (dumps/db.sql) is stored below the
        directories it names."""
        *dirs, name = self._opts.stdin_filename.split(b"/")
        when = self._opts.stdin_mtime_ns
        chain = [root]
        for part in dirs:
            sub = PendingDir(
                Node(name=part, type=NodeType.DIR, mode=0o755, mtime_ns=when, ctime_ns=when),
                None,
            )
            chain[-1].add(sub)
            chain.append(sub)
        result = self._reader.read_stream(stream, 1 << 62)
        if not result.size:  # `pg_dump | s3vault backup --stdin` where pg_dump failed
            msg = (
                "read nothing from standard input (did the command before the pipe fail?): "
                "no snapshot was written, as restic refuses an empty --stdin"
            )
            raise S3VaultError(msg)
        with self._lock:
            self.stats.files_new += 1
            self.stats.bytes_processed += result.size
        chain[-1].add(
            Node(
                name=name,
                type=NodeType.FILE,
                mode=0o600,
                mtime_ns=when,
                ctime_ns=when,
                size=result.size,
                content=result.content,
                content_hash=result.content_hash,
            )
        )
        for sub in reversed(chain[1:]):
            self._queue(sub)

    # Trees ----------------------------------------------------------------------------------

    def _queue(self, pdir: PendingDir) -> None:
        self._fifo.append(pdir)
        self._drain(block=False)

    def _drain(self, *, block: bool) -> None:
        fifo = self._fifo
        while fifo:
            head = fifo[0]
            if not head.ready():
                if not block and len(fifo) < MAX_PENDING_DIRS:
                    return
                head.done.wait()
            _node, same = head.finalise(self._writer)
            fifo.popleft()
            with self._lock:
                if same:
                    self.stats.dirs_unmodified += 1
                elif head.parent_subtree is not None:
                    self.stats.dirs_changed += 1
                else:
                    self.stats.dirs_new += 1
