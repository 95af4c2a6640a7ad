"""The fleet's judgement, pure: snapshot and drill figures in, one row per host out (no I/O;
ops/fleet.py reads the figures).

A host's schedule is the first ``expect`` glob it matches, else the median interval between
the snapshots read of its most recent host and path set ("inferred", from three snapshots
on), else unknown (never overdue, a warning says so). It is overdue when its newest snapshot of any
path set is older than ``overdue_factor`` expected intervals; a host an ``expect`` entry names
without wildcards and that has no snapshot at all is overdue too ("never").
"""

from __future__ import annotations

import fnmatch
import itertools
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

STATUS_ORDER = ("never", "overdue", "late", "unknown", "ok")  # the rows' order, then by host
INFER_FROM = 3  # snapshots needed to infer a schedule (two could be a retry minutes apart)
SPIKE = 10  # a backup that added this many times its usual is a warning
SPIKE_MIN = 1 << 20  # ... when it added at least this much


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotPoint:
    """One snapshot's figures (what the fleet rows and the report's plots are made of)."""

    id: str
    host: str
    paths: tuple[str, ...]
    time: datetime
    bytes: int  # what it covers (restore size)
    added: int  # the new data its backup stored
    seconds: float | None  # its backup's duration (None: not recorded)
    files_failed: int
    incomplete: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class DrillPoint:
    """One restore drill, attributed to the host whose snapshot it restored."""

    time: datetime
    host: str
    drilled_by: str
    passed: bool
    rto_seconds: float | None  # projected full-restore time (None: not projectable)
    rto_target_seconds: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class HostRow:
    """One host: is it protected, is it proven, how big is it."""

    host: str
    # ok; late (past its interval); overdue (past the factor); never (no snapshot); unknown
    # (no interval given and too few snapshots to infer one: never overdue)
    status: str
    overdue: bool
    path_sets: int
    last_success: datetime | None
    age_seconds: float | None
    expected_seconds: float | None
    schedule: str  # expected (--expect / profile), inferred (its history), unknown
    last_bytes: int = 0
    last_added: int = 0
    last_seconds: float | None = None  # the last backup's duration
    drill_time: datetime | None = None
    drill_passed: bool | None = None
    drill_rto_seconds: float | None = None
    drill_rto_target_seconds: float | None = None
    # the oldest newest-proof among the packs its latest snapshots need (ops/fleetproofs.py;
    # None: one was never proven, or not computed)
    last_proven: datetime | None = None
    never_proven_bytes: int | None = None  # of those packs, never proven (None: not computed)
    warnings: tuple[str, ...] = ()

    def proven_text(self, *, ledger: bool) -> str:
        """The "last proven" cell: ``no ledger yet``; the date every pack its latest snapshots
        need had been proven by; ``<size> unproven`` when some were never proven; ``-`` when
        not computed."""
        if not ledger:
            return "no ledger yet"
        if self.last_proven is not None:
            return f"{self.last_proven:%Y-%m-%d}"
        if self.never_proven_bytes:
            return f"{size(self.never_proven_bytes)} unproven"
        return "-"

    def warned(self, warning: str) -> HostRow:
        """This row with one more warning."""
        return replace(self, warnings=(*self.warnings, warning))


def matching_interval(host: str, expect: Iterable[tuple[str, timedelta]]) -> timedelta | None:
    """The expected interval of the first glob ``host`` matches (None: none does)."""
    for pattern, interval in expect:
        if fnmatch.fnmatchcase(host, pattern):
            return interval
    return None


def median_interval(times: Iterable[datetime]) -> float | None:
    """The median seconds between consecutive distinct times (None with fewer than two)."""
    ordered = sorted(times)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ordered)]
    gaps = [g for g in gaps if g > 0]
    return statistics.median(gaps) if gaps else None


def span(seconds: float) -> str:
    """A duration in its two largest units: 3d 4h, 5h 10m, 42s."""
    s = int(max(seconds, 0))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{u}" for n, u in parts if n][:2]
    return " ".join(shown) or "0s"


def size(n: float) -> str:
    """Bytes in a binary unit: 512 B, 1.5 KiB, 80.0 MiB."""
    value, unit = float(n), "B"
    for bigger in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"


def host_rows(
    points: Sequence[SnapshotPoint],
    drills: Sequence[DrillPoint],
    *,
    now: datetime,
    expect: tuple[tuple[str, timedelta], ...] = (),
    overdue_factor: float = 1.5,
    drill_window: timedelta = timedelta(days=35),
    last_proven: dict[str, datetime] | None = None,
) -> list[HostRow]:
    """A row per host of ``points`` (oldest first) and per host ``expect`` names exactly,
    in STATUS_ORDER, then by host name."""
    by_host: dict[str, list[SnapshotPoint]] = {}
    for p in points:
        by_host.setdefault(p.host, []).append(p)
    drills_of: dict[str, list[DrillPoint]] = {}
    for d in drills:
        drills_of.setdefault(d.host, []).append(d)
    named = {pattern for pattern, _ in expect if not any(c in pattern for c in "*?[")}
    rows = []
    for host in sorted(set(by_host) | named):
        interval = matching_interval(host, expect)
        mine = by_host.get(host, [])
        if not mine:
            rows.append(_never(host, interval))
            continue
        row = _judged(host, mine, interval, now, overdue_factor)
        row = _drilled(row, drills_of.get(host, []), now, drill_window)
        if last_proven is not None and host in last_proven:
            row = replace(row, last_proven=last_proven[host])
        rows.append(row)
    rows.sort(key=lambda r: (STATUS_ORDER.index(r.status), r.host))
    return rows


def _never(host: str, interval: timedelta | None) -> HostRow:
    return HostRow(
        host=host,
        status="never",
        overdue=True,
        path_sets=0,
        last_success=None,
        age_seconds=None,
        expected_seconds=interval.total_seconds() if interval else None,
        schedule="expected",
        warnings=("no snapshot of this host in the repository",),
    )


AHEAD_SKEW = 900.0  # seconds a snapshot may be dated ahead of the clock (hosts' clocks differ)


def _judged(
    host: str,
    mine: list[SnapshotPoint],
    interval: timedelta | None,
    now: datetime,
    factor: float,
) -> HostRow:
    """The row of a host with snapshots. Snapshots dated ahead of the clock are said and
    left out (one dated 2099 had shown an overdue host as ok: an attack pass, 2026-12-07); a
    host with no other is overdue."""
    ahead = [p for p in mine if (p.time - now).total_seconds() > AHEAD_SKEW]
    if not ahead:
        return _judged_by(host, mine, interval, now, factor)
    newest = max(p.time for p in ahead)
    said = (
        f"{len(ahead)} snapshot(s) dated ahead of the clock (the newest "
        f"{newest:%Y-%m-%d %H:%M}): the host's clock is wrong, or they were made so; "
        "judged without them"
    )
    current = [p for p in mine if p not in ahead]
    if not current:  # no backup it can be judged by: as one that never ran, and said why
        row = _never(host, interval)
        return replace(row, status="overdue", path_sets=len({p.paths for p in mine}),
                       warnings=(said,))  # fmt: skip
    row = _judged_by(host, current, interval, now, factor)
    return replace(row, warnings=(said, *row.warnings))


def _judged_by(
    host: str,
    mine: list[SnapshotPoint],
    interval: timedelta | None,
    now: datetime,
    factor: float,
) -> HostRow:
    """The row of a host with snapshots: its schedule, age and the last backup's figures."""
    warnings: list[str] = []
    groups: dict[tuple[str, ...], list[SnapshotPoint]] = {}
    for p in mine:
        groups.setdefault(p.paths, []).append(p)
    last = max(mine, key=lambda p: p.time)
    expected, schedule = (interval.total_seconds(), "expected") if interval else (None, "")
    if expected is None:
        group = groups[last.paths]
        expected = median_interval(p.time for p in group) if len(group) >= INFER_FROM else None
        schedule = "inferred" if expected is not None else "unknown"
        if expected is None:
            warnings.append(
                f"schedule unknown ({len(group)} snapshot(s)): give --expect HOST=INTERVAL"
            )
    age = (now - last.time).total_seconds()
    overdue = expected is not None and age > expected * factor
    late = expected is not None and age > expected
    if last.files_failed:
        warnings.append(f"last snapshot incomplete: {last.files_failed} file(s) not read")
    elif last.incomplete:
        warnings.append("last snapshot incomplete: its backup had warnings")
    for paths, items in sorted(groups.items()):
        newest = items[-1]
        own = (
            expected
            if interval or len(items) < INFER_FROM
            else median_interval(p.time for p in items)
        )
        stale = (now - newest.time).total_seconds()
        if paths != last.paths and own is not None and stale > own * factor:
            warnings.append(f"paths {','.join(paths)}: last snapshot {span(stale)} ago")
    usual = [p.added for p in groups[last.paths][:-1]][-10:]
    if len(usual) >= 3 and last.added >= SPIKE_MIN:
        median = statistics.median(usual)
        if last.added > SPIKE * max(median, 1):
            warnings.append(
                f"last backup added {size(last.added)}, "
                f"{last.added / max(median, 1):.0f}x its usual"
            )
    return HostRow(
        host=host,
        status="overdue" if overdue else "late" if late else "ok" if expected else "unknown",
        overdue=overdue,
        path_sets=len(groups),
        last_success=last.time,
        age_seconds=age,
        expected_seconds=expected,
        schedule=schedule,
        last_bytes=last.bytes,
        last_added=last.added,
        last_seconds=last.seconds,
        warnings=tuple(warnings),
    )


def _drilled(row: HostRow, drills: list[DrillPoint], now: datetime, window: timedelta) -> HostRow:
    """The row with its host's latest drill within the window, and warnings about it."""
    recent = [d for d in drills if d.time >= now - window]
    if not recent:
        return row.warned(f"no restore drill in the last {span(window.total_seconds())}")
    d = max(recent, key=lambda x: x.time)
    row = replace(
        row,
        drill_time=d.time,
        drill_passed=d.passed,
        drill_rto_seconds=d.rto_seconds,
        drill_rto_target_seconds=d.rto_target_seconds,
    )
    if not d.passed:
        row = row.warned(f"last restore drill failed ({d.time.isoformat(timespec='minutes')})")
    target, rto = d.rto_target_seconds, d.rto_seconds
    if target is not None and rto is not None and rto > target:
        row = row.warned(f"projected RTO {span(rto)} over its target {span(target)}")
    return row
