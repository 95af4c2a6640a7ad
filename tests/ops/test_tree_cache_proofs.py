"""Issue 19: a proof means "read from the store and checked". A backup host's tree-pack cache is
filled when the backup writes, so a drill or a restore --verify that reads its trees from there
proves the data packs (read from the store) and no tree pack; `verify --coverage` then reads
those tree packs first, and fleet's "last proven" follows. Library level, on a simulated clock."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from s3vault import (
    BackupOptions,
    DrillOptions,
    RestoreOptions,
    VerifyOptions,
    backup,
    fleet,
    restore,
    restore_test,
    verify,
)
from s3vault.clock import ManualClock
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from s3vault.ops.session import open_repository
from s3vault.repository import ledger as ledgers
from s3vault.repository.index import BlobIndex
from s3vault.repository.repository import Repository
from s3vault.restorer import proof
from tests.conftest import RepoHandle, write_file

START = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
MONTH = timedelta(days=30).total_seconds()


def packs_of(repo: Repository, kind: str) -> dict[ObjectId, int]:
    """The stored packs of one kind (``data`` or ``tree``) and their sizes."""
    listed = repo.list_packs().items()
    return {p: info.size for p, info in listed if info.name.startswith(f"{kind}/")}


def backed_up(local_repo: RepoHandle, tmp_path: Path, clock: ManualClock) -> Repository:
    """One backup of host h1 through a handle with the cache: its tree packs are cached."""
    repo = local_repo.open()
    for i in range(6):
        write_file(tmp_path / "src" / f"d{i % 2}" / f"f{i}", os.urandom(30_000))
    done = backup(repo, BackupOptions(paths=(str(tmp_path / "src"),), host="h1"), clock=clock)
    assert done.snapshot_id is not None
    assert any((local_repo.cache).rglob("tree/*/*"))  # the backup filled the tree-pack cache
    return open_repository(local_repo.options, load_index=True)


def test_a_drill_on_a_warm_cache_proves_no_tree_pack_and_coverage_reads_them_first(
    local_repo: RepoHandle, tmp_path: Path
) -> None:
    """Backup, then a full drill on the same host: the data packs proven, the tree packs not;
    fleet shows the host unproven by the tree packs' size (not "never" for good): one
    `verify --coverage` with a budget of one byte reads a never-proven pack (a tree pack),
    and with every tree pack read the host's last proven is the drill's time."""
    clock = ManualClock(START)
    repo = backed_up(local_repo, tmp_path, clock)
    data, trees = packs_of(repo, "data"), packs_of(repo, "tree")
    assert data and trees
    assert restore_test(repo, DrillOptions(no_disk=True), clock=clock).record.passed
    assert set(ledgers.load(repo).proofs) == set(data)
    (row,) = fleet(repo, clock=clock).rows
    assert row.last_proven is None and row.never_proven_bytes == sum(trees.values())
    clock.advance(timedelta(hours=1))
    for _ in trees:  # one never-proven pack a run: the tree packs, data packs are proven
        options = VerifyOptions(coverage=MONTH, budget="1")
        assert verify(repo, options, clock=clock).ok
    assert set(ledgers.load(repo).proofs) == set(data) | set(trees)
    (row,) = fleet(repo, clock=clock).rows
    assert row.last_proven == START and row.never_proven_bytes == 0


def test_tree_packs_count_only_when_this_run_read_them_from_the_store(
    local_repo: RepoHandle, tmp_path: Path
) -> None:
    """A restore --verify through an empty cache reads every tree pack from the store: every
    pack proven. A second run in the same session finds them in the cache it filled: only its
    data packs are proven again (the tree packs keep the first run's time)."""
    clock = ManualClock(START)
    backed_up(local_repo, tmp_path, clock)
    options = replace(local_repo.options, cache_dir=tmp_path / "empty")
    empty = open_repository(options, load_index=True)
    data, trees = packs_of(empty, "data"), packs_of(empty, "tree")
    first = restore(empty, RestoreOptions(target=tmp_path / "t1", verify=True), clock=clock)
    assert not first.errors and not first.mismatches
    assert set(ledgers.load(empty).proofs) == set(data) | set(trees)
    clock.advance(timedelta(hours=1))
    again = restore(empty, RestoreOptions(target=tmp_path / "t2", verify=True), clock=clock)
    assert not again.errors and not again.mismatches
    proofs = ledgers.load(empty).proofs
    assert {p for p, proof in proofs.items() if proof.time == clock.now().timestamp()} == set(data)
    assert all(proofs[t].time == START.timestamp() for t in trees)


def test_a_damaged_tree_copy_read_past_is_not_proven(
    local_repo: RepoHandle, tmp_path: Path
) -> None:
    """Every tree stored twice, the copy readers try first damaged in one tree: a drill with no
    cache reads past it to the other copy and passes, and the damaged pack is not proven,
    though the drill read its other trees from the store."""
    clock = ManualClock(START)
    repo = backed_up(local_repo, tmp_path, clock)
    writer = repo.copy_writer(BlobIndex())
    trees = [bid for btype, bid, _loc in repo.index.entries() if btype is BlobType.TREE]
    for bid in trees:
        writer.save(BlobType.TREE, repo.load_blob(BlobType.TREE, bid), bid)
    writer.flush()
    cold = open_repository(replace(local_repo.options, cache_dir=None), load_index=True)
    first = cold.index.locations(BlobType.TREE, trees[0])
    assert len(first) == 2 and len(trees) > 1  # the damaged pack holds other trees too
    damaged = first[0].pack_id
    path = Path(local_repo.url, cold.list_packs()[damaged].name)
    data = bytearray(path.read_bytes())
    data[first[0].offset + 40] ^= 0xFF
    path.chmod(0o600)
    path.write_bytes(bytes(data))
    assert restore_test(cold, DrillOptions(no_disk=True), clock=clock).record.passed
    proofs = set(ledgers.load(cold).proofs)
    assert damaged not in proofs and set(packs_of(cold, "data")) <= proofs


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_damaged_data_copy_read_past_is_not_proven_nor_a_copy_never_read(
    local_repo: RepoHandle, tmp_path: Path, jobs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every data blob stored twice, the copy readers open first damaged in one blob: a drill
    (in one process, and in worker processes, which tell the parent what failed) reads past it
    to the other copy and passes; the damaged pack is not proven, nor is any pack of further
    copies (no reader opened those), and the undamaged first copies are."""
    monkeypatch.setattr(proof, "SLICE", 2)  # six files: three slices, so workers do run
    clock = ManualClock(START)
    repo = backed_up(local_repo, tmp_path, clock)
    writer = repo.copy_writer(BlobIndex())
    blobs = [bid for btype, bid, _loc in repo.index.entries() if btype is BlobType.DATA]
    for bid in blobs:
        writer.save(BlobType.DATA, repo.load_blob(BlobType.DATA, bid), bid)
    writer.flush()
    cold = open_repository(replace(local_repo.options, cache_dir=None), load_index=True)
    read_first = {loc.pack_id for b in blobs if (loc := cold.index.lookup(BlobType.DATA, b))}
    never_read = set(packs_of(cold, "data")) - read_first
    first = cold.index.locations(BlobType.DATA, blobs[0])
    assert len(first) == 2 and never_read and len(blobs) > 1
    damaged = first[0].pack_id
    path = Path(local_repo.url, cold.list_packs()[damaged].name)
    data = bytearray(path.read_bytes())
    data[first[0].offset + 40] ^= 0xFF
    path.chmod(0o600)
    path.write_bytes(bytes(data))
    drill = restore_test(cold, DrillOptions(no_disk=True, jobs=jobs), clock=clock)
    assert drill.record.passed
    proofs = set(ledgers.load(cold).proofs)
    assert damaged not in proofs and not proofs & never_read
    assert read_first - {damaged} <= proofs
