"""forget: remove snapshots by a retention policy, or the snapshots named by id (and
optionally prune afterwards)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from s3vault.backend.accounting import RequestCounts
from s3vault.backend.objectlock import LockPolicy
from s3vault.clock import Clock, SystemClock
from s3vault.errors import (
    FormatVersionError,
    IntegrityError,
    LeaseHeldError,
    ObjectNotFoundError,
    UsageError,
)
from s3vault.format.layout import ObjectKind
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId, unique_prefix
from s3vault.maintenance.immutability import protect_kept, save_known, split_locked
from s3vault.maintenance.prune import PruneOptions, grace_of
from s3vault.maintenance.retention import (
    AHEAD,
    Decision,
    Plan,
    Policy,
    apply_policy,
    group_by_keys,
)
from s3vault.ops.audit import AuditNote, audited, measured
from s3vault.ops.prune import PruneResult
from s3vault.ops.prune import prune as prune_repository
from s3vault.ops.records import refuse_bare_strings
from s3vault.ops.snapshots import SnapshotFilter
from s3vault.progress import Progress
from s3vault.repository.lease import Lease, LeaseSettings, lease_class
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import (
    find_snapshot,
    list_snapshots,
    load_snapshot,
)
from s3vault.tags import TagList, tag_lists

if TYPE_CHECKING:
    from s3vault.ops.profiles import Profile

NAMED = "named"  # the group of the snapshots forget ID removes

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ForgetOptions:
    """The policy, which snapshots it applies to, and how they are grouped; or, instead of a
    policy, the snapshots to remove by id (``snapshot_ids``: full ids, unique prefixes, or
    ``latest``/``latest~N``)."""

    policy: Policy = field(default_factory=Policy)
    group_by: tuple[str, ...] = ("host", "paths")
    hosts: tuple[str, ...] = ()
    tags: tuple[TagList, ...] = ()  # restic's tag lists (s3vault.tags; "a,b" is read as one)
    paths: tuple[str, ...] = ()
    snapshot_ids: tuple[str, ...] = ()
    dry_run: bool = False
    allow_remove_all: bool = False

    def __post_init__(self) -> None:
        refuse_bare_strings(self)
        object.__setattr__(self, "tags", tag_lists(self.tags))  # "a,b" given as a string

    def with_profile(self, profile: Profile | None) -> ForgetOptions:
        """A config profile's [retention] table (its rules and group_by) when these options
        give neither rules nor snapshot ids.

        Raises:
            UsageError: the profile's rules cannot be read.
        """
        rules = profile.table("retention") if profile is not None else {}
        if profile is None or not rules or not self.policy.empty or self.snapshot_ids:
            return self
        source = f"profile {profile.name} [retention]"
        policy = Policy.from_options(rules, source=source)
        group_by = rules.get("group_by")
        if group_by is None:
            return replace(self, policy=policy)
        try:
            group_by_keys(split_group_by(str(group_by)))  # refused now, not by the forget step
        except UsageError as exc:
            raise UsageError(f"{source} group_by: {exc}") from None
        return replace(self, policy=policy, group_by=split_group_by(str(group_by)))

    def check(self) -> None:
        """What can be refused before the repository is opened.

        Raises:
            UsageError: snapshot ids mixed with rules.
        """
        if self.snapshot_ids and not self.policy.empty:
            msg = "forget: give snapshot ids or --keep-* rules, not both"
            raise UsageError(msg)

    @property
    def selects(self) -> bool:
        """Whether a filter chooses which snapshots the policy applies to."""
        return bool(self.hosts or self.tags or self.paths)


def split_group_by(text: str) -> tuple[str, ...]:
    """``host,paths`` → ("host", "paths"); ``""`` → one group of all."""
    return tuple(g.strip() for g in text.split(",") if g.strip())


@dataclass(frozen=True, slots=True, kw_only=True)
class ForgetResult:
    """Every decision (kept ones with the rules that kept them) and what was removed."""

    decisions: tuple[Decision, ...]
    removed: int
    dry_run: bool
    requests: RequestCounts
    deferred: tuple[tuple[str, float], ...] = ()  # Object Lock: (snapshot id, locked until)
    locks_extended: int = 0  # objects whose lock a longer-kept snapshot extended
    prune: PruneResult | None = None  # the prune that followed (forget(..., prune=...))


def resolve_snapshot_ids(repo: Repository, refs: tuple[str, ...]) -> list[ObjectId]:
    """The snapshots named by full ids or unique prefixes, from the listing of snapshots/
    (their files are not read, so a damaged one can be named too); ``latest`` and
    ``latest~N`` are resolved among the readable snapshots. Each id once, in the order named.

    Raises:
        UsageError: a reference is not hex, matches nothing, or is ambiguous.
    """
    listed: dict[str, ObjectId] | None = None
    found: dict[ObjectId, None] = {}
    for ref in refs:
        text = ref.strip().lower()
        if text.startswith("latest"):
            found.setdefault(find_snapshot(repo, text, if_unsure="refuse")[0], None)
            continue
        if listed is None:
            listed = {sid.hex(): sid for sid in repo.list_files(ObjectKind.SNAPSHOTS)}
        hint = " (see `s3vault snapshots`)"
        found.setdefault(
            listed[unique_prefix(ref, listed, command="forget", what="snapshot", hint=hint)], None
        )
    return list(found)


def _named_plan(repo: Repository, options: ForgetOptions) -> Plan:
    options.check()
    if options.hosts or options.tags or options.paths:
        msg = "forget: snapshot ids name the snapshots; --host, --tag and --path do not apply"
        raise UsageError(msg)
    plan = Plan()
    for sid in resolve_snapshot_ids(repo, options.snapshot_ids):
        try:
            snap, problem = load_snapshot(repo, sid), ""
        except ObjectNotFoundError:
            continue  # removed between the listing and now
        except (IntegrityError, FormatVersionError) as exc:
            snap, problem = None, str(exc)
        plan.decisions.append(
            Decision(id=sid, snapshot=snap, group=NAMED, keep=False, problem=problem)
        )
    return plan


def _take_lease(
    repo: Repository, lease: LeaseSettings | None, clock: Clock | None, progress: Progress | None
) -> Lease:
    """forget --prune's maintenance lease, taken before a snapshot is removed (another
    prune holding it removed them, then exit 11), and handed to the prune.

    Raises:
        LeaseHeldError: a live holder has it past ``lease.wait`` (exit code 11).
    """
    try:
        return lease_class(repo).acquire(
            repo, "prune", lease, clock=clock or SystemClock(), progress=progress
        )
    except LeaseHeldError as exc:
        raise LeaseHeldError(f"{exc}; nothing was forgotten") from None


def forget(
    repo: Repository,
    options: ForgetOptions,
    *,
    clock: Clock | None = None,
    prune: PruneOptions | None = None,
    lease: LeaseSettings | None = None,
    progress: Progress | None = None,
    on_forgotten: Callable[[ForgetResult], None] | None = None,
) -> ForgetResult:
    """Apply the policy, or take the snapshots named; remove the snapshots not kept (not with
    dry_run); then, with ``prune`` (and not dry_run), prune under ``lease``. Audited unless a
    dry run (one record for both); the snapshots removed and the bytes freed are the run's
    metrics. ``on_forgotten`` is told the forget's result before the prune starts (so it can
    be shown even when the prune fails).

    Snapshot files are removed one by one: a crash leaves every snapshot whole or gone. The data
    they used stays until a prune. Named snapshots are removed even when their file cannot be
    read (that is the way out for a damaged snapshot).

    Raises:
        UsageError: the policy is empty or would remove a whole group; ids mixed with rules or
            filters; an id that names no snapshot or several.
        LeaseHeldError: with ``prune`` (not a dry run), another prune holds the maintenance
            lease past ``lease.wait``: nothing is removed.
        And what ``ops.prune.prune`` raises, with ``prune``.
    """
    if prune is not None:  # refused before a snapshot is removed (a dry run too), not after
        grace_of(repo, prune)
    pruning = prune is not None and not options.dry_run
    held = _take_lease(repo, lease, clock, progress) if pruning else None
    with (
        held if held is not None else nullcontext(),
        nullcontext(AuditNote("forget")) if options.dry_run else audited(repo, "forget") as note,
    ):
        result = _forget(repo, options, clock=clock)
        note.details["removed"] = [str(d.id) for d in result.decisions if not d.keep]
        note.details["deferred"] = [sid for sid, _ in result.deferred]
        measured("forget", snapshots_removed=result.removed)
        if prune is None or held is None:
            return result
        if on_forgotten is not None:
            on_forgotten(result)
        pruned = prune_repository(repo, prune, clock=clock, progress=progress, held=held)
    return replace(result, prune=pruned)


def _say_future(plan: Plan, now: datetime) -> None:
    """A snapshot dated ahead of this host's clock (its host's clock was ahead, or a put-only
    host dated it so) is kept and not counted by the policy (retention.py ``dated_ahead``):
    said once each, so that it is not kept for ever without a word."""
    for d in plan.decisions:
        snap = d.snapshot
        if snap is None or AHEAD not in d.reasons:
            continue
        log.warning(
            "snapshot %s of %s is dated %s, %.0f h ahead of this host's clock: kept, and not "
            "counted by the policy until then (a host's clock was ahead, or a host dated it "
            "so); `s3vault forget %s` removes it",
            d.id.short,
            snap.hostname,
            snap.time.isoformat(timespec="seconds"),
            (snap.time - now).total_seconds() / 3600,
            d.id.short,
        )


def _heads(
    repo: Repository, listed: list[tuple[ObjectId, SnapshotFile]]
) -> dict[ObjectId, ObjectId]:
    """Each snapshot's lineage head (ops/successor.py): versions of one backup share one (an
    original whose `tag` or `rewrite` successor is stored and not yet removed, killed or still
    running; copies of one source snapshot that two `copy` runs stored), any other snapshot is
    its own."""
    by_lineage: dict[str, list[ObjectId]] = {}
    for sid, snap in listed:
        by_lineage.setdefault(snap.original or f"{repo.id.hex()}:{sid.hex()}", []).append(sid)
    snaps = dict(listed)
    heads: dict[ObjectId, ObjectId] = {}
    for sids in by_lineage.values():
        head = max(sids, key=lambda sid: (bool(snaps[sid].original), sid))
        heads.update(dict.fromkeys(sids, head))
    return heads


def _keep_versions(
    repo: Repository,
    plan: Plan,
    selected: list[tuple[ObjectId, SnapshotFile]],
    policy: Policy,
    now: datetime,
    options: ForgetOptions,
) -> None:
    """Versions of one backup must not take its neighbours' places in --keep-last and the
    calendar rules: after a killed `tag`, keep-last 2 kept one backup in two versions and
    removed the other it should have kept; beside a running `tag`, forget removed the
    successor and tag then the original (none left). The policy is also applied to one
    version per lineage (its head), and a snapshot goes only when both answers remove it:
    each version of a backup the second answer keeps stays. Never removes what the policy
    applied snapshot by snapshot (restic's way) keeps."""
    heads = _heads(repo, selected)
    if len(set(heads.values())) == len(heads):
        return  # one version each: the plan stands
    # --keep-tag keeps a snapshot for its own tags, not for its place: a head kept only for
    # a tag its versions lack does not keep them (`rewrite` without --forget, then `forget
    # --keep-tag rewrite` kept the originals that still held what was rewritten out, where
    # restic removes them: an attack pass, 2026-12-08)
    placed = replace(policy, tags=())
    try:
        by_head = apply_policy(
            [(sid, s) for sid, s in selected if heads[sid] == sid],
            placed,
            now,
            group_by=options.group_by,
            allow_remove_all=True,
        )
    except UsageError:
        return
    kept = {d.id for d in by_head.decisions if d.keep}
    plan.decisions[:] = [
        replace(d, keep=True, reasons=(f"as {heads[d.id].short}, a version of one backup",))
        if not d.keep and heads.get(d.id) in kept
        else d
        for d in plan.decisions
    ]


def _policy(repo: Repository, options: ForgetOptions) -> Policy:
    """The options' policy; when they give no rule, the repository's stored one (said).

    Raises:
        UsageError: no rule at all with --unsafe-allow-remove-all and no filter: that removed
            every snapshot of every host (restic 0.16 refuses it too; 0.14 removes none).
    """
    policy = options.policy
    if policy.empty and repo.config.retention:
        policy = Policy.from_dict(repo.config.retention)  # the repository's own policy
        log.warning(
            "no --keep-* rule given (a count of 0 is no rule): the repository's policy "
            "applies (%s)",
            policy.as_flags(),
        )
    if policy.empty and options.allow_remove_all and not options.selects:
        msg = (
            "--unsafe-allow-remove-all with no --keep-* rule removes every snapshot it "
            "selects: give --host, --tag or --path to say whose (restic 0.16 refuses it so "
            "too), or name them: `s3vault forget ID...`"
        )
        raise UsageError(msg)
    return policy


def _forget(repo: Repository, options: ForgetOptions, *, clock: Clock | None) -> ForgetResult:
    now = (clock or SystemClock()).now()
    if options.snapshot_ids:
        plan = _named_plan(repo, options)
    else:
        policy = _policy(repo, options)
        listed = list_snapshots(repo)
        filt = SnapshotFilter(hosts=options.hosts, tags=options.tags, paths=options.paths)
        selected = filt.chosen(listed)
        plan = apply_policy(
            selected,
            policy,
            now,
            group_by=options.group_by,
            allow_remove_all=options.allow_remove_all,
        )
        _keep_versions(repo, plan, selected, policy, now, options)
        _say_future(plan, now)
    removed, extended = 0, 0
    locked: dict[str, float] = {}
    store = repo.object_lock
    if not options.dry_run and store is not None:
        names = [repo.name_of(ObjectKind.SNAPSHOTS, d.id) for d in plan.remove]
        locked = split_locked(store, names)[1]
        period = LockPolicy.from_dict(repo.config.object_lock).period
        extended = protect_kept(repo, store, plan.keep, period)
        save_known(repo, store, repo.server_time())
    deferred = []
    if not options.dry_run:
        for d in plan.remove:
            name = repo.name_of(ObjectKind.SNAPSHOTS, d.id)
            if name in locked:  # never sent: the store would refuse it
                deferred.append((str(d.id), locked[name]))
                continue
            try:
                repo.delete_object(ObjectKind.SNAPSHOTS, d.id)
            except ObjectNotFoundError:
                continue  # another forget got there first
            removed += 1
    return ForgetResult(
        decisions=tuple(plan.decisions),
        removed=removed,
        dry_run=options.dry_run,
        requests=repo.requests.snapshot(),
        deferred=tuple(deferred),
        locks_extended=extended,
    )
