"""The retention policy of ``forget``: a pure function of (snapshots, policy, now) that keeps
exactly what restic 0.14's ``forget`` keeps for the same snapshots and flags.

Snapshots are grouped (default by host and paths). In a group, newest first, a snapshot is
kept when any rule selects it:

- ``last N``: the N newest;
- ``hourly/daily/weekly/monthly/yearly N``: going from the newest, a snapshot whose hour
  (day, ISO week, month, year) differs from that of the last snapshot this rule kept, until
  the rule has kept N (so N hours/days/... that have a snapshot, the newest of each);
- ``within D``: every snapshot newer than the group's latest snapshot minus D (strictly newer;
  the latest is the newest snapshot that is not in the future: a snapshot with a clock far
  ahead does not move the window);
- ``within_hourly/daily/weekly/monthly/yearly D``: among the snapshots ``within D``, the
  newest of each hour (day, ...), without a count;
- ``tags``: every snapshot that has all the tags of one of the tag lists (s3vault.tags).

Hours, days, weeks, months and years are those of the time zone each snapshot recorded, and
D is calendar arithmetic (restic's ``Duration``: ``1y2m3d4h`` is 1 year, 2 months, 3 days and 4
hours back, a month back from March 31 being March 2 or 3, as Go's ``AddDate`` counts). Two
snapshots with the same time are ordered by id (restic's order for them is the order it
happened to load them in).

Every decision carries the rules that kept the snapshot, for ``--dry-run``. Unlike restic, a
policy that would remove every snapshot of a group is refused unless ``allow_remove_all``.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from s3vault.errors import UsageError
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId
from s3vault.repository.snapshots import FUTURE_SLACK
from s3vault.tags import TagList, has_tags, spell, split_tags, tag_lists

GROUP_KEYS = {"host": "host", "hosts": "host", "path": "paths", "paths": "paths"}
GROUP_KEYS |= {"tag": "tags", "tags": "tags"}
COUNT_RULES = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
WITHIN_RULES = ("hourly", "daily", "weekly", "monthly", "yearly")

_RESTIC_DURATION = re.compile(r"(?:([0-9]+)y)?(?:([0-9]+)m)?(?:([0-9]+)d)?(?:([0-9]+)h)?")
_ANY_TERMS = re.compile(r"(-?)([0-9]*)([a-zA-Z]*)")
_MAX_DIGITS = 9


@dataclass(frozen=True, slots=True)
class KeepDuration:
    """restic's ``Duration`` (``--keep-within``): years, months, days and hours, counted back
    on the calendar from a snapshot's time."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    @classmethod
    def parse(cls, text: str, *, option: str = "--keep-within") -> KeepDuration:
        """Parse restic's spelling: ``y``, ``m`` (months), ``d``, ``h``, each at most once and in
        that order (``1y2m3d4h``, ``6m``, ``36h``).

        Refused (UsageError, naming ``option`` and the restic spelling): what restic 0.14
        rejects (``30min``, ``1w``, ``1.5d``, ``3D``, ``7``); what it accepts with a meaning a
        user is unlikely to intend (``1h30m`` is 30 *months* and 1 hour in restic, ``1d1d`` is
        one day, ``-2d`` keeps nothing); and a zero duration (a rule that keeps nothing).
        """
        raw = text.strip()
        where = f"{option} {text!r}" if option else repr(text)
        if not raw:
            raise UsageError(f"{where}: empty; give a duration such as 7d, 6m (months) or 1y")
        found = _RESTIC_DURATION.fullmatch(raw)
        if found is None:
            raise UsageError(f"{where}: {_why_not(raw)}")
        numbers = [int(n) if n else 0 for n in found.groups()]
        if any(n and len(str(n)) > _MAX_DIGITS for n in numbers):
            raise UsageError(f"{where}: a number is too large")
        duration = cls(*numbers)
        if duration.zero:
            msg = f"{where} keeps nothing; to switch the rule off, leave {option or 'it'} out"
            raise UsageError(msg)
        return duration

    @classmethod
    def from_seconds(cls, seconds: float) -> KeepDuration:
        """A legacy duration stored in seconds: whole days and hours, rounded up to the hour
        (so it never keeps less than it did)."""
        hours = max(1, math.ceil(seconds / 3600))
        return cls(days=hours // 24, hours=hours % 24)

    @property
    def zero(self) -> bool:
        """No time at all."""
        return not (self.years or self.months or self.days or self.hours)

    def __str__(self) -> str:
        text = "".join(
            f"{n}{unit}"
            for n, unit in zip(
                (self.years, self.months, self.days, self.hours), "ymdh", strict=True
            )
            if n
        )
        return text or "0h"

    def before(self, t: datetime) -> datetime | None:
        """``t`` minus this duration, as Go's ``t.AddDate(-y, -m, -d).Add(-h hours)``
        (days past a month's end roll over into the next month); None when that is before
        year 1 (earlier than every snapshot).

        Go reads a stored time whose offset is the local zone's at that instant as a time of
        the local zone, and AddDate then keeps the wall clock across a daylight-saving change:
        a day back from 12:00 on the day the clocks went back is 12:00 the day before, 25
        hours. Counting in the fixed offset (24 hours) removed a snapshot at 12:30 the day
        before that restic keeps (an attack pass, 2026-12-07). The local zone is Go's
        (``_go_local_zone``)."""
        month0 = t.month - 1 - self.months
        year = t.year - self.years + month0 // 12
        if year < 1:
            return None
        try:
            day = date(year, month0 % 12 + 1, 1) + timedelta(days=t.day - 1 - self.days)
            wall = t.replace(year=day.year, month=day.month, day=day.day)
            return _in_local_zone(t, wall) - timedelta(hours=self.hours)
        except OverflowError:
            return None

    def span(self) -> timedelta:
        """At least as long as this duration ever is (a year as 366 days, a month as 31)."""
        return timedelta(days=366 * self.years + 31 * self.months + self.days, hours=self.hours)


def _go_local_zone() -> tzinfo:
    """The zone Go takes for its local one (time.Local): TZ unset, /etc/localtime; TZ empty,
    UTC; else TZ (a leading ``:`` left out) as a zone name or a zoneinfo file's path, and UTC
    when there is no such zone. Go reads no POSIX rule (``CET-1CEST,M3.5.0,M10.5.0/3``),
    which the C library does: taken from ``time.localtime``, s3vault's windows differed from
    restic's in such a zone (an attack pass, 2026-12-07)."""
    return _zone_of(os.environ.get("TZ"))


@functools.lru_cache(maxsize=4)
def _zone_of(tz: str | None) -> tzinfo:
    """``_go_local_zone`` for this value of TZ (read once: a forget of 1,000 groups asks it
    for every window)."""
    if tz == "":
        return UTC
    name = "/etc/localtime" if tz is None else tz.removeprefix(":")
    try:
        if name.startswith("/"):
            with open(name, "rb") as f:
                return ZoneInfo.from_file(f)
        return ZoneInfo(name)
    except (OSError, ValueError, ZoneInfoNotFoundError):
        return UTC


def _local_offset(unix: int) -> int | None:
    """Go's local zone's offset from UTC at this instant, in seconds (None beyond the range
    of a date)."""
    try:
        offset = datetime.fromtimestamp(unix, _go_local_zone()).utcoffset()
    except (OverflowError, OSError, ValueError):
        return None
    return None if offset is None else int(offset.total_seconds())


def _in_local_zone(t: datetime, wall: datetime) -> datetime:
    """``wall`` (``t``'s date moved, its clock and offset kept) as Go's ``time.Date`` makes it
    in ``t``'s location: where ``t``'s offset is the local zone's at ``t``, Go's location is
    the local zone and the wall clock keeps its hour across a daylight-saving change (Go
    takes the offset in force at the wall clock read as UTC, less that offset); otherwise a
    fixed offset, and ``wall`` as it is."""
    offset = t.utcoffset()
    if offset is None or _local_offset(math.floor(t.timestamp())) != offset.total_seconds():
        return wall
    as_utc = math.floor(wall.replace(tzinfo=UTC).timestamp())
    first = _local_offset(as_utc)
    second = None if first is None else _local_offset(as_utc - first)
    if second is None or second == offset.total_seconds():
        return wall
    return wall.replace(tzinfo=timezone(timedelta(seconds=second)))


def _why_not(raw: str) -> str:
    """Why restic's syntax refuses (or would misread) a duration, with the spelling to use."""
    terms = [t for t in _ANY_TERMS.findall(raw) if any(t)]
    if "".join(s + n + u for s, n, u in terms) != raw or any(not n or not u for _, n, u in terms):
        return "not a duration; use whole numbers with y, m (months), d and h, such as 7d or 1y6m"
    units = [u for _, _, u in terms]
    unknown = [u for u in units if u not in ("y", "m", "d", "h")]
    if unknown:
        hint = ""
        if "min" in unknown or "s" in unknown:
            hint = "there are no minutes or seconds: the smallest unit is h"
        elif "w" in unknown:
            hint = "a week is 7d"
        return f"unknown unit {unknown[0]!r}; units are y, m (months, as in restic), d and h" + (
            f" ({hint})" if hint else ""
        )
    if any(s for s, _, _ in terms):
        return "a negative duration keeps nothing (restic reads it so); give a positive one"
    # restic reads any order, a repeated unit replacing the earlier one
    value: dict[str, int] = {}
    for _, n, u in terms:
        value[u] = int(n)
    canonical = KeepDuration(*(value.get(u, 0) for u in "ymdh"))
    months = ""
    if "m" in value:
        n = value["m"]
        months = f"; m is months, as in restic ({n}m = {n} months; there are no minutes)"
    return (
        f"ambiguous: restic reads it as {canonical}{months}; write {canonical} if that is "
        "meant (each unit once, in the order y m d h)"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """What to keep. A count of zero and a duration of None switch a rule off.

    ``tags`` are tag lists (s3vault.tags): a string element is restic's spelling ``"a,b"``.
    A ``timedelta`` given as a duration is read as whole days and hours, rounded up."""

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: KeepDuration | None = None
    within_hourly: KeepDuration | None = None
    within_daily: KeepDuration | None = None
    within_weekly: KeepDuration | None = None
    within_monthly: KeepDuration | None = None
    within_yearly: KeepDuration | None = None
    tags: tuple[TagList, ...] = ()

    def __post_init__(self) -> None:
        lists = tuple(split_tags(t) if isinstance(t, str) else tuple(t) for t in self.tags)
        object.__setattr__(self, "tags", lists)
        for name in _DURATIONS:  # a timedelta (older callers): whole days and hours, rounded up
            value: object = getattr(self, name)
            if isinstance(value, timedelta):
                object.__setattr__(self, name, KeepDuration.from_seconds(value.total_seconds()))

    def to_dict(self) -> dict[str, Any]:
        """As stored in the config (the repository's default policy): durations in restic's
        spelling, tags as lists of tag lists."""
        data: dict[str, Any] = {rule: getattr(self, rule) for rule in COUNT_RULES}
        for name in _DURATIONS:
            value = getattr(self, name)
            data[name] = str(value) if value is not None else None
        data["tags"] = [list(t) for t in self.tags]
        return data

    def as_flags(self) -> str:
        """The policy as the --keep-* flags that give it: ``--keep-last 2 --keep-tag a,b``."""
        words = [
            f"--keep-{rule} {getattr(self, rule)}" for rule in COUNT_RULES if getattr(self, rule)
        ]
        for name in _DURATIONS:
            if getattr(self, name) is not None:
                words.append(f"--keep-{name.replace('_', '-')} {getattr(self, name)}")
        words += [f"--keep-tag {spell(tags)}" for tags in self.tags]
        return " ".join(words)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        """From the config; also reads what older releases stored: ``within`` in seconds
        (read as whole days and hours, rounded up) and ``tags`` as single tags (each one tag,
        taken literally even with a comma, as those releases matched it).

        Raises:
            UsageError: a stored duration cannot be read.
        """
        rules: dict[str, Any] = {rule: int(data.get(rule) or 0) for rule in COUNT_RULES}
        for name in _DURATIONS:
            value = data.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                rules[name] = KeepDuration.from_seconds(float(value))
            elif value:
                rules[name] = KeepDuration.parse(str(value), option=f"stored {name}")
        rules["tags"] = tuple(
            (t,) if isinstance(t, str) else tuple(str(x) for x in t) for t in data.get("tags") or ()
        )
        return cls(**rules)

    @classmethod
    def from_options(cls, values: Mapping[str, Any], *, source: str = "") -> Policy:
        """From the ``keep_*`` options (``keep_last``, ``keep_within_daily``, ``keep_tags``...),
        or from a profile's [retention] table with the same keys (``source`` names it for
        messages): counts as whole numbers, durations as KeepDuration or as text in restic's
        spelling such as "6m", tags as restic's tag lists such as "a,b". Checked (``check``).

        Raises:
            UsageError: a duration or count restic would reject or read otherwise.
        """
        rules: dict[str, Any] = {}
        for rule in COUNT_RULES:
            count = values.get(f"keep_{rule}") or 0
            if not isinstance(count, int) or isinstance(count, bool):
                raise UsageError(f"{source} keep_{rule}: a whole number, not {count!r}")
            rules[rule] = count
        for name in _DURATIONS:
            value = values.get(f"keep_{name}")
            if value is not None and not isinstance(value, KeepDuration):
                where = f"{source} keep_{name}" if source else "--keep-" + name.replace("_", "-")
                if not isinstance(value, str):
                    raise UsageError(f'{where}: a duration in quotes, such as "7d" or "6m"')
                value = KeepDuration.parse(value, option=where)
            rules[name] = value
        tags = values.get("keep_tags") or ()
        rules["tags"] = tag_lists([tags] if isinstance(tags, str) else tags)
        policy = cls(**rules)
        policy.check()
        return policy

    @property
    def empty(self) -> bool:
        """No rule at all (which forget refuses: it would remove everything)."""
        return not any(getattr(self, f.name) for f in fields(self))

    def longest_within(self) -> timedelta:
        """The longest of the ``within`` durations (zero without one), as a span."""
        spans = [d.span() for d in (getattr(self, n) for n in _DURATIONS) if d is not None]
        return max(spans, default=timedelta(0))

    def check(self) -> None:
        """Refuse negative counts (restic 0.14 ignores them, later releases read -1 as "all")
        and durations that are negative or zero (they keep nothing).

        Raises:
            UsageError: a count is negative, or a duration keeps nothing.
        """
        for name in _DURATIONS:
            duration: KeepDuration | None = getattr(self, name)
            if duration is not None and (
                duration.zero
                or min(duration.years, duration.months, duration.days) < 0
                or duration.hours < 0
            ):
                msg = f"keep {name.replace('_', ' ')} {duration}: keeps nothing; leave it out"
                raise UsageError(msg)
        for rule in COUNT_RULES:
            if getattr(self, rule) < 0:
                msg = (
                    f"--keep-{rule} {getattr(self, rule)}: a negative count is read differently "
                    "by restic releases (0.14: the rule keeps nothing; 0.15+: -1 keeps all); "
                    "give the number to keep"
                )
                raise UsageError(msg)


_DURATIONS = ("within", *(f"within_{r}" for r in WITHIN_RULES))


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """One snapshot's fate. ``snapshot`` is None for a snapshot file that could not be read
    (``forget ID`` removes those too; ``problem`` says why it could not be read)."""

    id: ObjectId
    snapshot: SnapshotFile | None
    group: str
    keep: bool
    reasons: tuple[str, ...] = ()  # the rules that kept it
    problem: str = ""


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


def group_by_keys(group_by: Sequence[str]) -> tuple[str, ...]:
    """restic's --group-by words (host, paths, tags, also singular; empty ones ignored) in
    canonical form.

    Raises:
        UsageError: an unknown word.
    """
    words = [w.strip() for w in group_by if w.strip()]
    unknown = [w for w in words if w not in GROUP_KEYS]
    if unknown:
        msg = f"unknown --group-by key(s): {', '.join(unknown)} (use host, paths, tags or '')"
        raise UsageError(msg)
    return tuple(dict.fromkeys(GROUP_KEYS[w] for w in words))


def _group_of(
    snap: SnapshotFile, keys: Sequence[str]
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    host = snap.hostname if "host" in keys else ""
    paths = tuple(sorted(snap.paths)) if "paths" in keys else ()
    tags = tuple(sorted(snap.tags)) if "tags" in keys else ()
    return (host, paths, tags)


def group_key(snap: SnapshotFile, group_by: Sequence[str]) -> str:
    """The group a snapshot belongs to, as text."""
    keys = group_by_keys(group_by)
    parts = []
    if "host" in keys:
        parts.append(f"host={snap.hostname}")
    if "paths" in keys:
        parts.append("paths=" + ",".join(sorted(snap.paths)))
    if "tags" in keys:
        parts.append("tags=" + ",".join(sorted(snap.tags)))
    return " ".join(parts) or "all"


def _hour(t: datetime, _nr: int) -> tuple[int, ...]:
    return (t.year, t.month, t.day, t.hour)


def _day(t: datetime, _nr: int) -> tuple[int, ...]:
    return (t.year, t.month, t.day)


def _week(t: datetime, _nr: int) -> tuple[int, ...]:
    iso = t.isocalendar()
    return (iso.year, iso.week)


def _month(t: datetime, _nr: int) -> tuple[int, ...]:
    return (t.year, t.month)


def _year(t: datetime, _nr: int) -> tuple[int, ...]:
    return (t.year,)


def _always(_t: datetime, nr: int) -> tuple[int, ...]:
    return (nr,)


_BUCKET: dict[str, Callable[[datetime, int], tuple[int, ...]]] = {
    "last": _always,
    "hourly": _hour,
    "daily": _day,
    "weekly": _week,
    "monthly": _month,
    "yearly": _year,
}


@dataclass(slots=True)
class _Rule:
    """One bucketing rule while a group is walked, newest first."""

    bucket: Callable[[datetime, int], tuple[int, ...]]
    reason: str
    left: int | None  # snapshots the rule may still keep; None: no count (a within rule)
    window: bool = False  # only snapshots newer than ``start``
    start: datetime | None = None  # None: no limit (no snapshot in the past)
    last: tuple[int, ...] = ()  # the bucket of the last snapshot the rule kept


def _rules(policy: Policy, latest: datetime | None) -> list[_Rule]:
    rules = [
        _Rule(_BUCKET[rule], f"{rule} {getattr(policy, rule)}", getattr(policy, rule))
        for rule in COUNT_RULES
        if getattr(policy, rule) > 0
    ]
    for rule in WITHIN_RULES:
        duration: KeepDuration | None = getattr(policy, f"within_{rule}")
        if duration is not None:
            start = duration.before(latest) if latest is not None else None
            rules.append(_Rule(_BUCKET[rule], f"{rule} within {duration}", None, True, start))
    return rules


def _decide_group(
    items: list[tuple[ObjectId, SnapshotFile]], policy: Policy, now: datetime
) -> dict[ObjectId, list[str]]:
    """Reasons per snapshot id for one group (ids absent: removed): restic's ApplyPolicy."""
    newest_first = sorted(items, key=lambda i: (i[1].time, i[0]), reverse=True)
    past = [s.time for _, s in newest_first if s.time < now]
    latest = max(past) if past else None
    within_from = None
    if policy.within is not None and latest is not None:
        within_from = policy.within.before(latest)
    rules = _rules(policy, latest)
    reasons: dict[ObjectId, list[str]] = {}
    for nr, (sid, snap) in enumerate(newest_first):
        why = [f"tag {spell(t)}" for t in policy.tags if has_tags(snap.tags, t)]
        if policy.within is not None and (within_from is None or snap.time > within_from):
            why.append(f"within {policy.within}")
        for rule in rules:
            if rule.left == 0:
                continue
            if rule.window and rule.start is not None and snap.time <= rule.start:
                continue
            bucket = rule.bucket(snap.time, nr)
            if bucket != rule.last:
                rule.last = bucket
                if rule.left is not None:
                    rule.left -= 1
                why.append(rule.reason)
        if why:
            reasons[sid] = why
    return reasons


def apply_policy(
    snapshots: Sequence[tuple[ObjectId, SnapshotFile]],
    policy: Policy,
    now: datetime,
    *,
    group_by: Sequence[str] = ("host", "paths"),
    allow_remove_all: bool = False,
) -> Plan:
    """Decide which snapshots to keep; ``now`` only tells which snapshots are in the future.

    Raises:
        UsageError: the policy has no rule or a negative count, a group key is unknown, or
            the policy would remove every snapshot of a group and ``allow_remove_all`` is not
            set.
    """
    keys = group_by_keys(group_by)
    policy.check()
    if policy.empty and not allow_remove_all:
        msg = (
            "no --keep-* rule given (a count of 0 is no rule) and the repository stores no "
            "policy: nothing to decide by; give one, such as --keep-daily 7 (restic 0.14 "
            "removes nothing then, and exits 0)"
        )
        raise UsageError(msg)
    groups: dict[
        tuple[str, tuple[str, ...], tuple[str, ...]], list[tuple[ObjectId, SnapshotFile]]
    ] = {}
    for sid, snap in snapshots:
        groups.setdefault(_group_of(snap, keys), []).append((sid, snap))
    plan = Plan()
    named = sorted(
        ((group_key(items[0][1], keys), items) for items in groups.values()), key=lambda g: g[0]
    )
    for key, items in named:
        ahead = set() if policy.empty else {sid for sid, s in items if dated_ahead(s, now)}
        counted = [item for item in items if item[0] not in ahead]
        reasons = _decide_group(counted, policy, now) if not policy.empty else {}
        if counted and not reasons and not allow_remove_all:
            msg = (
                f"the policy would remove all {len(counted)} snapshot(s) of group {key}"
                + (f" (and keep {len(ahead)} dated ahead of this clock)" if ahead else "")
                + "; "
                "refusing (pass --unsafe-allow-remove-all if that is meant)"
            )
            raise UsageError(msg)
        for sid, snap in sorted(items, key=lambda i: (i[1].time, i[0]), reverse=True):
            plan.decisions.append(
                Decision(
                    id=sid,
                    snapshot=snap,
                    group=key,
                    keep=sid in reasons or sid in ahead,
                    reasons=(AHEAD,) if sid in ahead else tuple(reasons.get(sid, ())),
                )
            )
    return plan


AHEAD = "dated ahead of this clock: not counted"


def dated_ahead(snap: SnapshotFile, now: datetime) -> bool:
    """Is the snapshot dated more than FUTURE_SLACK ahead of ``now``? Such a snapshot is kept
    and not counted by a policy (restic takes it for the newest of its group): a host whose
    clock ran ahead, or a put-only host that dated its snapshots 2099 (design.md §13), would
    otherwise take the places of every real snapshot in --keep-last and the calendar rules,
    and forget would remove them. Once the clock passes its time it counts as any other."""
    return (snap.time - now).total_seconds() > FUTURE_SLACK
