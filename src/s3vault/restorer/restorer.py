"""Restorer: execute a RestorePlan — directories, files, parallel pack fetches, links, metadata.

Idempotent: a file already present with the snapshot's size and mtime whose content hash matches
is left alone, so re-running an interrupted restore only fetches what is missing.
Damage is contained: a blob that fails authentication, or a pack that is missing, is read from
another stored copy of the blob if one reads (repository/copies.py: said in ``notices``); else
it fails only the files that need it; they are named in the result (errors) and every other
file is restored. So is local trouble: an entry the target refuses (a directory in the way,
a file too large) fails alone, a directory that cannot be created takes only its contents
with it (warnings); only a target that can take nothing more (full, read-only) stops the
restore.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from s3vault.crypto.hashing import ContentHasher
from s3vault.errors import (
    STORE_REFUSALS,
    BackendError,
    IntegrityError,
    RestoreError,
    raise_if_out_of_descriptors,
)
from s3vault.format.packfile import BlobType
from s3vault.format.tree import Node, NodeType, shown_name
from s3vault.ids import ObjectId
from s3vault.progress import NullProgress, Progress
from s3vault.repository.copies import load_other_copy
from s3vault.repository.index import BlobLocation
from s3vault.repository.repository import Repository
from s3vault.restorer.fetch import PackRange, coalesce, max_range, open_range, read_range
from s3vault.restorer.locator import Entry, Locator
from s3vault.restorer.plan import FileTask, RestorePlan
from s3vault.restorer.sinks import READ_FLAGS, EntryError, FilesystemSink


@dataclass(slots=True)
class RestoreOutcome:
    """What a restore did. ``errors``: entries not restored because repository data is missing
    or damaged; ``warnings``: entries refused or not fully restored (the target refused them,
    an attribute could not be applied); ``skipped``: entries this restore does not create by
    design (device nodes when not root); ``notices``: a blob's bad copy that another copy of it
    replaced (the restore is whole); ``refused``: the warnings the target gave (every warning
    but the snapshot's own entries that cannot be restored as described). Each is (path,
    reason)."""

    files_restored: int = 0
    files_skipped: int = 0
    dirs: int = 0
    others: int = 0
    bytes_written: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notices: list[tuple[str, str]] = field(default_factory=list)  # bad copies another replaced
    refused: list[tuple[str, str]] = field(default_factory=list)  # by the target (host limits)


def prepare_target(target: bytes) -> bool:
    """Create the target directory if needed, as restic does: 0700, so that no other user
    reaches into what is being restored (a setuid file, a device node, a directory to swap
    for a symlink while root writes into it); whether it is empty (nothing can be in place).

    Raises:
        RestoreError: the target is not a directory, cannot be created or cannot be written.
    """
    shown = os.fsdecode(target)
    try:
        os.makedirs(target, mode=0o700, exist_ok=True)
    except FileExistsError:
        msg = f"the restore target {shown} exists and is not a directory: name a directory"
        if os.path.islink(target):  # it was called a non-directory (an attack pass)
            try:
                os.stat(target)
            except OSError as exc:
                way = "loops" if exc.errno == errno.ELOOP else "leads nowhere"
                msg = f"the restore target {shown} is a symbolic link that {way}: name a directory"
        raise RestoreError(msg) from None
    except OSError as exc:
        msg = f"cannot create the restore target {shown}: {exc.strerror or exc}"
        raise RestoreError(msg) from None
    try:
        if not os.path.isdir(target):
            msg = f"the restore target {shown} is not a directory: name a directory"
            raise RestoreError(msg)
        if not os.access(
            target, os.W_OK | os.X_OK, effective_ids=os.access in os.supports_effective_ids
        ):
            why = "read-only file system" if _read_only(target) else "permission denied"
            msg = f"cannot write into the restore target {shown}: {why}"
            raise RestoreError(msg)
        with os.scandir(target) as entries:
            return next(entries, None) is None
    except OSError as exc:
        msg = f"cannot use the restore target {shown}: {exc.strerror or exc}"
        raise RestoreError(msg) from None


def _read_only(path: bytes) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


OVERWRITE = ("always", "if-changed", "if-newer", "never")  # restic 0.17's --overwrite


def _lstat_at(locator: Locator, entry: Entry) -> os.stat_result | None:
    """What is at an entry's place in the target (not followed), or None."""
    try:
        with locator.at(entry) as (dir_fd, name):
            return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except (OSError, EntryError) as exc:
        if isinstance(exc, OSError):
            raise_if_out_of_descriptors(exc)
        return None


def _already_correct(
    locator: Locator, task: FileTask, id_key: bytes, keeps: Callable[[os.stat_result], bool]
) -> bool:
    """Whether the file at the task's place holds the snapshot's content, has its size and
    time, and may be kept (``keeps``, of the file read: whose owner it is)."""
    node = task.node
    if node.content_hash is None:
        return False
    hasher = ContentHasher(id_key)
    try:
        with locator.at(task.entry) as (dir_fd, name):
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or st.st_size != node.size or st.st_nlink > 1:
                return False  # a second link may lead outside the target: written anew
            if st.st_mtime_ns != node.mtime_ns:
                return False
            fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
        with open(fd, "rb", buffering=0) as f:
            if not keeps(os.fstat(fd)):  # the file read is the one judged
                return False
            while block := f.read(4 << 20):
                hasher.update(block)
    except OSError as exc:
        raise_if_out_of_descriptors(exc)
        return False
    return hasher.digest() == node.content_hash


# Threads that authenticate, decompress and write. Each step releases the interpreter lock
# but the Python between them holds it: a second decoder only adds contention (measured on
# 2 cores, docs/performance.md: 1 decoder 3.10 s, 2 decoders 3.28 s for the same restore).
DECODERS = 1


class Restorer:
    """Runs one restore plan into a target directory.

    Two pools: ``workers`` threads read pack ranges (requests in flight: on S3 it is latency
    that needs hiding), DECODERS threads open blobs and write them. A semaphore bounds the
    ranges held in memory — read, waiting or being written — to workers + DECODERS.
    """

    def __init__(
        self,
        repo: Repository,
        plan: RestorePlan,
        *,
        owners: bool | None = None,
        workers: int = 4,
        progress: Progress | None = None,
        reuse: bool = True,
        overwrite: str = "always",
    ) -> None:
        """``reuse``: a file the target already holds as the snapshot has it is left in place
        (not read from the repository); a drill, which must read everything, says False.
        ``overwrite`` (restic 0.17's, OVERWRITE): which files already in the target are left
        as they are."""
        self._repo = repo
        self._plan = plan
        self._reuse = reuse
        self._overwrite = overwrite
        self._left_unlike: set[Entry] = set()  # files left as they were, unlike the snapshot
        self._owners = owners
        self._workers = workers
        self._progress = progress or NullProgress()
        self._lock = threading.Lock()
        self.outcome = RestoreOutcome()
        self._skip: set[int] = set()
        self._failed_dirs: set[int] = set()
        self._aborted: BaseException | None = None
        self._loc = Locator(b"/", ())  # both replaced by run(), which knows the target
        self._sink = FilesystemSink(self._loc, owners=owners)

    def run(self, target: bytes) -> RestoreOutcome:
        """Restore everything in the plan under ``target``.

        Raises:
            RestoreError: the target cannot be used, or cannot take more (disk full, read-only):
                aborts. A single entry that cannot be written is a warning instead.
        """
        plan, out = self._plan, self.outcome
        fresh = prepare_target(target)  # nothing can be in place already in a new or empty one
        self._loc = Locator(target, plan.dir_entries)
        self._sink = FilesystemSink(self._loc, owners=self._owners)
        out.errors.extend(plan.errors)
        out.warnings.extend(plan.refused)
        for shown, message in plan.notices:
            self._notice(None, message, shown)
        try:
            self._make_dirs()
            self._progress.started(
                "restore", total_files=len(plan.files), total_bytes=plan.total_bytes
            )
            self._start_files(fresh)
            try:
                self._fetch_all()
            finally:
                self._sink.close_all()
            self._finish()
        finally:
            self._loc.close()
        self._progress.finished("restore")
        return out

    def _make_dirs(self) -> None:
        """Create every directory, parents first; one that fails takes its contents with it."""
        for number, (entry, _node) in enumerate(self._plan.dirs):
            if entry.parent in self._failed_dirs:
                self._failed_dirs.add(number)
                continue
            try:
                self._sink.make_dir(entry)
            except EntryError as exc:
                self._failed_dirs.add(number)
                self._warn(entry, f"{exc} (nothing in it is restored)")
                continue
            self.outcome.dirs += 1

    def _start_files(self, fresh: bool) -> None:
        """Leave out files already in place, and create the files that have no content."""
        id_key = self._repo.sealer.current.id_key
        for number, task in enumerate(self._plan.files):
            if task.entry.parent in self._failed_dirs:
                task.failed = "-"  # its directory is reported
                continue
            kept = None if fresh or not self._reuse else self._left_as_it_is(task, id_key)
            if kept is not None:
                self._skip.add(number)
                self.outcome.files_skipped += 1
                self._progress.advanced(files=1, bytes_=task.node.size)
                if not kept:  # not the snapshot's: its other names are not linked to it
                    self._left_unlike.add(task.entry)
                if kept:  # the snapshot's content, or size and mtime (if-changed)
                    # its content is in place, its mode, owner or attributes may not be (the
                    # restore that undoes a `chmod -R`): set as for a file written
                    warning = self._sink.set_metadata(task.entry, task.node)
                    if warning:
                        self._warn(task.entry, warning)
                continue
            if task.missing == 0:
                try:
                    self._sink.create_file(task.entry, task.node.size)
                except EntryError as exc:
                    task.failed = str(exc)
                    continue
                self._file_done(task)

    def _file_done(self, task: FileTask) -> None:
        """Content complete: metadata now (on a decode thread, beside other files' reads)."""
        self._file_complete(task, self._sink.set_metadata(task.entry, task.node))

    def _file_complete(self, task: FileTask, warning: str) -> None:
        """Content and metadata are in place (``warning``: what metadata was not applied)."""
        with self._lock:
            self.outcome.files_restored += 1
            if warning:
                self._warn(task.entry, warning)
        self._progress.advanced(files=1)

    def _fail(self, numbers: set[int], message: str, *, damaged: bool) -> None:
        with self._lock:
            for number in numbers:
                task = self._plan.files[number]
                if not task.failed:
                    task.failed, task.damaged = message, damaged

    def _ranges(self) -> list[PackRange]:
        limit = max_range(self._repo.config.pack_size, remote=self._repo.remote)
        ranges: list[PackRange] = []
        for pack_id, wanted in self._plan.packs.items():
            blobs = [(bid, slot[0]) for bid, slot in wanted.items()]
            ranges.extend(coalesce(pack_id, blobs, limit))
        return ranges

    def _fetch_all(self) -> None:
        """Read every range on the fetch pool and write it on the decode pool, in order.

        Raises:
            RestoreError: the target cannot take more; no further range is started.
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
        read = True  # the range arrived (a blob of it that fails is worth reading again)
        try:
            data = fetched.result()
        except STORE_REFUSALS:  # an outage or a refusal says nothing of the data: stop (14)
            raise
        except (BackendError, IntegrityError) as exc:  # each blob from another copy, if any
            read = False
            opened: list[tuple[ObjectId, bytes | IntegrityError]] = [
                (bid, IntegrityError(str(exc))) for bid, _loc in r.blobs
            ]
        else:
            opened = list(open_range(self._repo, r, data))
        for (bid, got), (_bid, loc) in zip(opened, r.blobs, strict=True):
            targets = wanted[bid][1]
            blob = (
                self._recover(bid, loc, str(got), targets, again=read)
                if isinstance(got, Exception)
                else got
            )
            if blob is None:
                continue
            for number, offset in targets:
                self._write_one(number, offset, blob)

    def _recover(
        self,
        bid: ObjectId,
        loc: BlobLocation,
        why: str,
        targets: list[tuple[int, int]],
        *,
        again: bool,
    ) -> bytes | None:
        """A blob whose planned copy failed (``why``), read from its next good copy
        (repository/copies.py; a synchronous read: the failure path is rare), said once; None
        when no other copy reads: its files fail with ``why``."""
        numbers = {n for n, _ in targets}
        files = self._plan.files
        if all(files[n].failed or n in self._skip for n in numbers):
            return None  # nothing left to write it into
        got = load_other_copy(self._repo, BlobType.DATA, bid, loc, again=again)
        if got is None:
            self._fail(numbers, why, damaged=True)
            return None
        blob, served = got
        entry = files[min(numbers)].entry
        where = (
            "read again from the same pack (damaged on its way)"
            if served.pack_id == loc.pack_id
            else f"read from its copy in pack {served.pack_id.short}"
        )
        self._notice(entry, f"data blob {bid.short}: bad copy ({why}); {where}")
        return blob

    def _notice(self, entry: Entry | None, message: str, shown: str = "") -> None:
        """Say something the restore got past (a bad copy of a blob another copy replaced):
        a progress warning and ``notices``, not a warning of the outcome (nothing is lost)."""
        path = shown or (self._path(entry) if entry is not None else "/")
        with self._lock:
            self.outcome.notices.append((path, message))
        self._progress.warned(path, message)

    def _write_one(self, number: int, offset: int, blob: bytes) -> None:
        """One blob into one file; a file the target refuses fails alone."""
        task = self._plan.files[number]
        if number in self._skip or task.failed:
            return
        try:
            self._sink.write(task.entry, task.node.size, offset, blob)
            self._progress.advanced(bytes_=len(blob))
            with self._lock:
                self.outcome.bytes_written += len(blob)
                task.missing -= 1
                done = task.missing == 0
            if done:
                self._sink.finish_file(task.entry, task.node.size)
        except EntryError as exc:
            self._sink.release(task.entry)
            self._fail({number}, str(exc), damaged=False)
            return
        if done:
            self._file_done(task)

    def _finish(self) -> None:
        """Report failed files; then hard links, other entries, and directory metadata."""
        plan = self._plan
        failed: dict[Entry, bool] = {}  # → whether for damage
        for task in plan.files:
            if task.failed:
                failed[task.entry] = task.damaged
                if task.entry.parent not in self._failed_dirs:
                    self._failed(task.entry, task.failed, damaged=task.damaged)
        for entry, _node, first in plan.hardlinks:
            if entry.parent not in self._failed_dirs:
                self._make_link(entry, first, failed)
        for entry, node in plan.others:
            if entry.parent not in self._failed_dirs:
                self._make_other(entry, node)
        for number in reversed(range(len(plan.dirs))):
            if number not in self._failed_dirs:
                entry, node = plan.dirs[number]
                self._warn(entry, self._sink.set_metadata(entry, node))

    def _make_link(self, entry: Entry, first: Entry, failed: dict[Entry, bool]) -> None:
        """Another name of a file restored (``failed``: files that were not, → for damage)."""
        if first in failed:
            why = "its hard-link source failed to restore"
            self._failed(entry, why, damaged=failed[first])
            return
        if self._kept_in_place(entry):
            return
        if first in self._left_unlike:  # a link would give it content it never had
            why = "not restored: the file it is a hard link of was left as it was"
            self._warn(entry, f"{why} (--overwrite {self._overwrite})")
            return
        try:
            self._sink.link(entry, first)
        except EntryError as exc:
            self._warn(entry, str(exc))
            return
        self.outcome.files_restored += 1

    def _left_as_it_is(self, task: FileTask, id_key: bytes) -> bool | None:
        """Whether the file already at the task's place stays (None: it is written anew), and
        if so whether it counts as the snapshot's (its metadata is then set): always, when it
        holds the snapshot's content; if-changed, when its size and mtime are the
        snapshot's; if-newer, when it is a file no older than the snapshot's; never, whenever
        something is there."""
        if self._overwrite == "always":
            keeps = partial(self._sink.keeps, task.entry, node=task.node)
            return True if _already_correct(self._loc, task, id_key, keeps) else None
        there = _lstat_at(self._loc, task.entry)
        if there is None:
            return None
        if self._overwrite == "never":
            return False
        if not stat.S_ISREG(there.st_mode) or there.st_nlink > 1:
            return None  # a second link may lead outside the target: written anew
        if self._overwrite == "if-newer":
            return False if there.st_mtime_ns >= task.node.mtime_ns else None
        same = (there.st_size, there.st_mtime_ns) == (task.node.size, task.node.mtime_ns)
        return True if same and self._sink.keeps(task.entry, there, task.node) else None

    def _kept_in_place(self, entry: Entry) -> bool:
        """``never``: something at the place of a link or other entry stays as it is."""
        if self._overwrite != "never" or _lstat_at(self._loc, entry) is None:
            return False
        self.outcome.files_skipped += 1
        return True

    def _make_other(self, entry: Entry, node: Node) -> None:
        if node.type is NodeType.SOCKET:
            return  # a socket belongs to a process that is gone: nothing to restore
        if node.type in (NodeType.CHARDEV, NodeType.BLOCKDEV) and not self._sink.owners:
            self.outcome.skipped.append(
                (self._path(entry), "device nodes are only restored as root")
            )
            return
        if self._kept_in_place(entry):
            return
        warning = self._sink.make_other(entry, node)
        if warning:
            self._warn(entry, warning)
            return
        self.outcome.others += 1
        self._warn(entry, self._sink.set_metadata(entry, node))

    def _path(self, entry: Entry) -> str:
        """The entry as every message of the restore names it: its path below the target
        (the snapshot path when the whole snapshot is restored), as the plan's damage and the
        proof name theirs; not its place in a drill's scratch directory."""
        return self._plan.shown(entry)

    def _warn(self, entry: Entry, warning: str) -> None:
        """What the target refused or did not fully take (never the repository's damage),
        with where in the target, as restic's "ignoring error for PATH: open TARGET: ...":
        the entry's own path named the source directory on the backed-up host, where "remove
        the link first" pointed at live data (an attack pass, 2026-12-07)."""
        if warning:
            # spelled as names are (shown_name): a twin's place did not show alike
            said = f"{warning} (in the target: {shown_name(self._loc.path(entry))})"
            self.outcome.warnings.append((self._path(entry), said))
            self.outcome.refused.append((self._path(entry), said))

    def _failed(self, entry: Entry, why: str, *, damaged: bool) -> None:
        """An entry not restored: for the repository's damage (an error), or the target's
        refusal (a warning)."""
        if damaged:
            self.outcome.errors.append((self._path(entry), why))
        else:
            self._warn(entry, why)
