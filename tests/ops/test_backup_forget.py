"""ops.backup and ops.forget through the library, on simulated time: the snapshot's time is
the injected clock's (or the one given), and keep-within counts back from the latest snapshot
that is not in the future by the injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from s3vault import BackupOptions, ForgetOptions, Policy, backup, forget
from s3vault.repository.snapshots import list_snapshots
from tests.maintenance.harness import World


def times(world: World) -> list[datetime]:
    return sorted(s.time for _, s in list_snapshots(world.open()))


def test_backup_stamps_the_clock_time_or_the_time_given(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.write("a", seed=1)
    first = backup(world.open(), BackupOptions(paths=(str(tmp_path / "src"),)), clock=world.clock)
    assert first.files_new == 1 and first.snapshot_id is not None
    imported = datetime(2020, 5, 1, 12, tzinfo=UTC)
    options = BackupOptions(paths=(str(tmp_path / "src"),), time=imported)
    second = backup(world.open(), options, clock=world.clock)
    assert (second.files_new, second.files_unmodified) == (0, 1)
    assert second.parent_id == first.snapshot_id
    assert times(world) == [imported, world.clock.now()]


def test_forget_keep_within_ignores_snapshots_in_the_future_of_the_injected_clock(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    start = world.clock.now()
    future = start + timedelta(days=30)  # a host with a clock far ahead
    world.write("a", size=1000, seed=99)
    world.backup(time=future)
    for day in range(5):
        world.write("a", size=1000, seed=day)
        world.backup()
        world.advance(timedelta(days=1).total_seconds())
    # now is day 5; the latest snapshot not in the future is day 4's: within 2 days of it
    # are days 3 and 4 (and the future one, newer than that)
    policy = Policy(within=timedelta(days=2))
    result = forget(world.open(), ForgetOptions(policy=policy), clock=world.clock)
    assert result.removed == 3
    assert times(world) == [start + timedelta(days=3), start + timedelta(days=4), future]
    world.verify_ok(read_data=False)
