"""rewrite: remove paths from existing snapshots (restic's ``rewrite``), e.g. a secret backed
up by mistake. Plan (the tree walk, ops/rewrite_trees.py), then execute.

For each selected snapshot whose trees hold a path the exclude patterns match, the rewritten
trees are stored through the blob writer (packs, then their index files) and a successor
snapshot is committed as a backup commits (archiver/commit.py): the original's time, host,
paths, tags and summary, the new tree, ``original`` naming the lineage (ops/successor.py), and
the tag ``rewrite`` unless ``forget``. With ``forget`` the originals are removed once every
successor is stored; then a prune frees the data only they used, the excluded files' content
with it. Under the maintenance lease (restic takes an exclusive lock): no prune runs meanwhile.

Refused per snapshot, never written in part: a snapshot with a tree that does not load
(*damaged*: the walk cannot tell whether the unread part holds what is to be removed), and one
every path of which would be removed (*empty*: forget it instead). ``dry_run`` walks and
reports, writes nothing, takes no lease and writes no audit record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from s3vault.archiver.commit import commit
from s3vault.archiver.excludes import ExcludeRules
from s3vault.backend.accounting import RequestCounts
from s3vault.clock import Clock, SystemClock
from s3vault.crashpoint import crash_point
from s3vault.errors import ExitCode, UsageError
from s3vault.format import codec
from s3vault.format.packfile import BlobType
from s3vault.format.snapshotfile import SnapshotFile, SnapshotSummary
from s3vault.format.tree import Tree
from s3vault.ids import ObjectId
from s3vault.ops.audit import audited
from s3vault.ops.records import refuse_bare_strings
from s3vault.ops.rewrite_trees import Removed, TreeFilter
from s3vault.ops.selection import select_snapshots
from s3vault.ops.snapshots import SnapshotFilter
from s3vault.ops.successor import (
    locked_until,
    protect_successors,
    remove_original,
    stored_as,
    successor,
)
from s3vault.progress import NullProgress, Progress
from s3vault.repository.lease import LeaseSettings, lease_class
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import list_snapshots
from s3vault.tags import TagList, tag_lists

REWRITE_TAG = "rewrite"


@dataclass(frozen=True, slots=True, kw_only=True)
class RewriteOptions:
    """Which snapshots (``snapshot_ids``, or the filters; all when neither is given), what to
    remove from them (backup's exclude rules: ``excludes``, ``exclude_files`` with ``$VAR``
    expanded from ``exclude_environ``), and whether to remove the originals."""

    snapshot_ids: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    tags: tuple[TagList, ...] = ()
    paths: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    exclude_files: tuple[Path, ...] = ()
    iexcludes: tuple[str, ...] = ()  # case-insensitive patterns (restic's --iexclude)
    iexclude_files: tuple[Path, ...] = ()
    exclude_environ: Mapping[str, str] | None = None
    new_host: str | None = None  # restic's --new-host: the successors' host
    new_time: datetime | None = None  # restic's --new-time: the successors' time
    forget: bool = False
    dry_run: bool = False

    def __post_init__(self) -> None:
        refuse_bare_strings(self)
        object.__setattr__(self, "tags", tag_lists(self.tags))

    def rules(self) -> ExcludeRules:
        """The exclude rules, checked (before the repository is opened).

        Raises:
            UsageError: no pattern given, an exclude file cannot be read, a bad pattern.
        """
        metadata = self.new_host is not None or self.new_time is not None
        given = self.excludes or self.exclude_files or self.iexcludes or self.iexclude_files
        if not given and not metadata:
            msg = "rewrite: nothing to do: give --exclude, --iexclude, --new-host or --new-time"
            raise UsageError(msg)
        rules = ExcludeRules.build(
            self.excludes,
            self.exclude_files,
            environ=self.exclude_environ,
            ipatterns=self.iexcludes,
            iexclude_files=self.iexclude_files,
        )
        if given and not any(p.strip() for p in (*rules.patterns, *rules.ipatterns)):
            msg = "rewrite: the exclude files hold no pattern: nothing to do"
            raise UsageError(msg)
        if self.new_host == "":
            raise UsageError("rewrite: --new-host '': give a host name")
        codec.require_text("--new-host", self.new_host or "")
        return rules


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotRewrite:
    """One selected snapshot and what became of it."""

    id: ObjectId
    status: str  # "rewritten", "unchanged" (nothing matched), "damaged", "empty"
    time: datetime
    hostname: str
    paths: tuple[str, ...]
    removed: tuple[Removed, ...] = ()  # what the successor leaves out (or would)
    problem: str = ""  # damaged: which tree does not load, and why
    new_id: ObjectId | None = None  # the successor (None in a dry run)
    resumed: bool = False  # the successor was stored by an interrupted run
    original_removed: bool = False  # forget: the original is gone
    locked_until: float = 0.0  # forget: Object Lock keeps the original until then


@dataclass(frozen=True, slots=True, kw_only=True)
class RewriteResult:
    """What rewrite did (with dry_run: would do) to each selected snapshot."""

    snapshots: tuple[SnapshotRewrite, ...]
    trees_written: int
    dry_run: bool
    forget: bool
    requests: RequestCounts

    @property
    def refused(self) -> tuple[SnapshotRewrite, ...]:
        """The snapshots that hold matching paths but were not rewritten (damaged)."""
        return tuple(s for s in self.snapshots if s.status == "damaged")


def rewrite(
    repo: Repository,
    options: RewriteOptions,
    *,
    lease: LeaseSettings | None = None,
    clock: Clock | None = None,
    progress: Progress | None = None,
) -> RewriteResult:
    """Remove the paths the patterns match from the selected snapshots. Audited unless a dry
    run; under the maintenance lease unless a dry run.

    Raises:
        UsageError: no pattern, a bad pattern or exclude file; an id that names no snapshot or
            several.
        IntegrityError: an id names a snapshot file that cannot be read; data the rewrite
            relied on was pruned meanwhile (no successor written).
        LeaseHeldError: a prune holds the maintenance lease.
        BackendError: storage failed (what was stored so far is whole or garbage for prune).
        FormatVersionError: a tree was written by a newer s3vault.
    """
    rules = options.rules()
    clock = clock or SystemClock()
    progress = progress or NullProgress()
    if options.dry_run:
        reader = repo.with_index(repo.read_index())
        plan = _plan(reader, options, rules, progress)
        return _result(repo, plan.reports, 0, options)
    with audited(repo, "rewrite") as note:
        acquire = lease_class(repo).acquire
        with acquire(repo, "rewrite", lease, clock=clock, progress=progress) as held:
            result = _execute(repo, options, rules, clock, progress, held.ensure_fresh)
        note.details.update(
            rewritten={str(s.id): str(s.new_id) for s in result.snapshots if s.new_id is not None},
            removed_paths=sum(len(s.removed) for s in result.snapshots if s.new_id),
            originals_removed=[str(s.id) for s in result.snapshots if s.original_removed],
        )
        if result.refused:
            note.found(ExitCode.DAMAGED, f"{len(result.refused)} snapshot(s) refused")
    return result


@dataclass(slots=True)
class _Plan:
    reports: list[SnapshotRewrite]
    new: dict[ObjectId, tuple[SnapshotFile, SnapshotFile]]  # original id → (original, successor)
    trees: TreeFilter


def _plan(
    repo: Repository, options: RewriteOptions, rules: ExcludeRules, progress: Progress
) -> _Plan:
    filt = SnapshotFilter(hosts=options.hosts, tags=options.tags, paths=options.paths)
    selected = select_snapshots(repo, options.snapshot_ids, filt, command="rewrite")
    trees = TreeFilter(repo, rules.matcher())
    empty = repo.sealer.blob_id(Tree().encode())
    plan = _Plan(reports=[], new={}, trees=trees)
    progress.started("rewrite", total_files=len(selected))
    for sid, snap in selected:
        root, damaged = trees.filter(snap.tree, sid)
        base = SnapshotRewrite(
            id=sid, status="unchanged", time=snap.time, hostname=snap.hostname, paths=snap.paths
        )
        if damaged is not None:
            path, why = damaged
            problem = f"the tree of {path} cannot be read: {why}"
            plan.reports.append(replace(base, status="damaged", problem=problem))
            progress.warned(f"snapshot {sid.short}", f"not rewritten: {problem}")
        elif root == snap.tree and not _new_metadata(options, snap):
            plan.reports.append(base)
        else:
            removed = tuple(trees.removed(snap.tree))
            status = "empty" if root == empty or _all_gone(snap.paths, removed) else "rewritten"
            plan.reports.append(replace(base, status=status, removed=removed))
            if status == "rewritten":
                tags = snap.tags
                if not options.forget and REWRITE_TAG not in tags:
                    tags = (*tags, REWRITE_TAG)
                new = successor(
                    repo,
                    sid,
                    snap,
                    tree=root,
                    tags=tags,
                    hostname=options.new_host or snap.hostname,
                    time=options.new_time or snap.time,
                    summary=_summary(snap, *trees.totals(snap.tree)),
                )
                plan.new[sid] = (snap, new)
        progress.advanced(files=1, item=sid.short)
    progress.finished("rewrite")
    return plan


def _summary(snap: SnapshotFile, files: int, size: int) -> SnapshotSummary:
    """The rewritten snapshot's summary: the original's, counting the files and bytes its
    new tree holds (restic 0.17's rewrite does: `snapshots` showed the removed files' size);
    the rest says what the backup did and stays."""
    return replace(snap.summary, total_files_processed=files, total_bytes_processed=size)


def _new_metadata(options: RewriteOptions, snap: SnapshotFile) -> bool:
    """Whether --new-host or --new-time changes this snapshot."""
    host = options.new_host is not None and options.new_host != snap.hostname
    return host or (options.new_time is not None and options.new_time != snap.time)


def _all_gone(paths: tuple[str, ...], removed: tuple[Removed, ...]) -> bool:
    """Whether every backed-up path is among the removed ones or below one."""
    gone = {r.path for r in removed}
    for path in paths:
        parts = path.rstrip("/").split("/")
        if not any("/".join(parts[:n]) in gone for n in range(2, len(parts) + 1)):
            return False
    return True


def _execute(
    repo: Repository,
    options: RewriteOptions,
    rules: ExcludeRules,
    clock: Clock,
    progress: Progress,
    check_lease: Callable[[], None],
) -> RewriteResult:
    index_read_at = clock.monotonic()
    reader = repo.with_index(repo.read_index())  # under the lease: sees what a prune did
    target = repo.with_index(repo.read_index(with_marked=False))  # never dedup against marks
    plan = _plan(reader, options, rules, progress)
    writer = target.blob_writer()
    written = 0
    # only the trees of the snapshots rewritten (not those of a damaged or emptied one)
    needed = {tid for snap, _new in plan.new.values() for tid in plan.trees.rewritten(snap.tree)}
    for tid in sorted(needed):
        written += writer.save(BlobType.TREE, plan.trees.new_trees[tid], tid)[1]
    listed = list_snapshots(repo) if plan.new else []
    stored: dict[ObjectId, tuple[ObjectId, bool]] = {}  # original → (successor, resumed)
    fresh = []
    for sid, (_snap, new) in plan.new.items():
        found = stored_as(new, listed)
        resumed = found is not None
        if found is None:
            found = commit(target, writer, new, clock=clock, index_read_at=index_read_at)
            fresh.append((found, new))
        stored[sid] = (found, resumed)
    writer.flush()
    protect_successors(repo, fresh)
    locked = locked_until(repo, stored) if options.forget else {}
    reports = []
    removing = [r.id for r in plan.reports if options.forget and r.id in stored]
    removing = [sid for sid in removing if sid not in locked]
    for report in plan.reports:
        if report.id not in stored:
            reports.append(report)
            continue
        new_id, resumed = stored[report.id]
        gone = options.forget and report.id not in locked
        if gone:
            crash_point("rewrite-before-remove")
            check_lease()
            after = removing[removing.index(report.id) + 1 :]
            remove_original(repo, report.id, new_id, command="rewrite", left=after)
        done = replace(report, new_id=new_id, resumed=resumed, original_removed=gone)
        reports.append(replace(done, locked_until=locked.get(report.id, 0.0)))
    return _result(repo, reports, written, options)


def _result(
    repo: Repository, reports: list[SnapshotRewrite], written: int, options: RewriteOptions
) -> RewriteResult:
    return RewriteResult(
        snapshots=tuple(reports),
        trees_written=written,
        dry_run=options.dry_run,
        forget=options.forget,
        requests=repo.requests.snapshot(),
    )
