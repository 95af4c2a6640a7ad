"""tag: add, remove or set the tags of snapshots (restic's ``tag``).

A snapshot file is immutable and named by the hash of its bytes, so changing its tags writes a
successor (a new snapshot file, a new id, ``original`` naming the lineage) and removes the
original once the successor is stored (ops/successor.py: a kill leaves both, whole; running the
command again finishes it). Time, host, paths, tree and summary stay; the group tag in the
name stays too (it depends on host and paths only). Runs under the maintenance lease, as
restic's tag takes an exclusive lock: no prune runs meanwhile, so none can free what a
successor needs after a concurrent ``forget`` removed its original.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from s3vault.backend.accounting import RequestCounts
from s3vault.clock import Clock
from s3vault.crashpoint import crash_point
from s3vault.errors import UsageError
from s3vault.format import codec
from s3vault.ids import ObjectId
from s3vault.ops.audit import audited
from s3vault.ops.records import refuse_bare_strings
from s3vault.ops.selection import select_snapshots
from s3vault.ops.snapshots import SnapshotFilter
from s3vault.ops.successor import (
    protect_successors,
    refuse_locked,
    remove_original,
    stored_as,
    successor,
)
from s3vault.progress import Progress
from s3vault.repository.lease import LeaseSettings, lease_class
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import list_snapshots, save_snapshot
from s3vault.tags import TagList, flatten, tag_lists


def _tags(values: Sequence[str | Sequence[str]]) -> tuple[str, ...]:
    """Option values as tags: commas split (``"a,b"`` is a and b), empty tags dropped."""
    return flatten(tag_lists(values))


@dataclass(frozen=True, slots=True, kw_only=True)
class TagOptions:
    """Which snapshots (``snapshot_ids``, or the filters ``hosts``/``tags``/``paths``; all
    when neither is given) and what to do with their tags. A string in ``add``, ``remove``,
    ``set_tags`` is split at commas, as on the command line. ``set_tags``: None leaves the
    tags to ``add``/``remove``; ``()`` (``--set ''``) removes every tag."""

    snapshot_ids: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    tags: tuple[TagList, ...] = ()
    paths: tuple[str, ...] = ()
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    set_tags: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        refuse_bare_strings(self)
        object.__setattr__(self, "tags", tag_lists(self.tags))
        object.__setattr__(self, "add", _tags(self.add))
        object.__setattr__(self, "remove", _tags(self.remove))
        if self.set_tags is not None:
            object.__setattr__(self, "set_tags", _tags(self.set_tags))

    def check(self) -> None:
        """What can be refused before the repository is opened.

        Raises:
            UsageError: nothing to do, ``set_tags`` given with ``add``/``remove``, or a tag
                to store that is not UTF-8 text.
        """
        if self.set_tags is None and not self.add and not self.remove:
            msg = "tag: nothing to do: give --add, --remove or --set"
            raise UsageError(msg)
        if self.set_tags is not None and (self.add or self.remove):
            msg = "tag: --set replaces every tag; it does not go with --add or --remove"
            raise UsageError(msg)
        for option, tags in (("--set", self.set_tags or ()), ("--add", self.add)):
            for one in tags:
                codec.require_text(option, one)

    def apply(self, tags: tuple[str, ...]) -> tuple[str, ...]:
        """The tags a snapshot has after this change (order kept, each tag once)."""
        if self.set_tags is not None:
            return self.set_tags
        kept = [t for t in dict.fromkeys(tags) if t not in self.remove]
        return (*kept, *(t for t in self.add if t not in kept and t not in self.remove))


@dataclass(frozen=True, slots=True, kw_only=True)
class TagChange:
    """One snapshot whose tags changed: its successor replaces it."""

    original_id: ObjectId
    new_id: ObjectId
    time: datetime
    hostname: str
    paths: tuple[str, ...]
    old_tags: tuple[str, ...]
    new_tags: tuple[str, ...]
    resumed: bool = False  # the successor was stored by an interrupted run: only removed


@dataclass(frozen=True, slots=True, kw_only=True)
class TagResult:
    """What tag changed, and which selected snapshots already had the tags asked for."""

    changed: tuple[TagChange, ...]
    unchanged: tuple[ObjectId, ...]
    requests: RequestCounts


def tag(
    repo: Repository,
    options: TagOptions,
    *,
    lease: LeaseSettings | None = None,
    clock: Clock | None = None,
    progress: Progress | None = None,
) -> TagResult:
    """Change the tags of the selected snapshots, under the maintenance lease. Audited.

    Each changed snapshot gets a successor with the new tags, stored before the original is
    removed. A snapshot that already has the tags asked for is left as it is.

    Raises:
        UsageError: nothing to do; an id that names no snapshot or several; Object Lock holds
            a snapshot that would change (nothing is written then).
        IntegrityError: an id names a snapshot file that cannot be read.
        LeaseHeldError: a prune holds the maintenance lease.
        BackendError: storage failed (AccessDeniedError: a read-only store); what was stored
            so far is whole.
    """
    options.check()
    with audited(repo, "tag") as note:
        acquire = lease_class(repo).acquire
        with acquire(repo, "tag", lease, clock=clock, progress=progress) as held:
            result = _tag(repo, options, check_lease=held.ensure_fresh)
        note.details.update(
            changed={str(c.original_id): str(c.new_id) for c in result.changed},
            unchanged=len(result.unchanged),
        )
    return result


def _tag(repo: Repository, options: TagOptions, *, check_lease: Callable[[], None]) -> TagResult:
    filt = SnapshotFilter(hosts=options.hosts, tags=options.tags, paths=options.paths)
    selected = select_snapshots(repo, options.snapshot_ids, filt, command="tag")
    todo = [(sid, snap) for sid, snap in selected if options.apply(snap.tags) != snap.tags]
    unchanged = tuple(sid for sid, snap in selected if options.apply(snap.tags) == snap.tags)
    refuse_locked(repo, [sid for sid, _ in todo], command="tag")
    listed = list_snapshots(repo) if todo else []
    changed: list[TagChange] = []
    stored = []
    for sid, snap in todo:
        new = successor(repo, sid, snap, tags=options.apply(snap.tags))
        new_id = stored_as(new, listed)
        if new_id is None:
            new_id = save_snapshot(repo, new)
            stored.append((new_id, new))
            resumed = False
        else:
            resumed = True
        changed.append(
            TagChange(
                original_id=sid,
                new_id=new_id,
                time=snap.time,
                hostname=snap.hostname,
                paths=snap.paths,
                old_tags=snap.tags,
                new_tags=new.tags,
                resumed=resumed,
            )
        )
    protect_successors(repo, stored)
    # Every successor is stored (and locked as long as a backup would be): now the originals.
    for n, change in enumerate(changed):
        crash_point("tag-before-remove")
        check_lease()
        after = [c.original_id for c in changed[n + 1 :]]
        remove_original(repo, change.original_id, change.new_id, command="tag", left=after)
    return TagResult(changed=tuple(changed), unchanged=unchanged, requests=repo.requests.snapshot())
