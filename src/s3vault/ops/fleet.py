"""fleet: one row per host from the repository's metadata alone (docs/fleet.md).

Read, never written: snapshot files, drill records and (for a host that is overdue) the tail
of its audit chain; read-only credentials suffice and no audit record is added. What it costs
each morning, for a repository of H hosts (host and path sets) and S snapshots:

- one listing of ``snapshots/`` (S/1000 LIST requests) and one of ``drills/``;
- snapshot files: per group tag (the keyed hash of host and paths in each name, design.md
  §2) only the ``history`` newest by listing time, read through the local snapshot cache, so
  a warm cache reads only the snapshots written since the last run (about H GETs after a
  night of daily backups) and a cold one about ``history`` x H, never S. A group whose newest
  listed files do not show the newest snapshot time (copies, names listed out of order, a
  store without object times) is read whole;
- two listings of ``drills/`` and the drill records listed within ``drill_window`` (cached
  locally like snapshots);
- per overdue host, one LIST of its audit chain and at most ``AUDIT_TAIL`` GETs (why its
  last attempts failed);
- once the verification ledger exists (and unless ``proofs`` is False): the ledger files, the
  index (through the local index cache: the index files written since the last run) and one
  walk of each host's latest trees (through the local tree-pack cache; about 10 µs a file on
  one core, measured: docs/fleet.md).

The verification ledger gives the coverage over time (``ledger_figures``); while the ledger is
empty it is None, shown as "no ledger yet". Once it exists, each host's "last proven" comes from
it and the index (``fleetproofs``: the index, from the local index cache, and a walk of each
host's latest trees, from the local tree-pack cache); ``FleetOptions.proofs`` False skips that.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from s3vault.backend.accounting import RequestCounts
from s3vault.clock import Clock, SystemClock
from s3vault.errors import FormatVersionError, IntegrityError, ObjectNotFoundError, S3VaultError
from s3vault.format.auditfile import AuditRecord
from s3vault.format.drillfile import DrillFile
from s3vault.format.envelope import SealedKind
from s3vault.format.layout import ObjectKind, snapshot_tag
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId
from s3vault.ops.fleetproofs import HostProof, host_proofs
from s3vault.ops.fleetrows import DrillPoint, HostRow, SnapshotPoint, host_rows, span
from s3vault.repository import ledger as ledgers
from s3vault.repository.audit import host_records
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import damaged_snapshot_hint, load_snapshot

AUDIT_TAIL = 3  # audit records read per overdue host, newest first
# seconds a snapshot's time may run ahead of its file's listing time: S3 refuses requests
# signed by a clock more than 15 minutes off its own
SKEW = 900.0


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetOptions:
    """How to judge the fleet."""

    # (host glob, expected interval between backups), the first match wins; a host that
    # matches none has its schedule inferred from its history
    expect: tuple[tuple[str, timedelta], ...] = ()
    history: int = 10  # snapshots per host and path set read to infer the schedule
    overdue_factor: float = 1.5  # overdue when the age passes this many expected intervals
    drill_window: timedelta = timedelta(days=35)  # drills older than this are not read
    since: datetime | None = None  # also read every snapshot and drill since (the report)
    workers: int = 8
    proofs: bool = True  # each host's "last proven" (reads the index and its latest trees)


@dataclass(frozen=True, slots=True, kw_only=True)
class CoveragePoint:
    """The verification ledger's coverage at one time."""

    time: datetime
    proven_share: float  # share of stored bytes proven within the period
    oldest_unproven_seconds: float  # age of the oldest pack not proven within it


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerFigures:
    """What the verification ledger tells the fleet and the report."""

    period_seconds: float
    last_proven: dict[str, datetime] = field(default_factory=dict)  # host → all its data proven
    history: tuple[CoveragePoint, ...] = ()


DAY = 86_400.0
COVERAGE_PERIOD = 30 * DAY  # the period the fleet's coverage is judged against
HISTORY_DAYS = 30


def ledger_figures(
    repo: Repository, *, now: datetime, ledger: ledgers.Ledger | None = None
) -> LedgerFigures | None:
    """The verification ledger's figures for the report's coverage plot: for each of the last
    30 days, the share of today's stored bytes proven within the 30 days before it and the age
    of the least recently proven pack. None while the ledger is empty ("no ledger yet").

    Prune keeps only each pack's newest proof, so before a compaction the history is exact and
    after it a lower bound. Per-host "last proven" is ``fleet``'s (``fleetproofs``).
    ``ledger``: the ledger loaded already (else it is loaded here).

    Raises:
        BackendError: storage could not be listed or read.
    """
    ledger = ledger if ledger is not None else ledgers.load(repo, now=now.timestamp())
    if not ledger.files:
        return None
    stored = {pid: info.size for pid, info in repo.list_packs().items()}
    total = sum(stored.values())
    times = {pid: sorted(ledger.times.get(pid, ())) for pid in stored}
    start = min((t[0] for t in times.values() if t), default=now.timestamp())
    history = []
    for back in range(HISTORY_DAYS - 1, -1, -1):
        at = now.timestamp() - back * DAY
        proven, oldest = 0, 0.0
        for pid, size in stored.items():
            last = max((t for t in times[pid] if t <= at), default=None)
            if last is not None and last >= at - COVERAGE_PERIOD:
                proven += size
            else:
                oldest = max(oldest, at - (last if last is not None else min(start, at)))
        history.append(
            CoveragePoint(
                time=datetime.fromtimestamp(at, tz=now.tzinfo),
                proven_share=proven / total if total else 1.0,
                oldest_unproven_seconds=oldest,
            )
        )
    return LedgerFigures(period_seconds=COVERAGE_PERIOD, history=tuple(history))


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetResult:
    """The fleet's rows and what they were made of."""

    now: datetime
    rows: tuple[HostRow, ...]
    snapshots: tuple[SnapshotPoint, ...]  # every snapshot read, oldest first
    drills: tuple[DrillPoint, ...]  # every drill read, oldest first
    ledger: LedgerFigures | None
    snapshots_listed: int
    snapshots_read: int
    requests: RequestCounts
    proofs: bool = False  # each host's "last proven" was computed

    @property
    def overdue(self) -> tuple[HostRow, ...]:
        """The hosts whose backups are overdue."""
        return tuple(r for r in self.rows if r.overdue)


def fleet(
    repo: Repository, options: FleetOptions | None = None, *, clock: Clock | None = None
) -> FleetResult:
    """One row per host (see the module docstring for what is read). The index is read only
    for each host's "last proven" (``options.proofs``, once the ledger exists).

    Raises:
        BackendError: the store could not be listed or read (a damaged file is skipped and
            told to ``repo.skip`` instead).
    """
    options = options or FleetOptions()
    now = (clock or SystemClock()).now()
    listed, snaps = _read_snapshots(repo, options)
    points = sorted((_point(sid, snap) for sid, snap in snaps), key=lambda p: (p.time, p.id))
    hosts: dict[str, str | None] = dict.fromkeys((sid.hex() for sid in listed), None)
    hosts.update({p.id: p.host for p in points})
    drills = _read_drills(repo, options, now, hosts)
    loaded = ledgers.load(repo, now=now.timestamp())
    ledger = ledger_figures(repo, now=now, ledger=loaded)
    proofs: dict[str, HostProof] = {}
    computed = ledger is not None and options.proofs
    if ledger is not None and computed:
        indexed = repo.with_index(repo.read_index())
        proofs = host_proofs(indexed, snaps, loaded, tz=now.tzinfo)
        proven = {h: p.last_proven for h, p in proofs.items() if p.last_proven is not None}
        ledger = replace(ledger, last_proven=proven)
    rows = host_rows(
        points,
        drills,
        now=now,
        expect=options.expect,
        overdue_factor=options.overdue_factor,
        drill_window=options.drill_window,
        last_proven=ledger.last_proven if ledger else None,
    )
    rows = [_with_proof(row, proofs.get(row.host), now) for row in rows]
    rows = [_with_attempts(repo, row) if row.overdue else row for row in rows]
    return FleetResult(
        now=now,
        rows=tuple(rows),
        snapshots=tuple(points),
        drills=tuple(drills),
        ledger=ledger,
        snapshots_listed=len(listed),
        snapshots_read=len(snaps),
        requests=repo.requests.snapshot(),
        proofs=computed,
    )


def _with_proof(row: HostRow, proof: HostProof | None, now: datetime) -> HostRow:
    """The row with how much of its latest snapshots was never proven, and a warning when
    they need blobs that are missing or damaged or were last proven whole before the coverage
    period."""
    if proof is None:
        return row
    row = replace(row, never_proven_bytes=proof.never_bytes)
    if proof.missing:
        return row.warned(
            f"latest snapshot needs {proof.missing} blob(s) missing or damaged: "
            "`s3vault verify` names them"
        )
    last = proof.last_proven
    if last is not None and (now - last).total_seconds() > COVERAGE_PERIOD:
        return row.warned(
            f"latest snapshot last proven whole {span((now - last).total_seconds())} ago: "
            "`verify --coverage 30d` each night proves every pack within 30 days"
        )
    return row


def _point(sid: ObjectId, snap: SnapshotFile) -> SnapshotPoint:
    s = snap.summary
    seconds = None
    try:
        if s.backup_start and s.backup_end:
            start = datetime.fromisoformat(s.backup_start)
            seconds = max(0.0, (datetime.fromisoformat(s.backup_end) - start).total_seconds())
    except ValueError:
        seconds = None
    return SnapshotPoint(
        id=sid.hex(),
        host=snap.hostname,
        paths=tuple(sorted(snap.paths)),
        time=snap.time,
        bytes=s.total_bytes_processed,
        added=s.data_added,
        seconds=seconds,
        files_failed=s.files_failed,
        incomplete=snap.incomplete,
    )


def _chosen(
    groups: dict[str | None, list[tuple[float, ObjectId]]], options: FleetOptions
) -> tuple[list[ObjectId], dict[str, list[ObjectId]]]:
    """(snapshots to read now, each group's remaining ids newest first: read them too if
    the newest read do not show the group's newest time)."""
    since = options.since.timestamp() - SKEW if options.since else None
    now_ids: list[ObjectId] = []
    rest: dict[str, list[ObjectId]] = {}
    for tag, items in groups.items():
        items.sort(key=lambda item: (item[0], item[1].hex()), reverse=True)
        if tag is None or any(modified <= 0 for modified, _ in items):
            now_ids += [sid for _, sid in items]  # untagged, or a store without times
            continue
        head, tail = items[: options.history], items[options.history :]
        now_ids += [sid for _, sid in head]
        now_ids += [sid for m, sid in tail if since is not None and m >= since]
        rest[tag] = [sid for m, sid in tail if since is None or m < since]
    return now_ids, rest


def _read_snapshots(
    repo: Repository, options: FleetOptions
) -> tuple[list[ObjectId], list[tuple[ObjectId, SnapshotFile]]]:
    """(the snapshot files listed, the snapshots read), per the module docstring."""
    ids = repo.list_files(ObjectKind.SNAPSHOTS)  # notes each id's tagged name
    modified = {i.name: i.modified for i in repo.list_objects(ObjectKind.SNAPSHOTS)}
    groups: dict[str | None, list[tuple[float, ObjectId]]] = {}
    listed_at: dict[ObjectId, float] = {}
    for sid in ids:
        name = repo.name_of(ObjectKind.SNAPSHOTS, sid)
        listed_at[sid] = modified.get(name, 0.0)
        groups.setdefault(snapshot_tag(name), []).append((listed_at[sid], sid))
    first, rest = _chosen(groups, options)
    snaps = _load(repo, first, options.workers)
    newest: dict[str, float] = {}
    for sid, snap in snaps:
        tag = snapshot_tag(repo.name_of(ObjectKind.SNAPSHOTS, sid))
        if tag is not None:
            newest[tag] = max(newest.get(tag, 0.0), snap.time.timestamp())
    # A snapshot's time is its backup's start, before its file is stored, so an unread file
    # holds no time later than its listing time (plus SKEW): when the newest read is later
    # than every unread file's listing, none is newer. Else (copied in, or a clock that ran
    # ahead) the group is read whole.
    again = [
        sid
        for tag, remaining in rest.items()
        if remaining and newest.get(tag, 0.0) < max(listed_at[sid] for sid in remaining) + SKEW
        for sid in remaining
    ]
    snaps += _load(repo, again, options.workers)
    return ids, snaps


def _load(
    repo: Repository, ids: list[ObjectId], workers: int
) -> list[tuple[ObjectId, SnapshotFile]]:
    """Read snapshots in parallel; a removed one is passed over, a damaged one skipped and
    told to ``repo.skip`` (as ``list_snapshots`` does)."""

    def one(sid: ObjectId) -> tuple[ObjectId, SnapshotFile | None, str]:
        try:
            return sid, load_snapshot(repo, sid), ""
        except ObjectNotFoundError:
            return sid, None, ""
        except (IntegrityError, FormatVersionError) as exc:
            return sid, None, str(exc)

    out = []
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for sid, snap, problem in pool.map(one, ids):
            if snap is not None:
                out.append((sid, snap))
            elif problem:
                name = repo.name_of(ObjectKind.SNAPSHOTS, sid)
                reason = problem.removeprefix(name + ": ")
                repo.skip(name, f"snapshot file skipped: {reason}; {damaged_snapshot_hint(sid)}")
    return out


def _read_drills(
    repo: Repository, options: FleetOptions, now: datetime, hosts: dict[str, str | None]
) -> list[DrillPoint]:
    """The drills listed within the window (and since ``options.since``), each attributed to
    the host of the snapshot it restored (``hosts``: snapshot id → host, None for one listed
    but not read yet: it is read; a snapshot not listed is gone: the drilling host)."""
    start = now - options.drill_window
    if options.since is not None:
        start = min(start, options.since)
    listed = set(repo.list_files(ObjectKind.DRILLS))  # also drops removed ones from the cache
    wanted = []
    for info in repo.list_objects(ObjectKind.DRILLS):
        oid = _id_in(info.name)
        if oid in listed and (info.modified <= 0 or info.modified >= start.timestamp() - SKEW):
            wanted.append(oid)
    out = []
    for oid in wanted:
        try:
            drill = DrillFile.decode(repo.load_file(ObjectKind.DRILLS, oid))
        except ObjectNotFoundError:
            continue
        except (IntegrityError, FormatVersionError) as exc:
            repo.skip(f"drills/{oid.hex()}", f"drill record skipped: {exc}")
            continue
        if drill.time < start:
            continue
        out.append(_drill_point(repo, drill, hosts))
    out.sort(key=lambda d: d.time)
    return out


def _id_in(name: str) -> ObjectId | None:
    try:
        return ObjectId.from_hex(name.rsplit("/", 1)[-1])
    except (ValueError, S3VaultError):
        return None


def _drill_point(repo: Repository, drill: DrillFile, hosts: dict[str, str | None]) -> DrillPoint:
    host = hosts.get(drill.snapshot, drill.hostname)  # not listed: gone, the drilling host
    if host is None:
        try:
            host = load_snapshot(repo, ObjectId.from_hex(drill.snapshot)).hostname
        except (ObjectNotFoundError, IntegrityError, FormatVersionError):
            host = drill.hostname
        hosts[drill.snapshot] = host
    rto = drill.projected_rto_seconds
    return DrillPoint(
        time=drill.time,
        host=host,
        drilled_by=drill.hostname,
        passed=drill.passed,
        rto_seconds=rto if rto >= 0 else None,
        rto_target_seconds=drill.rto_target_seconds,
    )


def _audit_tail(repo: Repository, host: str, after: datetime | None) -> list[AuditRecord]:
    """The host's newest audit records (at most AUDIT_TAIL, newest first), written after
    ``after``; a record that does not open is passed over (``audit`` verifies the chains)."""
    infos = [
        i
        for i in host_records(repo, host)
        if after is None or i.modified <= 0 or i.modified >= after.timestamp()
    ]
    infos.sort(key=lambda i: i.name, reverse=True)  # names start with the zero-padded seq
    records = []
    for info in infos[:AUDIT_TAIL]:
        try:
            sealed = repo.read_listed(info)
            records.append(AuditRecord.decode(repo.sealer.open_file(SealedKind.AUDIT, sealed)))
        except S3VaultError:
            continue
    return records


def _with_attempts(repo: Repository, row: HostRow) -> HostRow:
    """An overdue host's row with what its audit chain says of its attempts since its last
    success: a failed backup's exit code and message, or that none was recorded."""
    try:
        records = _audit_tail(repo, row.host, row.last_success)
    except S3VaultError as exc:
        return row.warned(f"audit log not read: {exc}")
    attempts = [r for r in records if r.operation.split(maxsplit=1)[0] in ("backup", "run")]
    failed = [r for r in attempts if r.exit_code not in (0, 3)]
    if failed:
        last = failed[0]
        when = last.time.isoformat(timespec="minutes")
        return row.warned(f"last attempt failed {when} (exit {last.exit_code}): {last.result}")
    if not attempts:
        since = " since its last snapshot" if row.last_success else ""
        return row.warned(f"no backup attempt in its audit log{since}")
    return row
