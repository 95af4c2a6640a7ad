"""The retention policy of ``forget``: a pure function of (snapshots, policy, now).

Snapshots are grouped (default by host and paths); inside a group, newest first, each rule
keeps what it selects and the union is kept:

- ``last N``: the N newest;
- ``hourly/daily/weekly/monthly/yearly N``: the newest snapshot of each of the N most recent
  hours/days/ISO weeks/months/years that have a snapshot;
- ``within D``: every snapshot younger than D (relative to ``now``);
- ``tags``: every snapshot carrying one of the tags.

Every decision carries the rules that kept the snapshot, for ``--dry-run``. A policy that
would remove every snapshot of a group is refused unless ``allow_remove_all``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from s3vault.errors import UsageError
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId

GROUP_KEYS = frozenset({"host", "paths", "tags"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """What to keep. Zero means "this rule keeps nothing"."""

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: timedelta | None = None
    tags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """As stored in the config (the repository's default policy)."""
        return {
            "last": self.last,
            "hourly": self.hourly,
            "daily": self.daily,
            "weekly": self.weekly,
            "monthly": self.monthly,
            "yearly": self.yearly,
            "within": self.within.total_seconds() if self.within is not None else None,
            "tags": list(self.tags),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        """From the config."""
        within = data.get("within")
        return cls(
            last=int(data.get("last", 0)),
            hourly=int(data.get("hourly", 0)),
            daily=int(data.get("daily", 0)),
            weekly=int(data.get("weekly", 0)),
            monthly=int(data.get("monthly", 0)),
            yearly=int(data.get("yearly", 0)),
            within=timedelta(seconds=float(within)) if within is not None else None,
            tags=tuple(str(t) for t in data.get("tags", ())),
        )

    @property
    def empty(self) -> bool:
        """No rule at all (which forget refuses: it would remove everything)."""
        counts = (self.last, self.hourly, self.daily, self.weekly, self.monthly, self.yearly)
        return not any(counts) and self.within is None and not self.tags


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """One snapshot's fate."""

    id: ObjectId
    snapshot: SnapshotFile
    group: str
    keep: bool
    reasons: tuple[str, ...] = ()  # the rules that kept it


@dataclass(slots=True)
class Plan:
    """Decisions for every selected snapshot, grouped."""

    decisions: list[Decision] = field(default_factory=list)

    @property
    def remove(self) -> list[Decision]:
        """Snapshots to remove."""
        return [d for d in self.decisions if not d.keep]

    @property
    def keep(self) -> list[Decision]:
        """Snapshots kept."""
        return [d for d in self.decisions if d.keep]


def group_key(snap: SnapshotFile, group_by: Sequence[str]) -> str:
    """The group a snapshot belongs to, as text."""
    parts = []
    if "host" in group_by:
        parts.append(f"host={snap.hostname}")
    if "paths" in group_by:
        parts.append("paths=" + ",".join(sorted(snap.paths)))
    if "tags" in group_by:
        parts.append("tags=" + ",".join(sorted(snap.tags)))
    return " ".join(parts) or "all"


_BUCKETS: tuple[tuple[str, Callable[[datetime], tuple[int, ...]]], ...] = (
    ("hourly", lambda t: (t.year, t.month, t.day, t.hour)),
    ("daily", lambda t: (t.year, t.month, t.day)),
    ("weekly", lambda t: tuple(t.isocalendar()[:2])),
    ("monthly", lambda t: (t.year, t.month)),
    ("yearly", lambda t: (t.year,)),
)


def _decide_group(
    items: list[tuple[ObjectId, SnapshotFile]], policy: Policy, now: datetime
) -> dict[ObjectId, list[str]]:
    """Reasons per snapshot id for one group (ids absent: removed)."""
    newest_first = sorted(items, key=lambda i: (i[1].time, i[0]), reverse=True)
    reasons: dict[ObjectId, list[str]] = {}
    for n, (sid, _snap) in enumerate(newest_first):
        if n < policy.last:
            reasons.setdefault(sid, []).append(f"last {policy.last}")
    for rule, bucket_of in _BUCKETS:
        limit = getattr(policy, rule)
        seen: set[tuple[int, ...]] = set()
        for sid, snap in newest_first:
            if len(seen) >= limit:
                break
            bucket = bucket_of(snap.time)
            if bucket not in seen:
                seen.add(bucket)
                reasons.setdefault(sid, []).append(f"{rule} {limit}")
    if policy.within is not None:
        for sid, snap in newest_first:
            if now - snap.time <= policy.within:
                reasons.setdefault(sid, []).append(f"within {policy.within}")
    for sid, snap in newest_first:
        matched = sorted(set(policy.tags) & set(snap.tags))
        if matched:
            reasons.setdefault(sid, []).append("tag " + ",".join(matched))
    return reasons


def apply_policy(
    snapshots: Sequence[tuple[ObjectId, SnapshotFile]],
    policy: Policy,
    now: datetime,
    *,
    group_by: Sequence[str] = ("host", "paths"),
    allow_remove_all: bool = False,
) -> Plan:
    """Decide which snapshots to keep.

    Raises:
        UsageError: the policy has no rule, a group key is unknown, or the policy would remove
            every snapshot of a group and ``allow_remove_all`` is not set.
    """
    unknown = set(group_by) - GROUP_KEYS
    if unknown:
        msg = f"unknown --group-by key(s): {', '.join(sorted(unknown))} (use host, paths, tags)"
        raise UsageError(msg)
    if policy.empty and not allow_remove_all:
        msg = "no --keep-* rule given: that would remove every snapshot"
        raise UsageError(msg)
    groups: dict[str, list[tuple[ObjectId, SnapshotFile]]] = {}
    for sid, snap in snapshots:
        groups.setdefault(group_key(snap, group_by), []).append((sid, snap))
    plan = Plan()
    for key in sorted(groups):
        items = groups[key]
        reasons = _decide_group(items, policy, now)
        if not reasons and not allow_remove_all:
            msg = (
                f"the policy would remove all {len(items)} snapshot(s) of group {key}; "
                "refusing (pass --unsafe-allow-remove-all if that is meant)"
            )
            raise UsageError(msg)
        for sid, snap in sorted(items, key=lambda i: (i[1].time, i[0]), reverse=True):
            plan.decisions.append(
                Decision(
                    id=sid,
                    snapshot=snap,
                    group=key,
                    keep=sid in reasons,
                    reasons=tuple(reasons.get(sid, ())),
                )
            )
    return plan
