"""fleet reads few snapshot files (issue 19): per group tag only the newest by listing time,
the whole group when a copied-in snapshot makes listing time lie; an overdue host's failed
attempt comes from its audit chain."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from s3vault import BackupOptions, FleetOptions, ManualClock, ObjectId, backup, fleet
from s3vault.backend.memory import MemoryBackend
from s3vault.format.auditfile import AuditRecord
from s3vault.format.packfile import BlobType
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ops.fleet import ledger_figures
from s3vault.repository import ledger as ledgers
from s3vault.repository.audit import LocalChains, append
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import load_snapshot, save_snapshot
from tests.conftest import TEST_SETTINGS, write_file

TREE = ObjectId.from_hex("ab" * 32)
HOSTS = ("h0", "h1", "h2")
DAYS = 15
DAY40 = timedelta(days=40)


class CountingBackend(MemoryBackend):
    """The memory store, counting snapshot GETs."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock=clock)
        self.snapshot_gets = 0

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if name.startswith("snapshots/"):
            self.snapshot_gets += 1
        return super().get(name, offset, length)


def _fleet_repo() -> tuple[Repository, CountingBackend, ManualClock]:
    clock = ManualClock(datetime(2026, 3, 1, 2, tzinfo=UTC))
    backend = CountingBackend(clock)
    repo = Repository.create(backend, b"pw", TEST_SETTINGS, created="test")
    for _ in range(DAYS):
        clock.advance(timedelta(days=1))
        for host in HOSTS:
            snap = SnapshotFile(time=clock.now(), tree=TREE, paths=("/etc",), hostname=host)
            save_snapshot(repo, snap)
    clock.advance(timedelta(hours=2))
    return repo, backend, clock


def test_fleet_reads_only_the_newest_of_each_group() -> None:
    repo, backend, clock = _fleet_repo()
    result = fleet(repo, FleetOptions(history=4), clock=clock)
    assert result.snapshots_listed == DAYS * len(HOSTS)
    assert result.snapshots_read == 4 * len(HOSTS)
    assert backend.snapshot_gets == 4 * len(HOSTS)
    assert [r.host for r in result.rows] == list(HOSTS)
    for row in result.rows:
        assert row.status == "ok"
        assert row.schedule == "inferred"
        assert row.expected_seconds == 86400
        assert row.age_seconds == 7200


def test_fleet_reads_a_group_whole_when_listing_time_lies() -> None:
    repo, _backend, clock = _fleet_repo()
    newest = clock.now() - timedelta(hours=2)
    # copied in now, from long ago: the newest file by listing time, the oldest by its time
    old = SnapshotFile(
        time=datetime(2025, 1, 1, tzinfo=UTC), tree=TREE, paths=("/etc",), hostname="h0"
    )
    save_snapshot(repo, old)
    result = fleet(repo, FleetOptions(history=1), clock=clock)
    rows = {r.host: r for r in result.rows}
    assert rows["h0"].last_success == newest
    assert result.snapshots_read == (DAYS + 1) + 1 + 1


def test_fleet_tells_why_an_overdue_host_failed() -> None:
    repo, _backend, clock = _fleet_repo()
    clock.advance(timedelta(days=3))
    failed = AuditRecord(
        seq=0,
        prev=None,
        time=clock.now(),
        hostname="h1",
        username="root",
        operation="backup",
        key_id="00",
        arguments=("backup", "/etc"),
        exit_code=14,
        result="the store is unreachable",
    )
    append(repo, failed, LocalChains(None))
    result = fleet(repo, FleetOptions(expect=(("h2", timedelta(days=7)),)), clock=clock)
    rows = {r.host: r for r in result.rows}
    assert [r.host for r in result.overdue] == ["h0", "h1"]
    assert rows["h2"].status == "ok"
    assert any("(exit 14): the store is unreachable" in w for w in rows["h1"].warnings)
    assert any("no backup attempt" in w for w in rows["h0"].warnings)


def test_fleet_skips_a_damaged_snapshot_and_judges_by_the_rest() -> None:
    repo, backend, clock = _fleet_repo()
    names = sorted(
        (info.modified, info.name)
        for info in backend.list("snapshots/")
        if load_name_host(repo, info.name) == "h0"
    )
    damaged = names[-1][1]
    backend.delete(damaged)
    backend.put(damaged, b"\x00" * 200)  # the newest of h0, now garbage under its name
    result = fleet(repo, clock=clock)
    rows = {r.host: r for r in result.rows}
    assert set(rows) == set(HOSTS)
    assert rows["h0"].last_success == clock.now() - timedelta(days=1, hours=2)
    assert rows["h0"].status == "late"  # 26 hours: past its interval, not 1.5 of it
    assert list(repo.skipped) == [damaged]


def test_a_snapshot_dated_ahead_of_the_clock_keeps_no_host_ok() -> None:
    """A snapshot dated 2099 (a wrong clock, or a hostile put-only host) had shown a host
    whose backups stopped as ok, silencing the overdue alarm (an attack pass, 2026-12-07)."""
    repo, _backend, clock = _fleet_repo()
    clock.advance(timedelta(days=5))  # every host's backups stopped 5 days ago
    ahead = datetime(2099, 1, 1, tzinfo=UTC)
    save_snapshot(repo, SnapshotFile(time=ahead, tree=TREE, paths=("/etc",), hostname="h0"))
    save_snapshot(repo, SnapshotFile(time=ahead, tree=TREE, paths=("/etc",), hostname="h9"))
    rows = {r.host: r for r in fleet(repo, clock=clock).rows}
    assert rows["h0"].status == rows["h1"].status == "overdue"
    assert rows["h0"].last_success == rows["h1"].last_success
    assert any("dated ahead of the clock" in w for w in rows["h0"].warnings)
    assert rows["h9"].overdue and "dated ahead of the clock" in rows["h9"].warnings[0]
    assert rows["h9"].last_success is None and rows["h9"].age_seconds is None  # none to judge


def load_name_host(repo: Repository, name: str) -> str:
    """The host of the snapshot file stored under ``name``."""
    sid = ObjectId.from_hex(name.removeprefix("snapshots/").split(".")[0])
    return load_snapshot(repo, sid).hostname


def test_the_ledger_gives_the_coverage_history() -> None:
    """No ledger: None ("no ledger yet"). Two packs, one proven 40 days ago and one 5 days ago:
    today only the new proof is within 30 days; 29 days ago only the old one was (11 days
    old then, the new one not made yet)."""
    clock = ManualClock(datetime(2026, 3, 1, 2, tzinfo=UTC))
    repo = Repository.create(MemoryBackend(clock=clock), b"pw", TEST_SETTINGS, created="test")
    assert ledger_figures(repo, now=clock.now()) is None
    writer = repo.blob_writer()
    for _ in range(2):
        writer.save(BlobType.DATA, b"x" * 1000 + bytes(os.urandom(8)))
        writer.flush()
    old, new = sorted(repo.list_packs(), key=lambda p: p.hex())
    sizes = {p: info.size for p, info in repo.list_packs().items()}
    now = clock.now()
    ledgers.record(repo, [(old, 1)], operation="verify", hostname="a", now=now - timedelta(40))
    ledgers.record(repo, [(new, 1)], operation="verify", hostname="a", now=now - timedelta(5))
    figures = ledger_figures(repo, now=now)
    assert figures is not None and len(figures.history) == 30
    today = figures.history[-1]
    assert today.proven_share == sizes[new] / (sizes[old] + sizes[new])
    assert today.oldest_unproven_seconds == timedelta(40).total_seconds()
    first = figures.history[0]  # 29 days ago: the old proof was 11 days old, the new one not yet
    assert first.proven_share == sizes[old] / (sizes[old] + sizes[new])


def test_last_proven_is_the_oldest_proof_among_the_packs_of_a_hosts_latest_snapshot(
    tmp_path: Path,
) -> None:
    """Host a: both packs its snapshot needs proven, 40 and 2 days ago: last proven 40 days
    ago, and a warning (older than the 30-day period). Host b: one of its two packs never
    proven: no date, its size unproven. Without proofs: neither is computed."""
    clock = ManualClock(datetime(2026, 3, 1, 2, tzinfo=UTC))
    repo = Repository.create(MemoryBackend(clock=clock), b"pw", TEST_SETTINGS, created="test")
    trees = {}
    for host in ("a", "b"):
        src = write_file(tmp_path / host / "f.bin", os.urandom(50_000)).parent
        done = backup(repo, BackupOptions(paths=(str(src),), host=host), clock=clock)
        assert done.snapshot_id is not None
        trees[host] = load_snapshot(repo, done.snapshot_id).tree
    indexed = repo.with_index(repo.read_index())
    packs = {h: sorted(ledgers.covered_by(indexed, [t])) for h, t in trees.items()}
    assert all(len(p) == 2 for p in packs.values())  # a data pack and a tree pack each
    now = clock.now()
    (a1, _), (a2, _) = packs["a"]
    (b1, _), (b2, _) = packs["b"]
    ledgers.record(repo, [(a1, 1), (b1, 1)], operation="verify", hostname="v", now=now - DAY40)
    ledgers.record(repo, [(a2, 1)], operation="copy", hostname="v", now=now - timedelta(2))
    result = fleet(repo, clock=clock)
    rows = {r.host: r for r in result.rows}
    assert result.proofs
    assert rows["a"].last_proven == now - DAY40 and rows["a"].never_proven_bytes == 0
    assert any("last proven whole 40d ago" in w for w in rows["a"].warnings), rows["a"].warnings
    assert rows["a"].proven_text(ledger=True) == f"{now - DAY40:%Y-%m-%d}"
    assert rows["b"].last_proven is None
    sizes = {p: info.size for p, info in repo.list_packs().items()}
    assert rows["b"].never_proven_bytes == sizes[b2]
    assert rows["b"].proven_text(ledger=True).endswith(" unproven")
    skipped = fleet(repo, FleetOptions(proofs=False), clock=clock)
    assert not skipped.proofs
    assert all(r.last_proven is None and r.never_proven_bytes is None for r in skipped.rows)
    # b's tree pack gone: its latest snapshot cannot be restored as stored, and fleet says so
    (tree_pack,) = [p for p, _ in packs["b"] if repo.list_packs()[p].name.startswith("tree/")]
    repo.backend.delete(repo.list_packs()[tree_pack].name)
    broken = {r.host: r for r in fleet(repo, clock=clock).rows}
    assert broken["b"].last_proven is None
    assert any("missing or damaged" in w for w in broken["b"].warnings), broken["b"].warnings
    assert broken["a"].last_proven == now - DAY40
