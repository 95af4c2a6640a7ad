"""report: the fleet's history as figures (series per plot) for one self-contained HTML page
(ops/reportpage.py draws it; docs/fleet.md).

Everything comes from what ``fleet`` reads (with ``since``: every snapshot and drill listed
since then) plus the index (the stored size now) and the cost model (cloud/cost.py):

- stored against logical size per day, and their ratio (dedup). Logical: the sum of the
  latest snapshot of each host and path set at the end of the day. Stored: the stored size
  now less the data every later backup added; prune's deletions in between are not
  subtracted, so before a prune the curve is a lower bound;
- data added per day per host (the hosts that added most; the rest summed as "others");
- backup duration and throughput per host (the median of its backups in the window);
- restore-drill projected RTO against its target over time;
- verification coverage over time: from the verification ledger (``ledger_figures``), "no
  ledger yet" until it exists;
- the storage cost per month: the cost model's price of each month's stored size, then its
  projection under the window's growth (requests and transfer: ``s3vault cost``).
"""

from __future__ import annotations

import bisect
import statistics
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from s3vault.clock import Clock, SystemClock
from s3vault.cloud.cost import DAY, Pricing, Usage, estimate, load_prices
from s3vault.ops.fleet import FleetOptions, FleetResult, fleet
from s3vault.ops.fleetrows import SnapshotPoint
from s3vault.repository.repository import Repository

TOP_HOSTS = 12  # hosts drawn one by one in the per-host plots; the rest are "others"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportOptions:
    """What the report covers and how its cost is priced."""

    since: timedelta = timedelta(days=90)
    fleet: FleetOptions = field(default_factory=FleetOptions)
    region: str = "us-east-1"
    storage_class: str = "STANDARD"
    prices_file: Path | None = None
    months_ahead: int = 6
    title: str = "s3vault fleet report"


@dataclass(frozen=True, slots=True, kw_only=True)
class Series:
    """One named line or bar set: (x label, value) points."""

    name: str
    points: tuple[tuple[str, float | None], ...]
    secondary: bool = False  # drawn against the right-hand axis


@dataclass(frozen=True, slots=True, kw_only=True)
class Figure:
    """One plot: its id in the page, title, kind, axis titles and series. No series and a
    ``placeholder``: drawn as that sentence instead (the ledger's coverage before it exists)."""

    id: str
    title: str
    kind: str  # line, bar, stacked
    y_title: str
    series: tuple[Series, ...] = ()
    y2_title: str = ""
    placeholder: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportData:
    """Everything the page shows."""

    title: str
    repository: str
    now: datetime
    start: datetime
    figures: tuple[Figure, ...]
    fleet: FleetResult


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportResult:
    """The page and what it was made of."""

    html: str
    data: ReportData


def report(
    repo: Repository, options: ReportOptions | None = None, *, clock: Clock | None = None
) -> ReportResult:
    """Gather the report's figures (the index must be loaded) and draw the page.

    Raises:
        ReportError: the plotting library (the ``report`` extra) is not installed.
        UsageError: no prices for the region or class.
    """
    from s3vault.ops.reportpage import render

    data = report_data(repo, options or ReportOptions(), clock=clock)
    return ReportResult(html=render(data), data=data)


def report_data(
    repo: Repository, options: ReportOptions, *, clock: Clock | None = None
) -> ReportData:
    """The figures of the report (no drawing: the plotting library is not needed)."""
    now = (clock or SystemClock()).now()
    start = now - options.since
    fleet_options = replace(options.fleet, since=start)
    result = fleet(repo, fleet_options, clock=clock)
    stored_now = sum(size for _, size, _ in repo.index.pack_epochs())
    days = _days(start, now)
    snaps = list(result.snapshots)
    sizes = _stored_by_day(snaps, days, stored_now)
    figures = (
        _size_figure(days, sizes),
        _added_figure(snaps, days),
        _duration_figure([p for p in snaps if p.time >= start]),
        _drill_figure(result, start),
        _coverage_figure(result),
        _cost_figure(sizes, options, days),
    )
    return ReportData(
        title=options.title,
        repository=repo.location,
        now=now,
        start=start,
        figures=figures,
        fleet=result,
    )


def _days(start: datetime, now: datetime) -> list[datetime]:
    """The end of each day from ``start`` to ``now`` (UTC), the last one ``now``."""
    first = datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(days=1)
    out = []
    day = first
    while day < now:
        out.append(day)
        day += timedelta(days=1)
    return [*out, now]


def _label(day: datetime) -> str:
    return f"{day - timedelta(seconds=1):%m-%d}"


def _unit(largest: float) -> tuple[str, float]:
    """The binary unit that shows ``largest`` bytes as a number from 1 to 1024."""
    name, size = "B", 1.0
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        if largest < size * 1024:
            break
        name, size = unit, size * 1024
    return name, size


def _stored_by_day(
    snaps: list[SnapshotPoint], days: list[datetime], stored_now: int
) -> list[tuple[int, int]]:
    """(logical, stored) bytes at the end of each day (see the module docstring)."""
    latest: dict[tuple[str, tuple[str, ...]], int] = {}
    ordered = sorted(snaps, key=lambda p: p.time)
    added_after = sum(p.added for p in ordered if p.time > days[0])
    out = []
    i = 0
    for day in days:
        while i < len(ordered) and ordered[i].time <= day:
            p = ordered[i]
            latest[(p.host, tuple(sorted(p.paths)))] = p.bytes  # one path set, any order
            if p.time > days[0]:
                added_after -= p.added
            i += 1
        out.append((sum(latest.values()), max(stored_now - added_after, 0)))
    return out


def _size_figure(days: list[datetime], sizes: list[tuple[int, int]]) -> Figure:
    """Stored and logical bytes at the end of each day, and their ratio."""
    unit, scale = _unit(max((max(pair) for pair in sizes), default=0))
    labels = [_label(day) for day in days]
    logical = tuple((x, round(a / scale, 4)) for x, (a, _) in zip(labels, sizes, strict=True))
    stored = tuple((x, round(b / scale, 4)) for x, (_, b) in zip(labels, sizes, strict=True))
    ratio = tuple(
        (x, round(a / b, 2) if a and b else None) for x, (a, b) in zip(labels, sizes, strict=True)
    )
    return Figure(
        id="sizes",
        title="Stored against logical size, and the dedup ratio",
        kind="line",
        y_title=unit,
        y2_title="logical / stored",
        series=(
            Series(name="logical (restore size)", points=logical),
            Series(name="stored", points=stored),
            Series(name="dedup ratio", points=ratio, secondary=True),
        ),
    )


def _top_hosts(values: dict[str, float]) -> list[str]:
    return sorted(values, key=lambda h: (-values[h], h))[:TOP_HOSTS]


def _added_figure(snaps: list[SnapshotPoint], days: list[datetime]) -> Figure:
    """Data added per day per host (the hosts that added most, the rest as others)."""
    per: dict[str, dict[int, int]] = {}
    for p in snaps:
        if p.time <= days[0] - timedelta(days=1):
            continue
        index = min(bisect.bisect_left(days, p.time), len(days) - 1)  # the day it ends in
        per.setdefault(p.host, {}).setdefault(index, 0)
        per[p.host][index] += p.added
    totals = {h: float(sum(v.values())) for h, v in per.items()}
    top = _top_hosts(totals)
    by_day = [sum(v.get(k, 0) for v in per.values()) for k in range(len(days))]
    unit, scale = _unit(max(by_day, default=0))
    series = [
        Series(
            name=h,
            points=tuple(
                (_label(day), round(per[h].get(k, 0) / scale, 3)) for k, day in enumerate(days)
            ),
        )
        for h in top
    ]
    rest = [h for h in per if h not in top]
    if rest:
        series.append(
            Series(
                name=f"others ({len(rest)})",
                points=tuple(
                    (_label(day), round(sum(per[h].get(k, 0) for h in rest) / scale, 3))
                    for k, day in enumerate(days)
                ),
            )
        )
    return Figure(
        id="added",
        title="Data added per day per host",
        kind="stacked",
        y_title=unit,
        series=tuple(series),
    )


def _duration_figure(snaps: list[SnapshotPoint]) -> Figure:
    """Per host: the median backup duration and throughput in the window."""
    durations: dict[str, list[float]] = {}
    rates: dict[str, list[float]] = {}
    for p in snaps:
        if p.seconds is None:
            continue
        durations.setdefault(p.host, []).append(p.seconds)
        if p.seconds > 0:
            rates.setdefault(p.host, []).append(p.bytes / p.seconds / 2**20)
    median = {h: statistics.median(v) for h, v in durations.items()}
    top = sorted(_top_hosts(median))
    return Figure(
        id="durations",
        title="Backup duration and throughput per host (median)",
        kind="bar",
        y_title="minutes",
        y2_title="MiB/s",
        series=(
            Series(name="duration", points=tuple((h, round(median[h] / 60, 3)) for h in top)),
            Series(
                name="throughput",
                points=tuple(
                    (h, round(statistics.median(rates[h]), 3) if h in rates else None) for h in top
                ),
                secondary=True,
            ),
        ),
    )


def _drill_figure(result: FleetResult, start: datetime) -> Figure:
    """Each host's projected RTO at each drill, and the target."""
    drills = [d for d in result.drills if d.time >= start]
    counts: dict[str, float] = {}
    for d in drills:
        counts[d.host] = counts.get(d.host, 0) + 1
    top = sorted(_top_hosts(counts))
    series = [
        Series(
            name=h,
            points=tuple(
                (f"{d.time:%Y-%m-%d %H:%M}", _hours(d.rto_seconds)) for d in drills if d.host == h
            ),
        )
        for h in top
    ]
    targets = [(f"{d.time:%Y-%m-%d %H:%M}", _hours(d.rto_target_seconds)) for d in drills]
    if any(value is not None for _, value in targets):
        series.append(Series(name="RTO target", points=tuple(targets)))
    return Figure(
        id="rto",
        title="Restore drills: projected RTO against its target",
        kind="time",
        y_title="hours",
        series=tuple(series),
        placeholder="" if drills else "no restore drill in this period",
    )


def _hours(seconds: float | None) -> float | None:
    return round(seconds / 3600, 3) if seconds is not None else None


def _coverage_figure(result: FleetResult) -> Figure:
    """The ledger's coverage over time (the hook: "no ledger yet" until it exists)."""
    ledger = result.ledger
    if ledger is None or not ledger.history:
        return Figure(
            id="coverage",
            title="Verification coverage",
            kind="line",
            y_title="%",
            placeholder="no ledger yet",
        )
    points = [(_label(c.time), round(c.proven_share * 100, 2)) for c in ledger.history]
    oldest = [(_label(c.time), round(c.oldest_unproven_seconds / DAY, 2)) for c in ledger.history]
    return Figure(
        id="coverage",
        title="Verification coverage, and the age of the oldest unproven pack",
        kind="line",
        y_title="% of stored bytes proven",
        y2_title="days",
        series=(
            Series(name="proven within the period", points=tuple(points)),
            Series(name="oldest unproven pack", points=tuple(oldest), secondary=True),
        ),
    )


def _cost_figure(
    sizes: list[tuple[int, int]], options: ReportOptions, days: list[datetime]
) -> Figure:
    """The storage bill of each month in the window (its stored size at the month's end,
    priced by the cost model), then the projection."""
    prices = load_prices(options.prices_file)
    month_end: dict[str, float] = {}
    for day, (_, stored) in zip(days, sizes, strict=True):
        month_end[f"{day - timedelta(seconds=1):%Y-%m}"] = float(stored)
    months = sorted(month_end)
    first, last = days[0], days[-1]
    span = max((last - first).total_seconds() / DAY, 1.0)
    values = list(month_end.values())
    growth = max((values[-1] - values[0]) / span, 0.0) if values else 0.0

    def bill(size: float) -> float:
        usage = Usage(
            stored_by_class={options.storage_class: int(size)},
            objects_by_class={},
            growth_bytes_per_day=growth,
            data_class=options.storage_class,
        )
        pricing = Pricing(region=options.region)
        return estimate(usage, prices, pricing, months=options.months_ahead).monthly

    past = [(m, round(bill(month_end[m]), 4)) for m in months]
    now_size = values[-1] if values else 0.0
    ahead = []
    for k in range(1, options.months_ahead + 1):
        when = last + timedelta(days=30.44 * k)
        ahead.append((f"{when:%Y-%m}", round(bill(now_size + growth * 30.44 * k), 4)))
    return Figure(
        id="cost",
        title=f"Storage cost per month ({options.region}, {options.storage_class})",
        kind="bar",
        y_title="USD",
        series=(
            Series(name="past (stored size at month end)", points=tuple(past)),
            Series(name="projected (current growth)", points=tuple(ahead)),
        ),
    )


GENERATOR = "s3vault report"  # the page's generator tag (reportpage.py)


# how a page began before it had the generator tag (a nightly report's file stays replaceable)
_EARLIER = b'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>'


def is_report(head: bytes) -> bool:
    """Whether a file beginning with ``head`` (its first few KiB) is a page ``report`` wrote
    (which a later report may replace; any other file it refuses to overwrite): it carries
    the generator tag, or begins as the pages before the tag did. An HTML page that merely
    names s3vault (an operator's runbook) is not one (an attack pass, 2026-12-07)."""
    tag = f'<meta name="generator" content="{GENERATOR}">'.encode()
    if not head.startswith(b"<!DOCTYPE html>"):
        return False
    return tag in head or (head.startswith(_EARLIER) and b"</title><style>" in head)
