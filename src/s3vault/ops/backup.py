"""backup: make a snapshot of paths (or of standard input)."""

from __future__ import annotations

import getpass
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, cast

from s3vault.archiver.commit import commit
from s3vault.archiver.excludes import ExcludeRules
from s3vault.archiver.pipeline import ArchiveOptions, Archiver
from s3vault.backend.accounting import RequestCounts
from s3vault.backend.dryrun import DryRunBackend
from s3vault.backend.objectlock import LockPolicy
from s3vault.chunker import ByteStream
from s3vault.clock import Clock, SystemClock
from s3vault.errors import UsageError
from s3vault.format.snapshotfile import SnapshotFile, SnapshotSummary
from s3vault.ids import ObjectId
from s3vault.maintenance.immutability import protect, save_known
from s3vault.progress import NullProgress, Progress
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import find_snapshot, list_snapshots
from s3vault.version import __version__


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
    stdin: BinaryIO | None = None
    stdin_filename: str = "stdin"
    parent: str | None = None
    force: bool = False  # ignore the parent: read every file
    time: datetime | None = None  # the snapshot's time (imports); default: when it starts
    root: str | None = None  # read the paths inside this directory, record them below "/"
    dry_run: bool = False
    readers: int = 0  # 0: from the CPU count
    blob_workers: int = 0


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
    locks_extended: int = 0  # Object Lock: older objects whose retention this snapshot extended
    notices: tuple[tuple[str, str], ...] = ()  # repository damage this run worked around
    missing_packs: int = 0  # packs the index names that the store no longer has
    blobs_healed: int = 0  # blobs of those packs this run stored again

    @property
    def incomplete(self) -> bool:
        """Some source could not be read as it was."""
        return bool(self.warnings)


def _targets(
    paths: tuple[str, ...], root: bytes | None, missing: list[tuple[str, str]]
) -> tuple[bytes, ...]:
    """The paths to record (absolute); with a root they lie below it, whatever they say. Paths
    that do not exist go to ``missing`` (the backup warns and exits 3, as restic does).

    Raises:
        UsageError: none of them exists.
    """
    out = []
    for path in paths:
        if root is None:
            recorded = os.path.abspath(os.fsencode(path))
        else:
            recorded = os.path.normpath(b"/" + os.fsencode(path).lstrip(b"/"))
        if not os.path.lexists((root or b"") + recorded):
            missing.append((path, "does not exist, skipping"))
            continue
        out.append(recorded)
    if not out:
        msg = "nothing to back up: none of the given paths exist"
        raise UsageError(msg)
    return tuple(out)


def check_stdin_filename(name: str) -> None:
    """A --stdin-filename must be a relative path that restores inside any target.

    Raises:
        UsageError: empty, absolute, with NUL, or with an empty, "." or ".." component.
    """
    parts = name.split("/")
    if not name or "\0" in name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        msg = (
            f"--stdin-filename {name!r}: give a relative path such as mydb.sql or "
            "dumps/mydb.sql (no leading /, no empty, '.' or '..' parts, no NUL)"
        )
        raise UsageError(msg)


def _sources(
    options: BackupOptions, missing: list[tuple[str, str]]
) -> tuple[tuple[bytes, ...], tuple[str, ...], bytes | None]:
    """(paths to record, the same as text, the directory they are read below)."""
    if options.stdin is not None:
        check_stdin_filename(options.stdin_filename)
        return (), ("/" + options.stdin_filename,), None
    root = None
    if options.root is not None:
        root = os.path.abspath(os.fsencode(options.root)).rstrip(b"/")
        if not os.path.isdir(root or b"/"):
            msg = f"--root {options.root}: not a directory"
            raise UsageError(msg)
    targets = _targets(options.paths, root, missing)
    return targets, tuple(os.fsdecode(t) for t in targets), root


def _workers(configured: int, default: int) -> int:
    return configured if configured > 0 else default


def _protect(repo: Repository, snapshot: SnapshotFile, snapshot_id: ObjectId) -> int:
    """Object Lock: what the new snapshot needs stays locked for the policy's period."""
    if repo.retention is None:
        return 0
    now = repo.backend.server_time()
    period = LockPolicy.from_dict(repo.config.object_lock).period
    extended = protect(repo, repo.retention, snapshot, snapshot_id, now, period)
    save_known(repo, repo.retention, now)
    return extended


def backup(
    repo: Repository,
    options: BackupOptions,
    *,
    progress: Progress | None = None,
    clock: Clock | None = None,
) -> BackupResult:
    """Back up the paths into a new snapshot (it loads the index itself: the view without the
    packs prune has marked).

    Raises:
        UsageError: no paths (and no stdin), none exist, or an unknown parent.
        BackendError, IntegrityError: storage failed; no snapshot was written.
    """
    progress = progress or NullProgress()
    clock = clock or SystemClock()
    start, t0 = clock.now(), clock.monotonic()
    if options.stdin is None and not options.paths:
        msg = "backup needs at least one path (or --stdin)"
        raise UsageError(msg)
    missing: list[tuple[str, str]] = []
    targets, shown_paths, root = _sources(options, missing)
    for path, problem in missing:
        progress.warned(path, problem)
    host = options.host or socket.gethostname()

    parent_id: ObjectId | None = None
    parent_tree: ObjectId | None = None
    psnap: SnapshotFile | None = None
    if not options.force:
        snaps = list_snapshots(repo)
        try:
            if options.parent:
                parent_id, psnap = find_snapshot(repo, options.parent, snapshots=snaps)
            else:
                parent_id, psnap = find_snapshot(
                    repo, "latest", host=host, paths=shown_paths, snapshots=snaps
                )
            parent_tree = psnap.tree
        except UsageError:
            if options.parent:
                raise

    # The index without the packs prune has marked: never deduplicate against those.
    index_read_at = clock.monotonic()
    repo.load_index(with_marked=False)
    # Packs the index names but the store lost: whatever this snapshot needs from them is
    # stored again (the repository heals), never deduplicated against what is gone.
    lost_packs, lost_blobs = repo.forget_missing_packs()
    if lost_packs:
        progress.warned(
            "repository",
            f"{len(lost_packs)} pack(s) named by the index are missing from the store "
            f"({len(lost_blobs)} blobs without another copy): what this snapshot needs of them "
            "is stored again; `s3vault verify` names the older snapshots that lost data",
        )
    dry = DryRunBackend(repo.backend) if options.dry_run else None
    if dry is not None:
        repo = Repository(
            backend=dry, config=repo.config, sealer=repo.sealer, key_id=repo.key_id, cache_dir=None
        ).with_index_of(repo)
        repo.requests = RequestCounts()  # a dry run sends no writes
    writer = repo.blob_writer()
    cpus = os.cpu_count() or 2
    archiver = Archiver(
        repo,
        writer,
        ArchiveOptions(
            paths=targets,
            root=root or b"",
            excludes=ExcludeRules.build(
                options.excludes,
                options.exclude_files,
                environ=options.exclude_environ,
                exclude_caches=options.exclude_caches,
                one_file_system=options.one_file_system,
            ),
            stdin=cast("ByteStream | None", options.stdin),
            stdin_filename=os.fsencode(options.stdin_filename),
            stdin_mtime_ns=int((options.time or start).timestamp() * 1e9),
            readers=_workers(options.readers, max(2, cpus)),
            blob_workers=_workers(options.blob_workers, cpus + 1),
        ),
        parent_tree=parent_tree,
        progress=progress,
    )
    # The parent's totals are a good estimate for an ETA; a first backup shows none.
    estimate = psnap.summary if psnap is not None else SnapshotSummary()
    progress.started(
        "backup",
        total_files=estimate.total_files_processed,
        total_bytes=estimate.total_bytes_processed,
    )
    archiver.stats.warnings.extend(missing)
    tree_id = archiver.run()
    writer.flush()  # every pack and index written, so the counts below are final
    stats = archiver.stats
    end = clock.now()
    counts = {
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
    snapshot = SnapshotFile(
        time=options.time or start,
        tree=tree_id,
        paths=shown_paths,
        hostname=host,
        username=getpass.getuser(),
        tags=tuple(options.tags),
        parent=parent_id,
        excludes=tuple(options.excludes),
        program_version=f"s3vault {__version__}",
        incomplete=bool(stats.warnings),
        summary=SnapshotSummary(
            **counts, backup_start=start.isoformat(), backup_end=end.isoformat()
        ),
    )
    snapshot_id = commit(repo, writer, snapshot, clock=clock, index_read_at=index_read_at)
    extended = _protect(repo, snapshot, snapshot_id) if dry is None else 0
    progress.finished("backup")
    return BackupResult(
        **counts,
        snapshot_id=None if dry is not None else snapshot_id,
        parent_id=parent_id,
        data_added_raw=writer.stats.data_added_raw,
        total_duration=clock.monotonic() - t0,
        dry_run=dry is not None,
        warnings=tuple(stats.warnings),
        requests=repo.requests.snapshot(),
        locks_extended=extended,
        notices=tuple(stats.notices),
        missing_packs=len(lost_packs),
        blobs_healed=sum(1 for btype, bid in lost_blobs if repo.index.has(btype, bid)),
    )
