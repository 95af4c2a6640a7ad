"""The process-parallel restorer: ``restore --jobs N`` with N > 1.

    parent process   plan → directories → files to skip (already in place) → ranges to read,
                     and for each file the one range that holds all of its blobs, if any;
                     then, as each range is done (in range order): fail the files its damage
                     or the target's refusals concern, count down the missing blobs of files
                     that span ranges and give such a file its metadata once complete; then
                     links, other entries and directory metadata (the serial engine's
                     ``_finish``)
    N workers        read a range (readers threads, one range ahead), authenticate,
                     decompress and check every blob, write it into each file at its offset,
                     then give the files the range holds whole their metadata (most small
                     files: the parent's one core would otherwise apply it to every file)
                     (s3vault/workerpool.py: forked, the plan and the key inherited)

Same bytes: every blob goes to the offsets the serial engine writes it to, zero blocks stay
holes, and metadata is applied as the serial engine applies it, after the content.
Files are written by several processes at once: a worker creates a file without O_EXCL
(sinks.py, ``shared``) and never removes what is in its way; in a target that was not empty,
the parent makes each file anew (removing whatever stood there, as the serial engine does) just
before the first range that writes it goes to a worker (``_handed_out``), and tells the workers
with each range which of its files it could not make (after the fork: their plan lacks it).

Memory: per worker, the ranges it holds (readers + 1 of at most 4 MiB locally, a pack and a
half on S3) and written files kept open up to a quarter of its descriptor limit (256 at most),
closed after every range.

A killed worker: the restore stops with RestoreError (exit code 1) saying so. Nothing it had
not finished is claimed complete: a file gets the snapshot's times and mode only once all of
its blobs were written, and a second restore into the same target finds the files in place by
content hash, so it writes only what is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field

from s3vault.errors import STORE_REFUSALS, BackendError, IntegrityError, RestoreError
from s3vault.ids import ObjectId
from s3vault.progress import Progress
from s3vault.repository.index import BlobLocation
from s3vault.repository.repository import Repository
from s3vault.restorer.fetch import PackRange, open_range, read_range
from s3vault.restorer.locator import Locator
from s3vault.restorer.plan import RestorePlan
from s3vault.restorer.restorer import RestoreOutcome, Restorer
from s3vault.restorer.sinks import EntryError, FilesystemSink
from s3vault.workerpool import Watchdog, WorkerJob, WorkerPool, add_counts, counts_since


@dataclass(slots=True)
class RangeDone:
    """What a worker did with one range: ``read_error`` (nothing in it could be read), the
    blobs that failed (blob index in the range → why), the files the target refused (file
    number → why) and the bytes written."""

    read_error: str = ""
    bad_blobs: dict[int, str] = field(default_factory=dict)
    refused: dict[int, str] = field(default_factory=dict)
    written: int = 0
    completed: dict[int, str] = field(default_factory=dict)  # file number → metadata warning


# a range handed to a worker: its number, and its files the parent could not make anew since
# the fork (the worker's plan is the fork's copy)
Handed = tuple[int, frozenset[int]]


class _RangeWriter:
    """A worker's part: write the blobs of a range into their files (runs in the worker)."""

    def __init__(
        self, restorer: ParallelRestorer, ranges: list[PackRange], owner: list[int]
    ) -> None:
        self._r = restorer
        self._ranges = ranges
        self._owner = owner
        self._sink = FilesystemSink(restorer.locator, owners=restorer.owners, shared=True)
        self._base = restorer.repo.requests.snapshot()

    def fetch(self, item: Handed) -> bytes:
        return read_range(self._r.repo, self._ranges[item[0]])

    def work(self, item: Handed, fetched: Future[bytes]) -> RangeDone:
        """Write the range's blobs (not into its files that failed in the parent since the
        fork: ``item``'s second part).

        Raises:
            RestoreError: the target cannot take more (the restore stops).
        """
        i, failed_since = item
        r = self._ranges[i]
        out = RangeDone()
        try:
            data = fetched.result()
        except STORE_REFUSALS:  # an outage or a refusal says nothing of the data: stop (14)
            raise
        except (BackendError, IntegrityError) as exc:
            out.read_error = str(exc)
            return out
        wanted = self._r.plan.packs[r.pack_id]
        files, skip = self._r.plan.files, self._r.skip
        self._learn(failed_since)
        mine: dict[int, bool] = {}  # files whose every blob is in this range → still whole
        try:
            for n, (bid, opened) in enumerate(open_range(self._r.repo, r, data)):
                blob = None if isinstance(opened, IntegrityError) else opened
                if blob is None:
                    out.bad_blobs[n] = str(opened)
                for number, offset in wanted[bid][1]:
                    task = files[number]
                    if number in skip or task.failed or number in out.refused:
                        continue
                    if self._owner[number] == i:
                        mine[number] = mine.get(number, True) and blob is not None
                    if blob is None:
                        continue
                    try:
                        self._sink.write(task.entry, task.node.size, offset, blob)
                    except EntryError as exc:
                        out.refused[number] = str(exc)
                        continue
                    out.written += len(blob)
        finally:
            self._sink.close_all()  # the next range may be another worker's: hold nothing
        # A file this range holds whole is complete here: its metadata too (not the parent's
        # work: with many small files, that would be the parent's one core).
        for number, whole in mine.items():
            if whole and number not in out.refused:
                task = files[number]
                out.completed[number] = self._sink.set_metadata(task.entry, task.node)
        return out

    def _learn(self, failed: frozenset[int]) -> None:
        """This process's copy of the plan learns of files that failed in the parent since
        the fork: none of them is written."""
        files = self._r.plan.files
        for number in failed:
            files[number].failed = files[number].failed or "failed in the parent process"

    def finish(self) -> object:
        """The requests this worker made (the parent's counters leave them out)."""
        return counts_since(self._base, self._r.repo.requests)


class ParallelRestorer(Restorer):
    """A Restorer whose ranges are read, decoded and written by ``jobs`` worker processes;
    everything else is the serial engine's."""

    def __init__(
        self,
        repo: Repository,
        plan: RestorePlan,
        *,
        jobs: int,
        owners: bool | None = None,
        workers: int = 4,
        progress: Progress | None = None,
        watchdog: Watchdog | None = None,
        reuse: bool = True,
        overwrite: str = "always",
    ) -> None:
        super().__init__(
            repo,
            plan,
            owners=owners,
            workers=workers,
            progress=progress,
            reuse=reuse,
            overwrite=overwrite,
        )
        self._jobs = jobs
        self._watchdog = watchdog
        self._emptied: list[int] = []  # files made anew (empty) before the workers write them
        self._fresh = True  # the target was empty (``_start_files``)

    def run(self, target: bytes) -> RestoreOutcome:
        """The serial engine's ``run``. In a target that was not empty, a file to write is
        made anew (empty) before the workers write into it (``_handed_out``): a stop (the
        target can take no more) says how many of those it left incomplete, and that a
        second restore completes them (an attack pass: a read-only directory stopped such a
        restore with 5,002 files emptied, all made before the first range, and named only
        the one it could not create; the serial engine leaves one). The count is an upper
        bound: results a worker sent but the parent had not taken yet are not counted as
        done (an attack pass: 78 said, 46 incomplete).

        Raises:
            RestoreError: as the serial engine's.
        """
        try:
            return super().run(target)
        except RestoreError as exc:
            files = self._plan.files
            left = sum(1 for n in self._emptied if files[n].missing and not files[n].failed)
            if not left or "incomplete" in str(exc):  # a dead worker's says so already
                raise
            msg = (  # at most: a worker may have finished some that were not counted yet
                f"{exc}; up to {left} file(s) this restore had emptied to rewrite are "
                "incomplete and keep no snapshot metadata: run the restore again into the "
                "same target to complete them"
            )
            raise RestoreError(msg) from None

    # What a forked worker reads of its parent's restorer (read-only).
    @property
    def repo(self) -> Repository:
        """The repository read from."""
        return self._repo

    @property
    def plan(self) -> RestorePlan:
        """The plan being run."""
        return self._plan

    @property
    def locator(self) -> Locator:
        """Where entries go under the target (set by ``run``)."""
        return self._loc

    @property
    def owners(self) -> bool:
        """Whether owners are restored."""
        return self._sink.owners

    @property
    def skip(self) -> set[int]:
        """Numbers of the files found in place."""
        return self._skip

    def _start_files(self, fresh: bool) -> None:
        super()._start_files(fresh)
        self._fresh = fresh  # if not, files are made anew as their ranges go (_handed_out)

    def _handed_out(self, ranges: list[PackRange], first: list[list[int]]) -> Iterator[Handed]:
        """The ranges as the workers are handed them (``first``: the files each range is the
        first to write). In a target that was not empty, whatever stands where a file goes
        is replaced (the file made anew, empty) here, once, just before the first range that
        writes it goes out: workers never remove. Made all before the first range, a stop
        (the target read-only or full) left every one of them empty, where the serial engine
        leaves one (an attack pass: 5,002)."""
        files = self._plan.files
        failed: set[int] = set()  # files that failed here since the workers were forked
        for i, r in enumerate(ranges):
            for number in first[i] if not self._fresh else ():
                task = files[number]
                if task.failed or number in self._skip or task.missing == 0:
                    continue
                try:
                    self._sink.create_file(task.entry, task.node.size)
                except EntryError as exc:
                    task.failed = str(exc)
                    failed.add(number)
                    continue
                self._emptied.append(number)
            yield i, frozenset(self._files_in(r) & failed) if failed else frozenset()

    def _files_in(self, r: PackRange) -> set[int]:
        """The numbers of the files a range writes into."""
        wanted = self._plan.packs[r.pack_id]
        return {number for bid, _loc in r.blobs for number, _offset in wanted[bid][1]}

    def _fetch_all(self) -> None:
        """Every range through the worker processes; results handled here in range order.

        Raises:
            RestoreError: the target cannot take more, or a worker process died.
        """
        ranges = self._ranges()
        if len(ranges) < 2 or self._jobs < 2:  # nothing to share out
            super()._fetch_all()
            return
        owner, first = self._layout(ranges)
        writer = _RangeWriter(self, ranges, owner)
        job = WorkerJob(
            fetch=writer.fetch, work=writer.work, finish=writer.finish, crash_at="restore-worker"
        )
        pool: WorkerPool[Handed, bytes, RangeDone] = WorkerPool(
            job,
            jobs=min(self._jobs, len(ranges)),
            readers=max(1, self._workers // self._jobs),
            name="s3vault-restore",
            died=_died if self._reuse else _drill_died,
            remote=self._repo.remote,
            watchdog=self._watchdog,
        )
        handed = self._handed_out(ranges, first)
        for requests in pool.run(handed, lambda item, done: self._done(ranges[item[0]], done)):
            add_counts(self._repo.requests, requests)

    def _layout(self, ranges: list[PackRange]) -> tuple[list[int], list[list[int]]]:
        """For each file, the one range that holds all of its blobs (-1: several); for each
        range, the files it is the first to write (one pass over the ranges' blobs)."""
        owner = [-2] * len(self._plan.files)  # -2: none yet
        first: list[list[int]] = [[] for _ in ranges]
        for i, r in enumerate(ranges):
            wanted = self._plan.packs[r.pack_id]
            for bid, _loc in r.blobs:
                for number, _offset in wanted[bid][1]:
                    if owner[number] == -2:
                        first[i].append(number)
                    owner[number] = i if owner[number] in (-2, i) else -1
        return owner, first

    def _done(self, r: PackRange, done: RangeDone) -> None:
        """A range is written: fail what it failed, complete the files it completed."""
        plan, out = self._plan, self.outcome
        wanted = plan.packs[r.pack_id]
        if done.read_error:  # nothing of it written: every blob is a bad one
            done.bad_blobs = dict.fromkeys(range(len(r.blobs)), done.read_error)
        for number, why in done.refused.items():
            self._fail({number}, why, damaged=False)
        if done.written:
            out.bytes_written += done.written
            self._progress.advanced(bytes_=done.written)
        for number, warning in done.completed.items():
            plan.files[number].missing = 0
            self._file_complete(plan.files[number], warning)
        for n, (bid, loc) in enumerate(r.blobs):
            targets = wanted[bid][1]
            bad = done.bad_blobs.get(n)
            again = not done.read_error  # read, and failed its check: worth reading again
            if bad is not None and not self._write_other_copy(bid, loc, bad, targets, again):
                continue
            for number, _offset in targets:
                task = plan.files[number]
                if number in self._skip or task.failed or number in done.completed:
                    continue
                task.missing -= 1
                if task.missing == 0:
                    self._file_done(task)

    def _write_other_copy(
        self,
        bid: ObjectId,
        loc: BlobLocation,
        why: str,
        targets: list[tuple[int, int]],
        again: bool,
    ) -> bool:
        """A blob a worker could not read or open (``why``): the parent reads its next good
        copy (workers never connect: this process fetches) and writes it into its files,
        beside the workers (a shared sink: nothing is created exclusively nor removed).
        False when no copy reads or is needed: its files are failed.

        Raises:
            RestoreError: the target cannot take more.
        """
        blob = self._recover(bid, loc, why, targets, again=again)
        if blob is None:
            return False
        sink = FilesystemSink(self._loc, owners=self._sink.owners, shared=True)
        try:
            for number, offset in targets:
                task = self._plan.files[number]
                if number in self._skip or task.failed:
                    continue
                try:
                    sink.write(task.entry, task.node.size, offset, blob)
                except EntryError as exc:
                    self._fail({number}, str(exc), damaged=False)
                    continue
                self.outcome.bytes_written += len(blob)
                self._progress.advanced(bytes_=len(blob))
        finally:
            sink.close_all()
        return True


def _died(what: str) -> RestoreError:
    return RestoreError(
        f"a restore {what}; the restore stopped: files it had not finished are incomplete "
        "and keep no snapshot metadata; run the restore again into the same target to "
        "complete them"
    )


def _drill_died(what: str) -> RestoreError:
    """A drill's restore (``reuse`` off: nothing in its target is kept) proves nothing once
    stopped; run again, it restores everything anew."""
    return RestoreError(
        f"a restore {what}; the drill stopped before it restored everything, so it proves "
        "nothing: run it again"
    )
