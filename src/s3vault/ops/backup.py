"""backup: make a snapshot of paths (or of standard input)."""

from __future__ import annotations

import os
import posixpath
import shlex
import socket
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from s3vault.archiver.changes import ChangeRules
from s3vault.archiver.commit import commit
from s3vault.archiver.excludes import ExcludeRules
from s3vault.archiver.filelists import (
    ListKind,
    expand_glob,
    has_glob,
    parse_patterns,
    parse_raw,
    parse_verbatim,
    read_list,
)
from s3vault.archiver.parallel import ParallelArchiver, ScanProcess
from s3vault.archiver.pipeline import ArchiveOptions, Archiver
from s3vault.archiver.scanner import Scanner, smaller_than
from s3vault.backend.accounting import RequestCounts
from s3vault.backend.objectlock import LockPolicy
from s3vault.chunker import ByteStream
from s3vault.clock import Clock, SystemClock
from s3vault.errors import ExitCode, S3VaultError, UsageError
from s3vault.format import codec
from s3vault.format.packfile import BlobType
from s3vault.format.snapshotfile import SnapshotFile, SnapshotSummary
from s3vault.format.tree import shown_name
from s3vault.ids import ObjectId
from s3vault.maintenance.immutability import protect, save_known
from s3vault.ops.audit import AuditNote, audited, measured
from s3vault.ops.records import refuse_bare_strings
from s3vault.ops.whoami import user_name
from s3vault.progress import NullProgress, Progress
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import find_snapshot, list_snapshots, snapshot_group
from s3vault.repository.writer import BlobWriter
from s3vault.tags import flatten, tag_lists
from s3vault.version import __version__
from s3vault.workerpool import SERIAL_BELOW_BYTES, default_jobs

if TYPE_CHECKING:
    from s3vault.ops.profiles import Profile


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupOptions:
    """What to back up and how."""

    paths: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    host: str | None = None
    excludes: tuple[str, ...] = ()
    exclude_files: tuple[Path, ...] = ()
    exclude_environ: Mapping[str, str] | None = None  # expands $VAR in exclude files (restic)
    exclude_caches: bool = False
    one_file_system: bool = False
    # restic's --files-from, --files-from-verbatim, --files-from-raw (archiver/filelists.py):
    # list files whose paths are backed up with ``paths``; "-" reads ``files_from_stdin``
    files_from: tuple[Path, ...] = ()
    files_from_verbatim: tuple[Path, ...] = ()
    files_from_raw: tuple[Path, ...] = ()
    files_from_stdin: BinaryIO | None = None
    iexcludes: tuple[str, ...] = ()  # case-insensitive excludes
    iexclude_files: tuple[Path, ...] = ()
    exclude_if_present: tuple[str, ...] = ()  # FILE[:HEADER] tag files
    exclude_larger_than: str | None = None  # a size as restic writes it: 512K, 1G
    ignore_ctime: bool = False  # change detection leaves the ctime out
    ignore_inode: bool = False  # ... the inode and the ctime
    with_atime: bool = False  # record access times
    stdin: BinaryIO | None = None
    stdin_filename: str = "stdin"
    # restic's --stdin-from-command: run this command and back up its standard output as
    # ``stdin_filename``; no snapshot unless it exits 0
    stdin_command: tuple[str, ...] = ()
    # restic's --skip-if-unchanged: no new snapshot when the tree equals the parent's
    skip_if_unchanged: bool = False
    # restic's --no-scan: no scanner beside a first backup (no totals, no ETA; one walk less);
    # there is none either when the progress shows no totals (``Progress.shows_totals``)
    scan: bool = True
    parent: str | None = None
    force: bool = False  # ignore the parent: read every file
    time: datetime | None = None  # the snapshot's time (imports); default: when it starts
    root: str | None = None  # read the paths inside this directory, record them below "/"
    dry_run: bool = False
    readers: int = 0  # 0: from the CPU count
    blob_workers: int = 0
    # worker processes (archiver/parallel.py); 0: one per core; 1 (the default until the
    # speed-up is measured on a quiet machine): none, the threaded engine
    jobs: int = 1

    def __post_init__(self) -> None:
        refuse_bare_strings(self)

    @property
    def has_lists(self) -> bool:
        """Some --files-from list is given."""
        return bool(self.files_from or self.files_from_verbatim or self.files_from_raw)

    def with_profile(self, profile: Profile | None) -> BackupOptions:
        """A config profile's backup settings merged in (not for standard input): its paths
        and path lists when neither is given, its excludes (all kinds), exclude files and
        tags in addition, its host and size limit unless given, its switches if set."""
        if profile is None or self.stdin is not None or self.stdin_command:
            return self
        own_sources = bool(self.paths) or self.has_lists

        def listed(key: str) -> tuple[str, ...]:
            return tuple(profile.get(key, ()))

        def files(key: str) -> tuple[Path, ...]:
            return tuple(Path(f) for f in profile.get(key, ()))

        def switch(key: str) -> bool:
            return bool(profile.get(key))

        return replace(
            self,
            paths=self.paths if own_sources else listed("paths"),
            files_from=self.files_from if own_sources else files("files_from"),
            files_from_verbatim=(
                self.files_from_verbatim if own_sources else files("files_from_verbatim")
            ),
            files_from_raw=self.files_from_raw if own_sources else files("files_from_raw"),
            tags=flatten((self.tags, *tag_lists(profile.get("tags", ())))),
            excludes=(*self.excludes, *listed("excludes")),
            exclude_files=(*self.exclude_files, *files("exclude_files")),
            iexcludes=(*self.iexcludes, *listed("iexcludes")),
            iexclude_files=(*self.iexclude_files, *files("iexclude_files")),
            exclude_if_present=(*self.exclude_if_present, *listed("exclude_if_present")),
            exclude_larger_than=self.exclude_larger_than or profile.get("exclude_larger_than"),
            host=self.host or profile.get("host"),
            exclude_caches=self.exclude_caches or switch("exclude_caches"),
            one_file_system=self.one_file_system or switch("one_file_system"),
            ignore_ctime=self.ignore_ctime or switch("ignore_ctime"),
            ignore_inode=self.ignore_inode or switch("ignore_inode"),
            with_atime=self.with_atime or switch("with_atime"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupResult:
    """What a backup did."""

    snapshot_id: ObjectId | None
    parent_id: ObjectId | None
    files_new: int
    files_changed: int
    files_unmodified: int
    files_failed: int
    dirs_new: int
    dirs_changed: int
    dirs_unmodified: int
    data_blobs: int
    tree_blobs: int
    data_added: int
    data_added_raw: int
    total_files_processed: int
    total_bytes_processed: int
    total_duration: float
    dry_run: bool
    warnings: tuple[tuple[str, str], ...]  # source problems: paths missing, files unreadable
    requests: RequestCounts
    locks_extended: int = 0  # Object Lock: older objects whose retain-until this snapshot extended
    notices: tuple[tuple[str, str], ...] = ()  # repository damage this run worked around
    missing_packs: int = 0  # packs the index names that the store no longer has
    blobs_healed: int = 0  # blobs of those packs this run stored again
    skipped: bool = False  # --skip-if-unchanged: the tree equals the parent's, none written

    @property
    def incomplete(self) -> bool:
        """Some source could not be read as it was."""
        return bool(self.warnings)


def _targets(
    paths: list[bytes], root: bytes | None, missing: list[tuple[str, str]]
) -> tuple[bytes, ...]:
    """The paths to record (absolute, each once); with a root they lie below it, whatever they
    say. Paths that do not exist go to ``missing`` (the backup warns and exits 3, as restic
    does).

    Raises:
        UsageError: none of them exists.
    """
    out: dict[bytes, None] = {}
    for path in paths:
        if root is None:
            recorded = os.path.abspath(path)
        else:
            recorded = os.path.normpath(b"/" + path.lstrip(b"/"))
        try:
            os.lstat((root or b"") + recorded)
        except (FileNotFoundError, NotADirectoryError):
            missing.append((os.fsdecode(path), "does not exist, skipping"))
            continue
        except OSError:
            pass  # there, but not to be looked at (EACCES): the walk says why (exit 3)
        out[recorded] = None
    if not out:
        msg = "nothing to back up: none of the given paths exist"
        raise UsageError(msg)
    return tuple(out)


def _listed(
    options: BackupOptions, root: bytes | None, missing: list[tuple[str, str]]
) -> list[bytes]:
    """The paths of the --files-from lists, in the order given (restic: the lists, then the
    positional paths); a pattern that matches nothing goes to ``missing``.

    Raises:
        UsageError: a list cannot be read, a raw list is malformed, a pattern is malformed.
    """
    out: list[bytes] = []
    lists: tuple[tuple[ListKind, tuple[Path, ...]], ...] = (
        ("files-from", options.files_from),
        ("files-from-verbatim", options.files_from_verbatim),
        ("files-from-raw", options.files_from_raw),
    )
    for kind, sources in lists:
        for source in sources:
            data = read_list(kind, source, options.files_from_stdin)
            if kind == "files-from-verbatim":
                out.extend(parse_verbatim(data))
            elif kind == "files-from-raw":
                out.extend(parse_raw(data, str(source)))
            else:
                for line in parse_patterns(data):
                    if not has_glob(line):
                        out.append(line)  # checked as any path is, "does not exist"
                        continue
                    below = b"/" + line.lstrip(b"/") if root is not None else line
                    matched = expand_glob(below, root or b"")
                    if not matched:
                        missing.append((os.fsdecode(line), "pattern matches no files, skipping"))
                    out.extend(matched)
    return out


def stdin_name(name: str) -> str:
    """The path a --stdin-filename stores the stream under, below the snapshot's root, as
    restic cleans it (``path.Clean("/" + name)``): ``/db/dump.sql`` is ``db/dump.sql``,
    ``dir/`` is ``dir``, ``a/../b`` is ``b`` (they were refused: a cron line of restic's failed
    every night after a move).

    Raises:
        UsageError: empty, nothing but slashes and dots (no name), or with NUL.
    """
    cleaned = posixpath.normpath("/" + name).lstrip("/")
    if not cleaned or "\0" in name:
        msg = (
            f"--stdin-filename {name!r}: give the name to store the stream as, such as "
            "mydb.sql or /dumps/mydb.sql (no NUL)"
        )
        raise UsageError(msg)
    return cleaned


def _sources(
    options: BackupOptions, missing: list[tuple[str, str]]
) -> tuple[tuple[bytes, ...], tuple[str, ...], bytes | None]:
    """(paths to record, the same as text, the directory they are read below)."""
    if options.stdin is not None:
        if options.paths or options.has_lists:
            msg = "--stdin takes no paths and no --files-from lists"
            raise UsageError(msg)
        name = os.fsencode(stdin_name(options.stdin_filename))
        return (), (shown_path(b"/" + name),), None
    root = None
    if options.root is not None:
        # links in it are followed here, once, as named (/mnt/old -> /srv/old): below it the
        # walk follows none, and excludes are cut from the paths it walks
        root = os.path.realpath(os.fsencode(options.root)).rstrip(b"/")
        if not os.path.isdir(root or b"/"):
            msg = f"--root {options.root}: not a directory"
            raise UsageError(msg)
    paths = [*_listed(options, root, missing), *(os.fsencode(p) for p in options.paths)]
    if not paths and not missing:
        what = "the --files-from lists are empty" if options.has_lists else "no paths"
        msg = f"nothing to back up: {what} (give PATHS, a list with paths, or --stdin)"
        raise UsageError(msg)
    targets = _targets(paths, root, missing)
    return targets, tuple(shown_path(t) for t in targets), root


def shown_path(path: bytes) -> str:
    """A target as the snapshot's ``paths`` record it: as listings show names
    (``shown_name``: a byte that is not UTF-8 written as ``\\xNN``, the path's own
    backslashes doubled; the tree keeps the exact bytes, a snapshot file is UTF-8 JSON). Two
    paths never record alike: ``x\\xfe`` spelled so and ``x`` with the byte fe recorded the
    same text, so each took the other's snapshots as its parent and its forget group (a
    restic user's attack pass, 2026-12-07)."""
    return shown_name(path)


def _workers(configured: int, default: int) -> int:
    return configured if configured > 0 else default


class _CommandStream:
    """--stdin-from-command's process, whose standard output is the stream backed up."""

    def __init__(self, command: tuple[str, ...]) -> None:
        self.command = command
        try:
            self.proc = subprocess.Popen(list(command), stdout=subprocess.PIPE)
        except OSError as exc:
            msg = f"--stdin-from-command: cannot run {command[0]!r}: {exc.strerror or exc}"
            raise UsageError(msg) from None

    def failed_first(self) -> None:
        """When the backup of its output failed (an empty output, say): if the command has
        ended, or ends within a second, with another code than 0, that is the error to say.

        Raises:
            S3VaultError: it exited with another code than 0.
        """
        try:
            self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return  # still running: the backup's own error stands
        self.succeeded()

    def succeeded(self) -> None:
        """Wait for the process (its output has been read to the end).

        Raises:
            S3VaultError: it exited with another code than 0 (nothing is committed).
        """
        code = self.proc.wait()
        if code != 0:
            how = f"was killed by signal {-code}" if code < 0 else f"exited with {code}"
            msg = (
                f"--stdin-from-command: {shlex.join(self.command)} {how}: no snapshot was "
                "written (its output may be incomplete)"
            )
            raise S3VaultError(msg)

    def end(self) -> None:
        """Kill it if it still runs (the backup failed before its output ended); reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@contextmanager
def _command_output(
    options: BackupOptions,
) -> Iterator[tuple[BackupOptions, _CommandStream | None]]:
    """The options with standard input replaced by --stdin-from-command's output, and its
    process (unchanged options and None without it).

    Raises:
        UsageError: with --stdin, paths or lists; the command cannot be started.
    """
    if not options.stdin_command:
        yield options, None
        return
    if options.stdin is not None or options.paths or options.has_lists:
        msg = "--stdin-from-command takes no paths, no --files-from lists and no --stdin"
        raise UsageError(msg)
    running = _CommandStream(options.stdin_command)
    try:
        yield replace(options, stdin=cast("BinaryIO", running.proc.stdout)), running
    except S3VaultError:
        running.failed_first()  # a command that failed says so, not what its output lacked
        raise
    finally:
        running.end()


def _protect(repo: Repository, snapshot: SnapshotFile, snapshot_id: ObjectId) -> int:
    """Object Lock: what the new snapshot needs stays locked for the policy's period."""
    if repo.object_lock is None:
        return 0
    now = repo.server_time()
    period = LockPolicy.from_dict(repo.config.object_lock).period
    extended = protect(repo, repo.object_lock, snapshot, snapshot_id, now, period)
    save_known(repo, repo.object_lock, now)
    return extended


def _parent(
    repo: Repository, options: BackupOptions, host: str, shown_paths: tuple[str, ...]
) -> tuple[ObjectId | None, SnapshotFile | None]:
    """The snapshot to compare against: --parent, else the latest of this host and paths
    (none with --force, or when there is none).

    Raises:
        UsageError: --parent names no snapshot.
    """
    if options.force:
        return None, None
    try:
        if options.parent:  # (--parent latest: an older parent costs reading, as below)
            listed = list_snapshots(repo)
            return find_snapshot(repo, options.parent, snapshots=listed, if_unsure="take")
        # Only the files named with this host and paths' group tag (or none) are read; host
        # and paths are still checked in their content (design.md §8).
        group = snapshot_group(repo, host, shown_paths)
        snaps = list_snapshots(repo, group=group)
        return find_snapshot(
            repo,
            "latest",
            host=host,
            paths=shown_paths,
            snapshots=snaps,
            say_ahead=False,
            if_unsure="take",  # an older parent costs reading more, never a wrong snapshot
        )
    except UsageError:
        if options.parent:
            raise
    return None, None


def _load_index(
    repo: Repository, progress: Progress
) -> tuple[Repository, set[ObjectId], set[tuple[BlobType, ObjectId]]]:
    """The repository with the index without the packs prune has marked (never deduplicate
    against those), and without the packs the store lost: whatever this snapshot needs from
    them is stored again (the repository heals), never deduplicated against what is gone;
    nor against a pack the store holds at another size than the index says (truncated)."""
    repo = repo.with_index(repo.read_index(with_marked=False))
    lost_packs, lost_blobs = repo.forget_missing_packs(truncated=True)
    if lost_packs:
        progress.warned(
            "repository",
            f"{len(lost_packs)} pack(s) named by the index are missing from the store or "
            "of another size there than the index says "
            f"({len(lost_blobs)} blobs without another copy): what this snapshot needs of them "
            "is stored again; `s3vault verify` names the older snapshots that lost data",
        )
    return repo, lost_packs, lost_blobs


def _exclude_rules(options: BackupOptions) -> ExcludeRules:
    """Every exclude option, checked (before anything is read).

    Raises:
        UsageError: an exclude file cannot be read; a pattern, tag file or size is malformed.
    """
    return ExcludeRules.build(
        options.excludes,
        options.exclude_files,
        environ=options.exclude_environ,
        exclude_caches=options.exclude_caches,
        one_file_system=options.one_file_system,
        ipatterns=options.iexcludes,
        iexclude_files=options.iexclude_files,
        if_present=options.exclude_if_present,
        larger_than=options.exclude_larger_than,
    )


def _archive_options(
    options: BackupOptions,
    targets: tuple[bytes, ...],
    root: bytes | None,
    start: datetime,
    excludes: ExcludeRules,
) -> ArchiveOptions:
    cpus = os.cpu_count() or 2
    return ArchiveOptions(
        paths=targets,
        root=root or b"",
        excludes=excludes,
        changes=ChangeRules(ignore_ctime=options.ignore_ctime, ignore_inode=options.ignore_inode),
        with_atime=options.with_atime,
        stdin=cast("ByteStream | None", options.stdin),
        stdin_filename=os.fsencode(stdin_name(options.stdin_filename)),
        stdin_mtime_ns=int((options.time or start).timestamp() * 1e9),
        readers=_workers(options.readers, max(2, cpus)),
        blob_workers=_workers(options.blob_workers, cpus + 1),
    )


def _archiver(
    repo: Repository,
    writer: BlobWriter,
    options: BackupOptions,
    archive: ArchiveOptions,
    *,
    parent: SnapshotFile | None,
    progress: Progress,
) -> Archiver:
    """The serial engine for one job, standard input (one stream), or a store held in this
    process's memory (worker processes could not add packs to it); else the process pool."""
    jobs = options.jobs or _default_jobs(archive, parent)
    parent_tree = parent.tree if parent is not None else None
    if jobs <= 1 or archive.stdin is not None or repo.location == "memory:":
        return Archiver(repo, writer, archive, parent_tree=parent_tree, progress=progress)
    return ParallelArchiver(
        repo, writer, archive, jobs=jobs, parent_tree=parent_tree, progress=progress
    )


SCAN_PROCESS_FROM_JOBS = 2  # more workers than this: a first backup's scanner is a process
# A backup of fewer files and bytes than these runs in one process unless --jobs says
# otherwise: forking a worker per core costs more than it saves (a 16-core host's nightly
# backup of /etc forked 16 workers; docs/performance.md has the figures)
SERIAL_BELOW_FILES = 1000


def _default_jobs(archive: ArchiveOptions, parent: SnapshotFile | None) -> int:
    """One process for a small backup, one per core otherwise. Small: fewer than
    SERIAL_BELOW_FILES files and SERIAL_BELOW_BYTES bytes in the sources, walked until either is
    reached. A parent snapshot that read more than that says large without a walk; a small
    parent does not say small: the sources may have grown since (a restored data set), and
    one run in one process on a 16-core host could miss the backup window."""
    cores = default_jobs()
    if cores <= 1 or archive.stdin is not None:
        return 1
    counted = parent.summary if parent is not None else None
    if counted is not None and (
        counted.total_files_processed >= SERIAL_BELOW_FILES
        or counted.total_bytes_processed >= SERIAL_BELOW_BYTES
    ):
        return cores
    small = smaller_than(
        archive.paths, archive.root, archive.excludes, SERIAL_BELOW_FILES, SERIAL_BELOW_BYTES
    )
    return 1 if small else cores


def _counts(archiver: Archiver, writer: BlobWriter) -> dict[str, int]:
    """The figures a snapshot's summary and the result share."""
    stats = archiver.stats
    return {
        "files_new": stats.files_new,
        "files_changed": stats.files_changed,
        "files_unmodified": stats.files_unmodified,
        "files_failed": stats.files_failed,
        "dirs_new": stats.dirs_new,
        "dirs_changed": stats.dirs_changed,
        "dirs_unmodified": stats.dirs_unmodified,
        "data_blobs": writer.stats.data_blobs,
        "tree_blobs": writer.stats.tree_blobs,
        "data_added": writer.stats.data_added,
        "total_files_processed": stats.files_processed,
        "total_bytes_processed": stats.bytes_processed,
    }


def backup(
    repo: Repository,
    options: BackupOptions,
    *,
    progress: Progress | None = None,
    clock: Clock | None = None,
) -> BackupResult:
    """Back up the paths into a new snapshot (it loads the index itself: the view without the
    packs prune has marked). Audited (ops/audit.py) unless a dry run; its figures are the
    run's metrics.

    Raises:
        UsageError: no paths (and no stdin), none exist, or an unknown parent.
        BackendError, IntegrityError: storage failed; no snapshot was written.
    """
    with (
        nullcontext(AuditNote("backup")) if options.dry_run else audited(repo, "backup") as note,
        _command_output(options) as (effective, command),
    ):
        result = _backup(
            repo, effective, progress=progress or NullProgress(), clock=clock, command=command
        )
        note.details.update(audit_details(result))
        if result.warnings:
            note.found(ExitCode.PARTIAL, partial_result(result))
    measure(result)
    return result


def partial_result(result: BackupResult) -> str:
    """What the audit record of a backup that exits 3 says it left out."""
    where, why = result.warnings[0]
    return f"{len(result.warnings)} source problem(s): saved without them (first: {where}: {why})"


def audit_details(result: BackupResult) -> dict[str, object]:
    """What a backup's audit record says of its run (a full key's or a put-only host's)."""
    return {
        "snapshot_id": str(result.snapshot_id) if result.snapshot_id else None,
        "files_processed": result.total_files_processed,
        "bytes_processed": result.total_bytes_processed,
        "data_added": result.data_added,
        "files_failed": result.files_failed,
    }


def measure(result: BackupResult) -> None:
    """A backup's metrics (ops/audit.py ``measured``), the same for every kind of key."""
    measured(
        "backup",
        files_processed=result.total_files_processed,
        bytes_processed=result.total_bytes_processed,
        bytes_added=result.data_added,
        errors=result.files_failed,
        warnings=len(result.warnings),
    )


def _check_options(options: BackupOptions) -> None:
    """What is refused before anything is read or written.

    Raises:
        UsageError: nothing to back up, or a tag or host name that is not UTF-8 text (both
            are stored as text).
    """
    if options.stdin is None and not options.paths and not options.has_lists:
        msg = "backup needs at least one path (or --files-from, or --stdin)"
        raise UsageError(msg)
    for tag in options.tags:
        codec.require_text("--tag", tag)
    codec.require_text("--host", options.host or "")


def _backup(
    repo: Repository,
    options: BackupOptions,
    *,
    progress: Progress,
    clock: Clock | None,
    command: _CommandStream | None = None,
) -> BackupResult:
    # long: the backup's steps in their order, each one call; split, the order would scatter
    clock = clock or SystemClock()
    start, t0 = clock.now(), clock.monotonic()
    _check_options(options)
    excludes = _exclude_rules(options)
    missing: list[tuple[str, str]] = []
    targets, shown_paths, root = _sources(options, missing)
    for path, problem in missing:
        progress.warned(path, problem)
    host = options.host or socket.gethostname()
    parent_id, psnap = _parent(repo, options, host, shown_paths)
    index_read_at = clock.monotonic()
    repo, lost_packs, lost_blobs = _load_index(repo, progress)
    if options.dry_run:
        repo = repo.dry_run()  # writes nowhere; a dry run sends no writes
    writer = repo.blob_writer()
    archive = _archive_options(options, targets, root, start, excludes)
    archiver = _archiver(
        repo,
        writer,
        options,
        archive,
        parent=psnap,
        progress=progress,
    )
    # The parent's totals are a good estimate for an ETA; a first backup counts its sources
    # on a scanner thread beside the walk (restic's scanner) to have one, when something
    # shows it (a terminal, --json): a cron job's first backup walks its sources once.
    estimate = psnap.summary if psnap is not None else SnapshotSummary()
    progress.started(
        "backup",
        total_files=estimate.total_files_processed,
        total_bytes=estimate.total_bytes_processed,
    )
    archiver.stats.warnings.extend(missing)
    scanner: Scanner | ScanProcess | None = None
    if psnap is None and options.stdin is None and options.scan and progress.shows_totals:
        # beside many worker processes, the walk takes a process of its own (not the parent's
        # interpreter lock, which answers the workers); with two it is one more process for
        # no gain measured (docs/performance.md), so it stays a thread
        many = isinstance(archiver, ParallelArchiver) and archiver.jobs > SCAN_PROCESS_FROM_JOBS
        kind = ScanProcess if many else Scanner
        scanner = kind(targets, root or b"", archive.excludes, progress)
        scanner.start()
    try:
        tree_id = archiver.run()
    except BaseException:
        # an interrupt or a failure: the scanner is told to stop, never waited for (its
        # daemon thread may wait on a lock the interrupted thread held: the exit must not)
        if scanner is not None:
            scanner.stop(wait=False)
        raise
    if scanner is not None:
        scanner.stop()
    writer.flush()  # every pack and index written, so the counts below are final
    counts = _counts(archiver, writer)
    if command is not None:
        command.succeeded()  # before the snapshot: a failed dump is no backup
    skipped = options.skip_if_unchanged and psnap is not None and tree_id == psnap.tree
    snapshot = SnapshotFile(
        time=options.time or start,
        tree=tree_id,
        paths=tuple(sorted(shown_paths)),  # as restic's: `backup b a` records [a, b]
        hostname=host,
        username=codec.readable(user_name()),  # $LOGNAME may hold any bytes
        tags=tuple(options.tags),
        parent=parent_id,
        excludes=tuple(codec.readable(e) for e in options.excludes),  # as text, as paths
        program_version=f"s3vault {__version__}",
        incomplete=bool(archiver.stats.warnings),
        summary=SnapshotSummary(
            **counts, backup_start=start.isoformat(), backup_end=clock.now().isoformat()
        ),
    )
    snapshot_id: ObjectId | None = None  # --skip-if-unchanged and nothing changed: none
    extended = 0
    if not skipped:
        snapshot_id = commit(repo, writer, snapshot, clock=clock, index_read_at=index_read_at)
        extended = 0 if options.dry_run else _protect(repo, snapshot, snapshot_id)
    if not options.dry_run:  # the stored size after it: the packs it saw (less marked) and its own
        measured("backup", repository_bytes=sum(size for _, size, _ in repo.index.pack_epochs()))
    progress.finished("backup")
    return BackupResult(
        **counts,
        snapshot_id=None if options.dry_run else snapshot_id,
        skipped=skipped,
        parent_id=parent_id,
        data_added_raw=writer.stats.data_added_raw,
        total_duration=clock.monotonic() - t0,
        dry_run=options.dry_run,
        warnings=tuple(archiver.stats.warnings),
        requests=repo.requests.snapshot(),
        locks_extended=extended,
        notices=tuple(archiver.stats.notices),
        missing_packs=len(lost_packs),
        blobs_healed=sum(1 for btype, bid in lost_blobs if repo.index.has(btype, bid)),
    )
