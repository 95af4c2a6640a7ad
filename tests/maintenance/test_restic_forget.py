"""`forget` keeps exactly what restic 0.14 keeps, for the same snapshots and the same flags.

The reference is the real ``restic forget --dry-run --json`` (tests/maintenance/resticrepo.py
writes the snapshot list into a restic repository). The s3vault side takes the same flags
through the forget command's own option parsing (click, KeepWithin, tag lists, Policy.from_options)
and runs the forget operation on an s3vault repository holding the same snapshots. Kept
snapshots are compared as a multiset of (time, host, paths, tags).

Timelines: several hosts and path sets, tags, four time zones (hours, days and weeks are
those of the zone a snapshot recorded), exact duplicates (ties in time), and a snapshot in the
future. s3vault keeps a snapshot dated ahead of its clock and does not count it (retention.py
``dated_ahead``: a put-only host dating its snapshots 2099 made forget remove the real ones),
where restic takes it for the newest of its group: the restic side is written without it,
the comparisons leave it out of s3vault's answer, and one test checks that it is always kept
and changes nothing else. Ties are only ever between snapshots
that are alike in everything compared: which of two different snapshots with the same time
restic keeps depends on the order it happened to load them in.

Where s3vault refuses on purpose (a policy that empties a group), it runs here with
--unsafe-allow-remove-all, and a separate check asserts it refuses exactly then.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from s3vault import (
    ForgetOptions,
    ForgetResult,
    InitOptions,
    Policy,
    RepoOptions,
    RepositorySettings,
    forget,
    init,
    open_repository,
)
from s3vault.cli.commands.forget import forget as forget_command
from s3vault.cli.retention import KEEP_NAMES
from s3vault.errors import UsageError
from s3vault.format.layout import ObjectKind
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId
from s3vault.maintenance.retention import AHEAD
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import save_snapshot
from tests.conftest import PASSWORD, RunCli
from tests.maintenance.resticrepo import ResticRepo, Snap, restic_version

VERSION = restic_version()
pytestmark = pytest.mark.skipif(
    not VERSION.startswith("0.14."),
    reason=f"needs restic 0.14 as the reference (found: {VERSION or 'no restic'}); "
    "CI installs it in .ci/run",
)

ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))]
ZONES.append(timezone(timedelta(hours=5, minutes=30)))
HOSTS = ("web1", "web2", "db")  # and "cron", with a series of its own
PATH_SETS = (("/srv",), ("/etc", "/srv"))
TAG_SETS = ((), ("a",), ("b",), ("a", "b"), ("a", "c"), ("nightly",))
SPAN = 900  # days


def fixed_timeline() -> list[Snap]:
    """About 320 snapshots (from the seed 14) over one to three years per series: dense
    stretches (several an hour) and sparse ones, duplicates, a cron job's regular ones, a
    snapshot in the future."""
    rnd = random.Random(14)
    start = datetime(2023, 1, 2, tzinfo=UTC)
    snaps = []
    for host in HOSTS:
        for paths in PATH_SETS[: 2 if host != "db" else 1]:
            t = start + timedelta(hours=rnd.randrange(48))
            for _ in range(45):
                snap = Snap(t.astimezone(rnd.choice(ZONES)), host, paths, rnd.choice(TAG_SETS))
                snaps.append(snap)
                if rnd.random() < 0.05:
                    snaps.append(snap)  # an exact duplicate: a tie in time
                gap = rnd.choice([0.4, 0.9, 5, 20, 26, 80, 200, 700, 2000])  # hours
                t += timedelta(seconds=round(3600 * gap * rnd.uniform(0.5, 1.5)))
    # a cron job's: at 02:00:00 every day for two months, then every hour for a day (windows
    # of whole days and hours end exactly on one of them)
    cron = datetime(2024, 3, 1, 2, tzinfo=UTC)
    snaps += [Snap(cron + timedelta(days=d), "cron", ("/srv",), ()) for d in range(60)]
    cron += timedelta(days=60)
    snaps += [Snap(cron + timedelta(hours=h), "cron", ("/srv",), ("a",)) for h in range(24)]
    snaps.append(Snap(datetime(2099, 1, 1, tzinfo=UTC), "db", ("/srv",), ("a",)))
    return snaps


class S3vaultSide:
    """An s3vault repository whose snapshots are set like the restic one's."""

    def __init__(self, tmp: Path) -> None:
        self.options = RepoOptions(
            url=str(tmp / "s3vault"), password=PASSWORD.encode(), cache_dir=None
        )
        init(self.options, InitOptions(settings=RepositorySettings(kdf_cost="minimum")))
        self.repo: Repository = open_repository(self.options)

    def write(self, snaps: list[Snap]) -> None:
        for sid in self.repo.list_files(ObjectKind.SNAPSHOTS):
            self.repo.backend.delete(self.repo.name_of(ObjectKind.SNAPSHOTS, sid))
        for snap in snaps:
            save_snapshot(
                self.repo,
                SnapshotFile(
                    time=snap.time,
                    tree=ObjectId(bytes(32)),
                    paths=snap.paths,
                    hostname=snap.host,
                    tags=snap.tags,
                    program_version=str(random.random()),  # duplicates are distinct files
                ),
            )

    def result(self, flags: list[str], *, allow_remove_all: bool = True) -> ForgetResult:
        """s3vault forget --dry-run FLAGS, the flags parsed by the forget command itself."""
        params = _parsed(flags)
        options = ForgetOptions(
            policy=Policy.from_options({name: params[name] for name in KEEP_NAMES}),
            group_by=tuple(params["group_by"].split(",")),
            hosts=params["hosts"],
            tags=params["tags"],
            paths=params["paths"],
            dry_run=True,
            allow_remove_all=allow_remove_all,
        )
        return forget(self.repo, options)

    def kept(self, flags: list[str]) -> list[Snap]:
        """What s3vault forget --dry-run FLAGS keeps."""
        return [
            Snap(d.snapshot.time, d.snapshot.hostname, d.snapshot.paths, d.snapshot.tags)
            for d in self.result(flags).decisions
            if d.keep and d.snapshot is not None
        ]


def _parsed(flags: list[str]) -> dict[str, Any]:
    ctx = forget_command.make_context("forget", list(flags))
    with ctx:
        return dict(ctx.params)


def _multiset(snaps: list[Snap]) -> Counter[tuple[Any, ...]]:
    return Counter((s.time, s.host, tuple(sorted(s.paths)), tuple(sorted(s.tags))) for s in snaps)


@pytest.fixture(scope="module")
def sides(tmp_path_factory: pytest.TempPathFactory) -> tuple[ResticRepo, S3vaultSide]:
    """Both sides, for tests that write their own timelines."""
    tmp = tmp_path_factory.mktemp("restic-forget")
    return ResticRepo(tmp / "restic"), S3vaultSide(tmp)


@pytest.fixture(scope="module")
def fixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[ResticRepo, S3vaultSide]:
    """Both sides holding fixed_timeline(), for every test that only reads."""
    tmp = tmp_path_factory.mktemp("restic-forget-fixed")
    restic, ours = ResticRepo(tmp / "restic"), S3vaultSide(tmp)
    timeline = fixed_timeline()
    restic.write([s for s in timeline if s.time < FUTURE])
    ours.write(timeline)
    return restic, ours


FUTURE = datetime(2090, 1, 1, tzinfo=UTC)  # the timeline's snapshot dated ahead is after it


def _past(snaps: list[Snap]) -> list[Snap]:
    return [s for s in snaps if s.time < FUTURE]


# --- flags ---------------------------------------------------------------------------------

durations = st.builds(
    lambda y, m, d, h: "".join(f"{n}{u}" for n, u in zip((y, m, d, h), "ymdh", strict=True) if n),
    st.sampled_from([0, 0, 0, 1]),
    st.sampled_from([0, 0, 0, 1, 2, 13]),
    st.sampled_from([0, 0, 1, 2, 3, 7, 30]),
    st.sampled_from([0, 0, 1, 2, 5, 24, 36]),
).filter(bool)
# for short timelines: windows that end exactly on a snapshot now and then
short_durations = st.sampled_from(["1h", "2h", "3h", "5h", "12h", "1d", "2d", "3d", "7d", "1d12h"])
tag_list = st.sampled_from(["a", "b", "a,b", "c", "a,c", "nightly", "", "b,nightly", " a , b "])
COUNTS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
WITHINS = ("within", "within-hourly", "within-daily", "within-weekly", "within-monthly")
WITHINS += ("within-yearly",)
GROUPS = ["", "host", "paths", "tags", "host,paths", "host,tags", "paths,tags"]
GROUPS += ["host,paths,tags", "hosts,path", "tag"]


@st.composite
def policies(
    draw: st.DrawFn,
    *,
    filters: bool = True,
    spans: st.SearchStrategy[str] = durations,
    odds: tuple[int, int] = (4, 4),  # one in N: each count rule, each within rule
) -> list[str]:
    flags: list[str] = []
    for rule in COUNTS:
        if draw(st.integers(1, odds[0])) == 1:
            flags += [f"--keep-{rule}", str(draw(st.integers(1, 12)))]
    for rule in WITHINS:
        if draw(st.integers(1, odds[1])) == 1:
            flags += [f"--keep-{rule}", draw(spans)]
    for keep in draw(st.lists(tag_list, max_size=2)):
        flags += ["--keep-tag", keep]
    assume(flags)
    flags += ["--group-by", draw(st.sampled_from(GROUPS))]
    if filters:
        for host in draw(st.lists(st.sampled_from([*HOSTS, "cron"]), max_size=2, unique=True)):
            flags += ["--host", host]
        for tags in draw(st.lists(tag_list, max_size=2)):
            flags += ["--tag", tags]
        if draw(st.booleans()):
            flags += ["--path", draw(st.sampled_from(["/srv", "/etc"]))]
    return flags


FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FAST
@given(flags=policies())
def test_forget_keeps_what_restic_keeps(
    fixed: tuple[ResticRepo, S3vaultSide], flags: list[str]
) -> None:
    restic, ours = fixed
    assert _multiset(_past(ours.kept(flags))) == _multiset(restic.kept(flags)), flags


@FAST
@given(flags=policies())
def test_a_snapshot_dated_ahead_is_kept_and_counts_for_nothing(
    fixed: tuple[ResticRepo, S3vaultSide], flags: list[str]
) -> None:
    """Selected, it is kept; the other decisions are restic's without it (the test above)."""
    decisions = fixed[1].result(flags).decisions
    ahead = [d for d in decisions if d.snapshot is not None and d.snapshot.time >= FUTURE]
    assert all(d.keep and d.reasons == (AHEAD,) for d in ahead)


# --- generated timelines ---------------------------------------------------------------------


@st.composite
def timelines(draw: st.DrawFn) -> list[Snap]:
    """Small timelines packed into a short stretch, so that hours, days and weeks collide."""
    base = datetime(2024, 12, 28, 22, tzinfo=UTC)  # a year and an ISO week change
    scale = draw(st.sampled_from([60, 1800, 3600, 3600, 86400, 86400]))  # seconds a step
    snaps = []
    for _ in range(draw(st.integers(1, 18))):
        t = base + timedelta(seconds=scale * draw(st.integers(0, 60)))
        snap = Snap(
            t.astimezone(draw(st.sampled_from(ZONES))),
            draw(st.sampled_from(HOSTS[:2])),
            draw(st.sampled_from(PATH_SETS)),
            draw(st.sampled_from(TAG_SETS)),
        )
        snaps += [snap] * draw(st.sampled_from([1, 1, 1, 2]))
    # a tie only between snapshots alike in all that is compared (see the module docstring),
    # the time zone included: one instant in two zones falls in different local hours and
    # days, and which of the two restic keeps depends on its load order
    by_time: dict[datetime, Snap] = {}

    def alike(s: Snap) -> bool:
        first = by_time.setdefault(s.time, s)
        return first == s and first.time.utcoffset() == s.time.utcoffset()

    return [s for s in snaps if alike(s)]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    timeline=timelines(),
    flags=policies(filters=False, spans=short_durations, odds=(8, 3)),
)
def test_forget_keeps_what_restic_keeps_on_generated_timelines(
    sides: tuple[ResticRepo, S3vaultSide], timeline: list[Snap], flags: list[str]
) -> None:
    restic, ours = sides
    restic.write(timeline)
    ours.write(timeline)
    assert _multiset(ours.kept(flags)) == _multiset(restic.kept(flags)), (flags, timeline)


# --- what s3vault refuses where restic goes ahead -------------------------------------------


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(flags=policies())
def test_forget_refuses_exactly_when_restic_would_empty_a_group(
    fixed: tuple[ResticRepo, S3vaultSide], flags: list[str]
) -> None:
    """restic removes a whole group when its policy keeps nothing there (a typo in --keep-tag
    removes everything: restic #4568); s3vault refuses then, and only then."""
    ours = fixed[1]
    decisions = ours.result(flags).decisions
    counted = [d for d in decisions if d.reasons != (AHEAD,)]  # a snapshot dated ahead: kept
    emptied = {d.group for d in counted} - {d.group for d in counted if d.keep}
    try:
        ours.result(flags, allow_remove_all=False)
        refused = False
    except UsageError as exc:
        refused = "refusing" in str(exc)
    assert refused == bool(emptied), (flags, emptied)


# --- the real command lines -----------------------------------------------------------------

CLI_CASES = [
    ["--keep-within", "6m"],
    ["--keep-within", "1y2m3d4h", "--keep-tag", "a,b"],
    ["--keep-daily", "3", "--keep-weekly", "2", "--tag", "a,b", "--tag", "nightly"],
    ["--keep-within-weekly", "2m", "--keep-last", "1", "--group-by", "host"],
]


@pytest.mark.parametrize("flags", CLI_CASES, ids=" ".join)
def test_the_same_command_line_keeps_the_same_snapshots(
    fixed: tuple[ResticRepo, S3vaultSide], run_cli: RunCli, flags: list[str]
) -> None:
    """Through the real entry point, with --json output."""
    restic, ours = fixed
    done = run_cli(
        "-r", ours.options.url, "forget", "--dry-run", "--json", "--unsafe-allow-remove-all",
        *flags,
    )  # fmt: skip
    assert done.code == 0, done.stderr
    kept = [
        Snap(datetime.fromisoformat(d["time"]), d["hostname"], tuple(d["paths"]), tuple(d["tags"]))
        for line in done.stdout.splitlines()
        for d in [json.loads(line)]
        if d["message_type"] == "decision" and d["keep"]
    ]
    expected = restic.kept(flags)
    assert expected, "a case that keeps nothing proves little"
    assert _multiset(_past(kept)) == _multiset(expected)


def test_restic_reference_sees_the_timeline(fixed: tuple[ResticRepo, S3vaultSide]) -> None:
    """The harness itself: restic reads every snapshot written (keep-last beyond the count)."""
    restic, ours = fixed
    timeline = fixed_timeline()
    everything = ["--keep-last", "100000", "--group-by", ""]
    assert _multiset(restic.kept(everything)) == _multiset(_past(timeline))
    assert _multiset(ours.kept(everything)) == _multiset(timeline)


# --- a local zone with daylight saving time -------------------------------------------------

LOCAL_ZONE = "Europe/Berlin"
POSIX_RULE = "CET-1CEST,M3.5.0,M10.5.0/3"  # Berlin's rule, as glibc reads it and Go does not


@contextmanager
def _zone(sides: tuple[ResticRepo, S3vaultSide], tz: str) -> Iterator[None]:
    """Both tools with TZ set so; UTC again afterwards."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = sides[0].tz = tz
    time.tzset()
    try:
        yield
    finally:
        sides[0].tz = "UTC"
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


def _around(latest: datetime, zone: ZoneInfo, days: int) -> list[Snap]:
    """A snapshot every 30 minutes for ``days`` days up to ``latest``, each at the local
    zone's offset of its instant (as a host in that zone records it), and a few at a fixed
    offset no local zone has then (Go reads those in a fixed zone)."""
    snaps = []
    for step in range(days * 48 + 1):
        # counted on UTC: arithmetic in a ZoneInfo zone is wall-clock arithmetic, and gave two
        # snapshots at one instant (02:00+01:00, 03:00+02:00), a tie restic breaks by chance
        t = (latest.astimezone(UTC) - timedelta(minutes=30 * step)).astimezone(zone)
        snaps.append(Snap(t.astimezone(timezone(t.utcoffset() or timedelta())), "h", ("/srv",), ()))
        if step % 7 == 0:
            odd = t.astimezone(timezone(timedelta(hours=5, minutes=30)))
            snaps.append(Snap(odd, "h", ("/etc",), ()))
    return snaps


WINDOWS = [
    ["--keep-within", "1d"],
    ["--keep-within", "2d"],
    ["--keep-within", "1d1h"],
    ["--keep-within-daily", "1d"],
    ["--keep-within-hourly", "1d"],
    ["--keep-within", "1m"],
]


@pytest.mark.parametrize(
    ("tz", "flags"),
    [*((LOCAL_ZONE, f) for f in WINDOWS), (POSIX_RULE, WINDOWS[0]), (POSIX_RULE, WINDOWS[3])],
    ids=lambda v: " ".join(v) if isinstance(v, list) else v,
)
def test_windows_across_a_daylight_saving_change_are_restics(
    sides: tuple[ResticRepo, S3vaultSide], flags: list[str], tz: str
) -> None:
    """Go counts a day back on the local zone's wall clock (25 hours where the clocks went
    back, 23 where they went forward): s3vault counted 24 and removed a snapshot restic
    keeps (an attack pass, 2026-12-07). A POSIX rule in TZ is no zone for Go (UTC), though
    the C library reads it: s3vault took the C library's."""
    restic, ours = sides
    zone = ZoneInfo(LOCAL_ZONE)  # where the snapshots were taken
    autumn = datetime(2024, 10, 27, 12, tzinfo=zone)  # the clocks went back at 03:00
    spring = datetime(2024, 3, 31, 12, tzinfo=zone)  # and forward at 02:00
    month = datetime(2024, 11, 26, 12, 15, tzinfo=zone)  # a month back: before it
    with _zone(sides, tz):
        for latest, days in ((autumn, 3), (spring, 3), (month, 33)):
            # the last day, and two days around where a window of a month or less ends
            edge = latest.astimezone(UTC) - timedelta(days=31)
            timeline = [
                s
                for s in _around(latest, zone, days)
                if s.time > latest - timedelta(days=3) or abs(s.time - edge) < timedelta(days=1)
            ]
            restic.write(timeline)
            ours.write(timeline)
            kept = _multiset(ours.kept(flags))
            assert kept == _multiset(restic.kept(flags)), (flags, latest)
