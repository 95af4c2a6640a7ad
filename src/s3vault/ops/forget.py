"""forget: remove snapshots by a retention policy (and optionally prune afterwards)."""

from __future__ import annotations

from dataclasses import dataclass, field

from s3vault.backend.accounting import RequestCounts
from s3vault.backend.objectlock import LockPolicy
from s3vault.clock import Clock, SystemClock
from s3vault.errors import ObjectNotFoundError
from s3vault.format.layout import ObjectKind, object_name
from s3vault.maintenance.immutability import protect_kept, save_known, split_locked
from s3vault.maintenance.retention import Decision, Policy, apply_policy
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import list_snapshots


@dataclass(frozen=True, slots=True, kw_only=True)
class ForgetOptions:
    """The policy, which snapshots it applies to, and how they are grouped."""

    policy: Policy = field(default_factory=Policy)
    group_by: tuple[str, ...] = ("host", "paths")
    hosts: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    dry_run: bool = False
    allow_remove_all: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ForgetResult:
    """Every decision (kept ones with the rules that kept them) and what was removed."""

    decisions: tuple[Decision, ...]
    removed: int
    dry_run: bool
    requests: RequestCounts
    deferred: tuple[tuple[str, float], ...] = ()  # Object Lock: (snapshot id, locked until)
    locks_extended: int = 0  # objects whose lock a longer-kept snapshot extended


def forget(repo: Repository, options: ForgetOptions, *, clock: Clock | None = None) -> ForgetResult:
    """Apply the policy; remove the snapshots it does not keep (not with dry_run).

    Snapshot files are removed one by one: a crash leaves every snapshot whole or gone. The data
    they used stays until a prune.

    Raises:
        UsageError: the policy is empty or would remove a whole group.
    """
    now = (clock or SystemClock()).now()
    policy = options.policy
    if policy.empty and repo.config.retention:
        policy = Policy.from_dict(repo.config.retention)  # the repository's own policy
    selected = [
        (sid, s)
        for sid, s in list_snapshots(repo)
        if (not options.hosts or s.hostname in options.hosts)
        and (not options.tags or set(options.tags) & set(s.tags))
        and (not options.paths or set(options.paths) <= set(s.paths))
    ]
    plan = apply_policy(
        selected,
        policy,
        now,
        group_by=options.group_by,
        allow_remove_all=options.allow_remove_all,
    )
    removed, extended = 0, 0
    locked: dict[str, float] = {}
    store = repo.retention
    if not options.dry_run and store is not None:
        names = [object_name(ObjectKind.SNAPSHOTS, d.id) for d in plan.remove]
        locked = split_locked(store, names)[1]
        period = LockPolicy.from_dict(repo.config.object_lock).period
        extended = protect_kept(repo, store, plan.keep, period)
        save_known(repo, store, repo.backend.server_time())
    deferred = []
    if not options.dry_run:
        for d in plan.remove:
            name = object_name(ObjectKind.SNAPSHOTS, d.id)
            if name in locked:  # never sent: the store would refuse it
                deferred.append((str(d.id), locked[name]))
                continue
            try:
                repo.backend.delete(object_name(ObjectKind.SNAPSHOTS, d.id))
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
