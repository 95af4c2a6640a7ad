"""backup with a put-only key (design.md §6a): a backup host adds a snapshot it cannot read
back, and reads nothing else of the repository.

    open   the put-only key file and the config's view (repository/putrepo.py)
    state  the newest state of this key: the parent's trees and the host's own blob ids
    walk   the serial archiver over a view that serves the parent from the state
    store  packs sealed to X_e under the run's ephemeral key, index files of version 2
    commit the snapshot (a version 2 envelope), then the new state

A kill before the snapshot leaves only packs and index files no snapshot references (prune's
garbage) and the old state, so the next run reads the files again; a kill between the snapshot
and the state leaves the older state, whose snapshot is still stored: the next run compares
with it. It deduplicates against its state and the endorsed views of full keys' index files,
not against other put-only hosts' packs (claimed views). Under Object Lock every object it
stores is locked, and the older packs its snapshot needs are extended as a full-key backup's
(maintenance/putlocks.py). Not built yet: host-keyed snapshot group tags (the snapshot is
stored under an untagged name, which every reader reads), the revalidation of a run longer
than half the prune grace.
"""

from __future__ import annotations

import socket
from dataclasses import replace

from s3vault.archiver.pipeline import Archiver
from s3vault.backend.accounting import RequestCounts
from s3vault.backend.stack import stack_for
from s3vault.clock import Clock, SystemClock
from s3vault.errors import ExitCode, S3VaultError, UsageError
from s3vault.format.auditfile import AuditRecord
from s3vault.format.hoststatefile import HostStateFile
from s3vault.format.layout import ObjectKind
from s3vault.format.snapshotfile import SnapshotFile, SnapshotSummary
from s3vault.ids import ObjectId
from s3vault.maintenance.putlocks import PutLocks, adopt, state_blobs
from s3vault.ops.backup import (
    BackupOptions,
    BackupResult,
    _archive_options,
    _counts,
    _exclude_rules,
    _sources,
    audit_details,
    measure,
    partial_result,
)
from s3vault.ops.session import RepoOptions
from s3vault.ops.whoami import user_name
from s3vault.progress import NullProgress, Progress
from s3vault.repository.putrepo import PutOnlyRepository, open_put_only
from s3vault.repository.putstate import (
    PutArchiveView,
    append_audit,
    endorsed_blobs,
    listed_packs,
    load_state_seq,
    own_packs,
    save_state,
    snapshot_trees,
)
from s3vault.repository.repository import Repository
from s3vault.version import __version__

UNNAMED_PACKS = (
    "the host's state names blobs whose packs it cannot name (its cache has no record of "
    "them: a new cache, or its first backup under Object Lock), so it could not keep them "
    "locked: every file was read again, and what no full key's pack holds stored again "
    "under fresh locks"
)


def open_put_only_repository(options: RepoOptions) -> PutOnlyRepository:
    """Open the repository at ``options.url`` with the put-only key file its password (or,
    with an empty password, KMS) opens: the backend stack as for every command, the settings
    from the config's view.

    Raises:
        RepositoryNotFoundError, NotARepositoryError: nothing usable at the location.
        KeyError_: no put-only key file opens, or the repository is at format version 1.
        IntegrityError: the config's view is not this repository's.
    """
    kms = None
    if not options.password:
        from s3vault.cloud.kms import KmsService  # boto3 only when KMS is used

        kms = KmsService(options.backend)
    stack = stack_for(options.url, options.backend)
    backend = stack.backend
    put = open_put_only(
        backend,
        Repository.read_marker(backend),
        options.password,
        kms=kms,
        cache_dir=options.cache_dir,
        key_hint=options.key_hint,
    )
    return replace(put, requests=stack.counts, cache_dir=options.cache_dir)


def backup_put_only(
    put: PutOnlyRepository,
    options: BackupOptions,
    *,
    progress: Progress | None = None,
    clock: Clock | None = None,
) -> BackupResult:
    """Back up the paths into a new snapshot with a put-only key: unchanged files (by the
    host's own state) are not read, their blobs not stored again. Audited: a record in the
    host's chain (design.md §8b) whatever the outcome, once the key opened.

    Raises:
        UsageError: a host name other than the key's, --dry-run or --parent, no paths.
        BackendError, IntegrityError: storing failed; no snapshot was written.
    """
    clock = clock or SystemClock()
    progress = progress or NullProgress()
    code, outcome, details = ExitCode.INTERRUPTED, "interrupted", {}
    try:
        result = _backup_put_only(put, options, progress=progress, clock=clock)
        code = ExitCode.PARTIAL if result.incomplete else ExitCode.OK
        outcome = partial_result(result) if result.incomplete else "ok"
        details = audit_details(result)
    except S3VaultError as exc:
        code, outcome = exc.exit_code, str(exc)
        raise
    finally:
        _audit(put, code, outcome, details, clock, progress)
    measure(result)  # as a full-key backup's (not the stored size: it cannot see it)
    return result


def _audit(
    put: PutOnlyRepository,
    code: int,
    outcome: str,
    details: dict[str, object],
    clock: Clock,
    progress: Progress,
) -> None:
    """Append the backup's audit record; a store that refuses it changes nothing but a
    warning (design.md §8b)."""
    record = AuditRecord(
        seq=0,
        prev=None,
        time=clock.now(),
        hostname=put.host,
        username=user_name(),
        operation="backup",
        key_id=put.keyfile.id.hex(),
        arguments=(),
        exit_code=code,
        result=outcome,
        details={**details, "access": "put-only"},
        program_version=f"s3vault {__version__}",
    )
    try:
        append_audit(put, record)
    except S3VaultError as exc:
        progress.warned("audit", f"the audit record was not written: {exc}")


def _backup_put_only(
    put: PutOnlyRepository, options: BackupOptions, *, progress: Progress, clock: Clock
) -> BackupResult:
    """The backup itself (``backup_put_only`` audits it)."""
    locks = adopt(put)  # Object Lock: every object stored from here on (the audit's too)
    start, t0 = clock.now(), clock.monotonic()
    host = options.host or socket.gethostname()
    if host != put.host:
        msg = f"this put-only key writes snapshots for host {put.host!r}, not {host!r} (--host)"
        raise UsageError(msg)
    if options.dry_run or options.parent:
        given = "--dry-run" if options.dry_run else "--parent"
        msg = f"{given} is not available with a put-only key (it reads the repository)"
        raise UsageError(msg)
    excludes = _exclude_rules(options)
    missing: list[tuple[str, str]] = []
    targets, shown_paths, root = _sources(options, missing)
    for path, problem in missing:
        progress.warned(path, problem)
    state, opened = load_state_seq(put, on_skip=progress.warned)
    parent = state if state is not None and state.paths == shown_paths else None
    trusted = None if options.force else state  # --force: no blob of the state trusted
    listed = listed_packs(put)  # the one LIST of packs: the state's own and the views'
    # a blob of the state whose own pack is not listed (lost) is stored again: healed
    view = PutArchiveView(put, trusted, listed, on_lost=progress.warned)
    parent = None if options.force else parent
    endorsed_blobs(put, view.index, on_skip=progress.warned, packs=listed)  # other writers'
    notices = _unused_jobs(options, progress)
    if locks is not None and not _lockable(locks, listed, trusted, view, progress):
        view, parent, notices = PutArchiveView(put, None), None, [("object lock", UNNAMED_PACKS)]
        endorsed_blobs(put, view.index, on_skip=progress.warned, packs=listed)
    before = {p for p, _ in view.index.packs()}
    writer = put.blob_writer(view.index)
    archiver = Archiver(
        view,
        writer,
        _archive_options(options, targets, root, start, excludes),
        parent_tree=parent.tree if parent is not None else None,
        progress=progress,
    )
    progress.started("backup", total_files=0, total_bytes=0)
    archiver.stats.warnings.extend(missing)
    archiver.stats.notices.extend(notices)
    tree_id = archiver.run()
    writer.flush()  # every pack and index file stored before the snapshot names them
    counts = _counts(archiver, writer)
    snapshot = SnapshotFile(
        time=options.time or start,
        tree=tree_id,
        paths=shown_paths,
        hostname=host,
        username=user_name(),
        tags=tuple(options.tags),
        parent=parent.snapshot if parent is not None else None,
        excludes=tuple(options.excludes),
        program_version=f"s3vault {__version__}",
        incomplete=bool(archiver.stats.warnings),
        summary=SnapshotSummary(
            **counts, backup_start=start.isoformat(), backup_end=clock.now().isoformat()
        ),
    )
    snapshot_id = put.save_file(ObjectKind.SNAPSHOTS, snapshot.encode(), put.sealer())
    known = {**(state.trees if state is not None else {}), **writer.trees}
    trees = _store_state(put, (snapshot_id, opened), snapshot, (known, view), progress)
    extended = _protect(put, locks, (snapshot_id, trees), view, before, progress) if locks else 0
    progress.finished("backup")
    return BackupResult(
        **counts,
        snapshot_id=snapshot_id,
        parent_id=snapshot.parent,
        data_added_raw=writer.stats.data_added_raw,
        total_duration=clock.monotonic() - t0,
        dry_run=False,
        skipped=False,
        warnings=tuple(archiver.stats.warnings),
        requests=put.requests.snapshot() if put.requests is not None else RequestCounts(),
        notices=tuple(archiver.stats.notices),
        locks_extended=extended,
    )


def _unused_jobs(options: BackupOptions, progress: Progress) -> list[tuple[str, str]]:
    """The notices a put-only backup starts with: --jobs above 1 is not used (it backs up in
    one process; an attack pass: --jobs 8 was taken without a word)."""
    if options.jobs <= 1:
        return []
    notice = ("--jobs", "a put-only key backs up in one process: --jobs is not used")
    progress.warned(*notice)
    return [notice]


def _lockable(
    locks: PutLocks,
    listed: dict[str, int],
    trusted: HostStateFile | None,
    view: PutArchiveView,
    progress: Progress,
) -> bool:
    """Object Lock: can the host name a listed pack (``listed``, the store's packs before the
    run stored any) for every blob of the state it trusts? If not, it cannot keep those packs
    locked, and trusts no blob of the state (said)."""
    locks.listed = set(listed)
    if trusted is None or locks.covers(state_blobs(trusted.trees), view.index):
        return True
    progress.warned("object lock", UNNAMED_PACKS)
    return False


def _protect(
    put: PutOnlyRepository,
    locks: PutLocks,
    snapshot: tuple[ObjectId, dict[ObjectId, bytes]],
    view: PutArchiveView,
    before: set[ObjectId],
    progress: Progress,
) -> int:
    """Object Lock: extend what the new snapshot (id, trees) needs (``before``: the packs
    known before the run stored any); a store that refuses costs a warning, never the
    snapshot. Returns how many locks were extended."""
    new_packs = {p for p, _ in view.index.packs()} - before
    try:
        return locks.protect(put, snapshot[0], snapshot[1], view.index, new_packs)
    except S3VaultError as exc:
        progress.warned("object lock", f"the older packs' locks were not extended: {exc}")
        return 0


def _store_state(
    put: PutOnlyRepository,
    stored: tuple[ObjectId, int],
    snapshot: SnapshotFile,
    seen: tuple[dict[ObjectId, bytes], PutArchiveView],
    progress: Progress,
) -> dict[ObjectId, bytes]:
    """Store the host's new state (after its snapshot, ``stored``: its id, and the seq of the
    newest state of this key that opened): the snapshot's trees, from the trees the run
    stored or took over from the parent's state, and the host's own packs that hold the
    snapshot's blobs (from the run's view); returns the trees (none when they are not all
    known). A store that refuses it costs the next run time (it reads every file again),
    never this run's snapshot."""
    trees: dict[ObjectId, bytes] = {}
    known, view = seen
    try:
        trees = snapshot_trees(snapshot.tree, known)
        save_state(
            put,
            HostStateFile(
                snapshot=stored[0],
                time=snapshot.time.isoformat(),
                paths=snapshot.paths,
                tree=snapshot.tree,
                trees=trees,
                packs=own_packs(view.index, state_blobs(trees)),
            ),
            after=stored[1],
        )
    except S3VaultError as exc:
        progress.warned(
            "state",
            f"the host's state was not stored ({exc}): the next backup reads every file again",
        )
    return trees
