"""archiver/commit.py on simulated time: a backup that ran longer than half the prune grace
checks that what it references is still stored before it writes its snapshot, and gives up
(no snapshot) when it cannot do so within the window three times."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from s3vault import BackupOptions, backup
from s3vault.clock import ManualClock
from s3vault.errors import IntegrityError, S3VaultError
from s3vault.progress import NullProgress
from tests.maintenance.harness import GRACE, World


class AgingProgress(NullProgress):
    """Moves the clock once, while the backup reads its files."""

    def __init__(self, clock: ManualClock, by: float) -> None:
        self._clock, self._by = clock, by

    def advanced(self, *, files: int = 0, bytes_: int = 0, item: str = "") -> None:
        if self._by:
            self._clock.advance(timedelta(seconds=self._by))
            self._by = 0.0


class CrawlingClock(ManualClock):
    """Every reading of the monotonic clock is later than the last by more than half the grace."""

    def monotonic(self) -> float:
        self.advance(timedelta(seconds=GRACE))
        return super().monotonic()


def snapshots(world: World) -> list[str]:
    return [i.name for i in world.backend.list("snapshots/")]


def test_a_backup_within_half_the_grace_commits_without_checking(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = World(tmp_path)
    world.write("a", seed=1)
    progress = AgingProgress(world.clock, GRACE / 2 - 1)
    options = BackupOptions(paths=(str(tmp_path / "src"),))
    with caplog.at_level(logging.WARNING, logger="s3vault.archiver.commit"):
        result = backup(world.open(), options, clock=world.clock, progress=progress)
    assert result.snapshot_id is not None
    assert "longer than half the prune grace" not in caplog.text


def test_a_backup_past_half_the_grace_checks_its_data_then_commits(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = World(tmp_path)
    world.write("a", seed=1)
    world.backup()
    world.write("b", seed=2)
    progress = AgingProgress(world.clock, GRACE / 2 + 1)
    options = BackupOptions(paths=(str(tmp_path / "src"),))
    with caplog.at_level(logging.WARNING, logger="s3vault.archiver.commit"):
        result = backup(world.open(), options, clock=world.clock, progress=progress)
    assert result.snapshot_id is not None and len(snapshots(world)) == 2
    assert caplog.text.count("longer than half the prune grace") == 1
    world.verify_ok()


def test_a_backup_that_never_checks_within_the_window_writes_no_snapshot(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    world.write("a", seed=1)
    world.backup()
    before = snapshots(world)
    world.write("b", seed=2)
    crawling = CrawlingClock(world.clock.now())
    with pytest.raises(S3VaultError, match="nothing is damaged") as raised:
        backup(world.open(), BackupOptions(paths=(str(tmp_path / "src"),)), clock=crawling)
    # not damage (exit 13 sent the operator to verify, which found none: an attack pass)
    assert not isinstance(raised.value, IntegrityError)
    assert "too short for a backup of this size" in str(raised.value)
    assert snapshots(world) == before
    world.verify_ok()


def test_a_snapshot_write_that_outlasts_half_the_grace_is_checked_after_it(
    tmp_path: Path,
) -> None:
    """The check ran before the snapshot's write, and the write's retries (a store answering
    503 for hours, a suspend while waiting to retry) could outlast the grace while a prune
    deleted what the snapshot references: "snapshot saved", exit 0, and a snapshot that does
    not restore. A write that ends past half the grace is checked after; when data is gone the
    snapshot is removed again and the backup fails."""
    from s3vault import open_repository
    from s3vault.backend.forwarding import ForwardingBackend

    world = World(tmp_path)
    world.write("a", seed=1)
    world.backup()
    before = snapshots(world)
    packs = [i.name for i in world.backend.list("data/")]

    class SlowSnapshotWrite(ForwardingBackend):
        """The snapshot's write lands past the grace, after a prune deleted the old packs."""

        def put(self, name: str, data: bytes | memoryview) -> None:
            if name.startswith("snapshots/"):
                world.clock.advance(timedelta(seconds=GRACE))
                for pack in packs:
                    world.backend.delete(pack)
            super().put(name, data)

    world.write("b", seed=2)
    repo = open_repository(world.options, backend=SlowSnapshotWrite(world.backend))
    with pytest.raises(IntegrityError, match="pruned while it ran") as raised:
        backup(repo, BackupOptions(paths=(str(tmp_path / "src"),)), clock=world.clock)
    assert snapshots(world) == before
    # the way out, and no pointer to a verify that finds nothing (an attack pass, 2026-12-07)
    assert "nothing stored is damaged: run `s3vault backup` again" in str(raised.value)
