"""restore: write a snapshot (or part of it) into a target directory; with ``verify``, read
every restored file back and check it against the snapshot's content hash."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from s3vault import collector
from s3vault.backend.accounting import RequestCounts
from s3vault.clock import Clock, SystemClock
from s3vault.errors import ExitCode, S3VaultError, UsageError
from s3vault.format import codec
from s3vault.ids import ObjectId
from s3vault.ops.audit import AuditNote, audited, not_written
from s3vault.ops.records import refuse_bare_strings
from s3vault.ops.snapshots import SnapshotFilter, select_snapshot
from s3vault.patterns import read_pattern_file
from s3vault.progress import NullProgress, Progress
from s3vault.repository import ledger as ledgers
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import directory_tree, split_subfolder
from s3vault.restorer.parallel import ParallelRestorer
from s3vault.restorer.plan import Patterns, RestorePlan, plan_restore
from s3vault.restorer.proof import prove_on_disk
from s3vault.restorer.restorer import OVERWRITE, Restorer
from s3vault.workerpool import STALL_AFTER, Watchdog, available, jobs_for


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreOptions:
    """What to restore where. ``host`` and ``select`` (restic's ``--host``, ``--tag``,
    ``--path``) say which snapshot ``latest`` / ``latest~N`` means: the latest among those
    matching; a snapshot named by id must match ``select``. ``verify``: read every restored
    file back afterwards."""

    snapshot: str = "latest"
    target: Path
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    iinclude: tuple[str, ...] = ()  # include and exclude, ignoring case (restic's --i forms)
    iexclude: tuple[str, ...] = ()
    # files of patterns, one a line (restic's --include-file ...; patterns.read_pattern_file)
    include_files: tuple[Path, ...] = ()
    exclude_files: tuple[Path, ...] = ()
    iinclude_files: tuple[Path, ...] = ()
    iexclude_files: tuple[Path, ...] = ()
    pattern_environ: Mapping[str, str] | None = None  # expands $VAR in them (restic)
    host: str | None = None
    select: SnapshotFilter = field(default_factory=SnapshotFilter)
    verify: bool = False
    workers: int = 4
    # worker processes that read, decode and write (restorer/parallel.py); 0: one per core;
    # 1: none, the serial engine
    jobs: int = 0
    worker_timeout: float = STALL_AFTER  # seconds a worker may hold a task and say nothing
    dry_run: bool = False  # plan only: say what would be restored, write nothing (restic 0.17)
    # files already in the target left as they are (restic 0.17's --overwrite): always (those
    # with the snapshot's content), if-changed (its size and mtime), if-newer, never
    overwrite: str = "always"

    def __post_init__(self) -> None:
        refuse_bare_strings(self)
        if self.overwrite not in OVERWRITE:
            msg = f"--overwrite {self.overwrite!r}: one of {', '.join(OVERWRITE)}"
            raise UsageError(msg)


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreResult:
    """What a restore did. ``errors``: (path, reason) of files (or a directory's contents,
    ``path/``) whose data is missing or damaged; ``warnings``: entries refused or not fully
    restored, and a selection that matched nothing."""

    snapshot_id: ObjectId
    target: str
    files_restored: int
    files_skipped: int
    dirs: int
    others: int
    bytes_written: int
    total_bytes: int
    total_duration: float
    errors: tuple[tuple[str, str], ...]
    warnings: tuple[tuple[str, str], ...]
    requests: RequestCounts
    verified: int = 0  # files read back and found as the snapshot has them (``verify``)
    mismatches: tuple[tuple[str, str], ...] = ()  # (path, what differs) found by ``verify``
    dry_run: bool = False  # nothing was written: the counts say what would be restored


def restore(
    repo: Repository,
    options: RestoreOptions,
    *,
    progress: Progress | None = None,
    clock: Clock | None = None,
) -> RestoreResult:
    """Restore a snapshot. The repository's index must be loaded.

    Damage is contained: data that is missing or damaged fails the files (or the directory
    contents) that need it (``errors``); an entry that cannot be restored as the snapshot
    describes it, or that the target refuses, is a warning; everything else is restored.
    Filters that select nothing give a warning too: a script must not believe it restored
    something.

    With ``verify``, every file the plan holds (restored now or found in place) is read back
    and its size and content hash compared with the snapshot's: ``mismatches`` names each one
    that differs or cannot be read (files that failed to restore are ``errors`` already).

    Audited (its reads count).

    Raises:
        UsageError: unknown snapshot, or none matches the filters.
        RestoreError: the target cannot be used or cannot take more (disk full, read-only).
    """
    details = {"verify": True} if options.verify else {}
    with (
        nullcontext(AuditNote("restore"))  # a dry run changes nothing: no record
        if options.dry_run
        else audited(
            repo, "restore", snapshot=options.snapshot, target=str(options.target), **details
        ) as note,
        collector.paused(),  # the plan lives as long as the restore: never worth traversing
    ):
        result = _restore(repo, options, progress=progress, clock=clock)
        damaged = result.errors + result.mismatches
        if damaged:
            note.found(
                ExitCode.DAMAGED,
                f"damage found: {len(damaged)} not restored or restored differently "
                f"(first: {damaged[0][0]}: {damaged[0][1]})",
            )
        elif result.warnings:
            where, why = result.warnings[0]
            note.found(
                ExitCode.PARTIAL,
                f"{len(result.warnings)} warning(s) (first: {where}: {why})",
            )
        return result


def _restore(
    repo: Repository, options: RestoreOptions, *, progress: Progress | None, clock: Clock | None
) -> RestoreResult:
    patterns = _patterns(options)  # a pattern file that cannot be read: before any request
    repo = repo.current(ask_the_store=True)  # what was stored since its index was read
    clock = clock or SystemClock()
    t0 = clock.monotonic()
    progress = progress or NullProgress()
    watchdog = Watchdog(stall_after=options.worker_timeout, clock=clock)
    ref, subfolder = split_subfolder(options.snapshot)
    sid, snap = select_snapshot(repo, ref, options.select, host=options.host)
    repo = repo.covering(snap.tree)  # a snapshot stored since the handle's index was read
    root = snap.tree if subfolder is None else directory_tree(repo, sid, snap.tree, subfolder)
    target = os.fsencode(os.path.abspath(options.target))
    start = repo.tree_reads.mark()  # the tree packs read from the store after it may be proven
    repo.forget_missing_packs()  # a blob stored again elsewhere is read from there
    plan = plan_restore(
        repo,
        root,
        include=patterns.include,
        exclude=patterns.exclude,
        iinclude=patterns.iinclude,
        iexclude=patterns.iexclude,
        snapshot=sid,
    )
    if options.dry_run:
        where = subfolder or "/"
        selected = _selected_nothing(plan, options, patterns, sid, where)
        return _planned(repo, plan, sid, target, clock.monotonic() - t0, selected)
    outcome = make_restorer(
        repo,
        plan,
        jobs=options.jobs,
        workers=options.workers,
        progress=progress,
        watchdog=watchdog,
        overwrite=options.overwrite,
    ).run(target)
    verified, mismatches = (
        _read_back(repo, plan, target, options, progress, watchdog) if options.verify else (0, [])
    )
    whole = not (patterns or outcome.files_skipped or subfolder)
    if (
        options.verify
        and whole
        and not (outcome.errors or mismatches or plan.errors or plan.refused)
    ):
        _record_proofs(repo, snap.tree, clock, start)  # every blob of the snapshot was opened
    where = subfolder or "/"  # SNAPSHOT:PATH: the filters were matched below PATH
    warnings = [
        *outcome.warnings,
        *outcome.skipped,
        *_selected_nothing(plan, options, patterns, sid, where),
    ]
    return RestoreResult(
        snapshot_id=sid,
        target=os.fsdecode(target),
        files_restored=outcome.files_restored,
        files_skipped=outcome.files_skipped,
        dirs=outcome.dirs,
        others=outcome.others,
        bytes_written=outcome.bytes_written,
        total_bytes=plan.total_bytes,
        total_duration=clock.monotonic() - t0,
        errors=tuple(outcome.errors),
        warnings=tuple(warnings),
        requests=repo.requests.snapshot(),
        verified=verified,
        mismatches=tuple(mismatches),
    )


def _read_back(
    repo: Repository,
    plan: RestorePlan,
    target: bytes,
    options: RestoreOptions,
    progress: Progress,
    watchdog: Watchdog,
) -> tuple[int, list[tuple[str, str]]]:
    """``verify``: every file restored read back and compared with the snapshot; how many
    matched, and (path, what differs) of each that did not."""
    checked = [t for t in plan.files if not t.failed]
    progress.started(
        "verify", total_files=len(checked), total_bytes=sum(t.node.size for t in checked)
    )
    mismatches = prove_on_disk(
        plan,
        target,
        repo.sealer.current.id_key,
        workers=options.workers,
        jobs=jobs_for(options.jobs, plan.total_bytes),
        metadata=False,
        progress=progress,
        watchdog=watchdog,
    )
    progress.finished("verify")
    return len(checked) - len(mismatches), mismatches


def _planned(
    repo: Repository,
    plan: RestorePlan,
    sid: ObjectId,
    target: bytes,
    duration: float,
    selected: list[tuple[str, str]],
) -> RestoreResult:
    """What a restore would do (``dry_run``): the plan's counts, nothing written; the data the
    repository lacks is known from the index, damage inside packs only by reading them."""
    return RestoreResult(
        snapshot_id=sid,
        target=os.fsdecode(target),
        files_restored=len(plan.files) + len(plan.hardlinks),
        files_skipped=0,
        dirs=len(plan.dirs),
        others=len(plan.others),
        bytes_written=0,
        total_bytes=plan.total_bytes,
        total_duration=duration,
        errors=tuple(plan.errors),
        warnings=(*plan.refused, *selected),
        requests=repo.requests.snapshot(),
        dry_run=True,
    )


def _selected_nothing(
    plan: RestorePlan, options: RestoreOptions, patterns: Patterns, sid: ObjectId, where: str
) -> list[tuple[str, str]]:
    """The warning of filters that select nothing a restore creates: a script must not
    believe it restored something ("0 files", exit 0, for sockets alone: an attack pass)."""
    if not patterns:
        return []
    if plan.empty and not (plan.errors or plan.refused):
        return [(where, f"nothing in snapshot {sid.short} matches {_filters(options)}")]
    if plan.only_sockets:
        return [
            (
                where,
                f"{_flags(options)} selects only sockets in snapshot {sid.short}, and a socket "
                "is never restored (it belongs to a process that is gone): nothing was restored",
            )
        ]
    return []


def _record_proofs(repo: Repository, tree: ObjectId, clock: Clock, start: int) -> None:
    """The packs holding only blobs of the snapshot go into the verification ledger, tree packs
    only when read from the store since ``start`` (not the local cache); a store that refuses
    is said once."""
    try:
        ledgers.record_covered(
            repo,
            [tree],
            operation="restore --verify",
            hostname=socket.gethostname(),
            now=clock.now(),
            since=start,
        )
    except S3VaultError as exc:
        not_written("the verification ledger file", str(exc))


def make_restorer(
    repo: Repository,
    plan: RestorePlan,
    *,
    jobs: int,
    workers: int,
    progress: Progress,
    watchdog: Watchdog | None = None,
    reuse: bool = True,
    overwrite: str = "always",
) -> Restorer:
    """The serial engine for one job (or where processes cannot be forked), else the process
    pool; ``jobs`` 0: one per core for a large restore, one for a small one (``jobs_for``).
    ``reuse``: leave files the target already holds as the snapshot has them, ``overwrite``
    saying which (Restorer)."""
    jobs = jobs_for(jobs, plan.total_bytes)
    if jobs <= 1 or not available():
        return Restorer(
            repo, plan, workers=workers, progress=progress, reuse=reuse, overwrite=overwrite
        )
    return ParallelRestorer(
        repo,
        plan,
        jobs=jobs,
        workers=workers,
        progress=progress,
        watchdog=watchdog,
        reuse=reuse,
        overwrite=overwrite,
    )


def _patterns(options: RestoreOptions) -> Patterns:
    """The patterns as given, each escape a listing shows read back as find reads them
    (``caf\\xe9``, ``new\\nline``: codec.unshown); matched on the snapshot's names."""

    def read(patterns: tuple[str, ...], files: tuple[Path, ...], flag: str) -> tuple[str, ...]:
        from_files = [
            p
            for path in files
            for p in read_pattern_file(path, options.pattern_environ, what=f"{flag}-file")
        ]
        return tuple(codec.unshown(p) for p in (*patterns, *from_files))

    return Patterns(
        read(options.include, options.include_files, "--include"),
        read(options.exclude, options.exclude_files, "--exclude"),
        read(options.iinclude, options.iinclude_files, "--iinclude"),
        read(options.iexclude, options.iexclude_files, "--iexclude"),
    )


def _filters(options: RestoreOptions) -> str:
    """The filters for a message: --include 'a' --exclude 'b': nothing was restored."""
    return _flags(options) + ": nothing was restored"


def _flags(options: RestoreOptions) -> str:
    """The filters as given: --include 'a' --exclude 'b'."""
    given = (
        ("include", options.include),
        ("exclude", options.exclude),
        ("iinclude", options.iinclude),
        ("iexclude", options.iexclude),
        ("include-file", tuple(map(str, options.include_files))),
        ("exclude-file", tuple(map(str, options.exclude_files))),
        ("iinclude-file", tuple(map(str, options.iinclude_files))),
        ("iexclude-file", tuple(map(str, options.iexclude_files))),
    )
    return " ".join(f"--{flag} {p!r}" for flag, patterns in given for p in patterns)
