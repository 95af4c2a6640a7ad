"""restore: write a snapshot (or part of it) into a target directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from s3vault.backend.accounting import RequestCounts
from s3vault.clock import Clock, SystemClock
from s3vault.ids import ObjectId
from s3vault.ops.audit import audited
from s3vault.progress import NullProgress, Progress
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import find_snapshot
from s3vault.restorer.plan import plan_restore
from s3vault.restorer.restorer import Restorer


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreOptions:
    """What to restore where."""

    snapshot: str = "latest"
    target: Path
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    host: str | None = None
    workers: int = 4


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

    Audited (its reads count).

    Raises:
        UsageError: unknown snapshot.
        RestoreError: the target cannot be used or cannot take more (disk full, read-only).
    """
    with audited(repo, "restore", snapshot=options.snapshot, target=str(options.target)):
        return _restore(repo, options, progress=progress, clock=clock)


def _restore(
    repo: Repository, options: RestoreOptions, *, progress: Progress | None, clock: Clock | None
) -> RestoreResult:
    clock = clock or SystemClock()
    t0 = clock.monotonic()
    sid, snap = find_snapshot(repo, options.snapshot, host=options.host)
    target = os.fsencode(os.path.abspath(options.target))
    repo.forget_missing_packs()  # a blob stored again elsewhere is read from there
    plan = plan_restore(repo, snap.tree, include=options.include, exclude=options.exclude)
    outcome = Restorer(
        repo, plan, workers=options.workers, progress=progress or NullProgress()
    ).run(target)
    warnings = [*outcome.warnings, *outcome.skipped]
    if plan.empty and not (plan.errors or plan.refused) and (options.include or options.exclude):
        warnings.append(("/", f"nothing in snapshot {sid.short} matches {_filters(options)}"))
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
    )


def _filters(options: RestoreOptions) -> str:
    """The filters for a message: --include 'a' --exclude 'b'."""
    words = [f"--include {p!r}" for p in options.include]
    words += [f"--exclude {p!r}" for p in options.exclude]
    return " ".join(words) + ": nothing was restored"
