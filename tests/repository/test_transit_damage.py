"""Bytes damaged on their way from the store (a flipped bit in transit: a ranged GET carries
no checksum, and a store or proxy may drop the one a whole GET has) are no damage of the
repository. Restore failed the file (exit 13, advising `repair snapshots` to drop what is
lost), verify --read-data called the pack damaged, copy skipped the snapshot; an immediate
retry was clean. A copy read wrong is now read once more: only one the store gives wrong
twice is damage."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from s3vault import BackupOptions, backup, open_repository
from s3vault.backend.forwarding import ForwardingBackend
from s3vault.backend.local import LocalBackend
from s3vault.backend.retry import RetryBackend
from s3vault.errors import BackendUnavailableError, TransientBackendError
from s3vault.ops.restore import RestoreOptions, restore
from s3vault.ops.verify import VerifyOptions, verify
from tests.conftest import RepoHandle, write_file
from tests.trees import snapshot_tree


class FlipsFirstRead(ForwardingBackend):
    """The first read of each data pack, index file and snapshot file (a range or the whole;
    by any process: worker processes share the marks in ``marks``) arrives with one bit
    flipped; with ``always``, every read of a data pack does (the stored copy is damaged:
    that stays damage)."""

    def __init__(self, inner: LocalBackend, marks: Path, *, always: bool = False) -> None:
        super().__init__(inner)
        self._marks = marks
        self._always = always
        marks.mkdir(exist_ok=True)

    @property
    def flipped(self) -> int:
        return len(list(self._marks.iterdir()))

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        data = super().get(name, offset, length)
        mark = self._marks / name.replace("/", "_")
        first = name.startswith(("data/", "index/", "snapshots/")) and not mark.exists()
        if (first or (self._always and name.startswith("data/"))) and data:
            mark.touch()
            damaged = bytearray(data)
            damaged[len(damaged) // 2] ^= 0x10
            return bytes(damaged)
        return data


@pytest.fixture
def backed_up(tmp_path: Path, local_repo: RepoHandle) -> Path:
    src = tmp_path / "src"
    for i in range(3):
        write_file(src / f"f{i}", os.urandom(300_000))
    backup(local_repo.open(), BackupOptions(paths=(str(src),)))
    return src


def _through(handle: RepoHandle, tmp_path: Path, *, always: bool = False):  # type: ignore[no-untyped-def]
    run = os.urandom(4).hex()
    backend = FlipsFirstRead(
        LocalBackend(Path(handle.url)), tmp_path / f"marks-{run}", always=always
    )
    fresh = replace(handle.options, cache_dir=tmp_path / f"cache-{run}")
    return open_repository(fresh, backend=backend), backend


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_restore_reads_a_range_damaged_on_its_way_again(
    tmp_path: Path, local_repo: RepoHandle, backed_up: Path, jobs: int
) -> None:
    repo, backend = _through(local_repo, tmp_path)
    out = tmp_path / f"out{jobs}"
    result = restore(repo, RestoreOptions(target=out, jobs=jobs))
    assert backend.flipped >= 1
    assert result.errors == ()
    assert snapshot_tree(out / str(backed_up).lstrip("/")) == snapshot_tree(backed_up)


@pytest.mark.parametrize("jobs", [1, 2])
def test_verify_reads_a_pack_damaged_on_its_way_again(
    tmp_path: Path, local_repo: RepoHandle, backed_up: Path, jobs: int
) -> None:
    repo, backend = _through(local_repo, tmp_path)
    result = verify(repo, VerifyOptions(read_data=True, jobs=jobs))
    assert backend.flipped >= 1
    assert result.ok, [f.message for f in result.findings]


def test_a_pack_the_store_gives_wrong_every_time_is_still_damage(
    tmp_path: Path, local_repo: RepoHandle, backed_up: Path
) -> None:
    repo, _backend = _through(local_repo, tmp_path, always=True)
    assert not verify(repo, VerifyOptions(read_data=True, jobs=1)).ok
    repo, _backend = _through(local_repo, tmp_path, always=True)
    result = restore(repo, RestoreOptions(target=tmp_path / "out", jobs=1))
    assert result.errors


def test_an_index_or_snapshot_file_damaged_on_its_way_is_read_again(
    tmp_path: Path, local_repo: RepoHandle, backed_up: Path
) -> None:
    """A flipped index file was skipped (its packs stored again by the next backup), a
    flipped snapshot file passed over as damaged."""
    from s3vault.repository.snapshots import list_snapshots

    told: list[str] = []
    run = os.urandom(4).hex()
    backend = FlipsFirstRead(LocalBackend(Path(local_repo.url)), tmp_path / f"marks-{run}")
    fresh = replace(local_repo.options, cache_dir=tmp_path / f"cache-{run}")
    repo = open_repository(fresh, backend=backend, on_skip=lambda name, _why: told.append(name))
    assert len(list(list_snapshots(repo))) == 1
    assert repo.read_index().pack_count >= 2
    assert told == []
    assert backend.flipped >= 2


class DataUnreachable(ForwardingBackend):
    """Every read of a data pack fails as a throttled store's does (503 SlowDown)."""

    def __init__(self, inner: LocalBackend) -> None:
        super().__init__(inner)
        self.data_gets = 0

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if name.startswith("data/"):
            self.data_gets += 1
            raise TransientBackendError(f"get {name}: SlowDown")
        return super().get(name, offset, length)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_pack_that_cannot_be_fetched_is_not_asked_again_blob_by_blob(
    tmp_path: Path, local_repo: RepoHandle, jobs: int
) -> None:
    """A range that could not be fetched at all (the retries spent: an outage) is not read
    again for each of its blobs: with 40 files in one pack, the restore waited out the retry
    deadline 41 times (16 h of simulated waiting in an attacker's run, a throttled store
    hammered) where it waited once. Since 2026-12-06 the outage stops the restore there."""
    src = tmp_path / "many"
    for i in range(40):
        write_file(src / f"f{i}", os.urandom(2000))
    backup(local_repo.open(), BackupOptions(paths=(str(src),)))
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    probe = DataUnreachable(LocalBackend(Path(local_repo.url)))  # what one call costs
    with pytest.raises(BackendUnavailableError):
        RetryBackend(probe, deadline=30, sleep=sleep, monotonic=lambda: clock[0]).get("data/x")
    per_call = probe.data_gets
    failing = DataUnreachable(LocalBackend(Path(local_repo.url)))
    backend = RetryBackend(failing, deadline=30, sleep=sleep, monotonic=lambda: clock[0])
    fresh = replace(local_repo.options, cache_dir=tmp_path / "cache-outage")
    repo = open_repository(fresh, backend=backend)
    with pytest.raises(BackendUnavailableError):  # an outage stops the restore (exit 14)
        restore(repo, RestoreOptions(target=tmp_path / "out", jobs=jobs))
    assert failing.data_gets <= 3 * per_call, (failing.data_gets, per_call)


def test_repair_snapshots_never_removes_a_snapshot_file_damaged_on_its_way(
    tmp_path: Path, local_repo: RepoHandle, backed_up: Path
) -> None:
    """repair snapshots read each snapshot file once from the store: one bit flipped on its
    way made a good file "unreadable", and repair removes unreadable files."""
    from s3vault.ops.repair import RepairSnapshotsOptions, repair_snapshots

    repo, backend = _through(local_repo, tmp_path)
    result = repair_snapshots(repo, RepairSnapshotsOptions())
    assert backend.flipped >= 1
    assert result.damaged == ()
    assert len(list(Path(local_repo.url, "snapshots").iterdir())) == 1
