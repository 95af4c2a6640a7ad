"""Two-phase prune beside backups, on a store whose clock the test moves (design.md §10)."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path

import pytest

from s3vault import BackupOptions, DrillOptions, RestoreOptions, backup, restore, restore_test
from s3vault.errors import IntegrityError, UsageError
from s3vault.format.indexfile import IndexedPack
from s3vault.format.layout import ObjectKind
from s3vault.format.packfile import BlobType, PackEntry
from s3vault.ids import ObjectId
from s3vault.maintenance import prune as prune_module
from s3vault.progress import NullProgress
from s3vault.repository.compactpack import CompactPack
from s3vault.repository.references import References
from tests.maintenance.harness import GRACE, World, restored


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def _a_forgotten_b_kept(world: World, tmp_path: Path) -> tuple[Path, str]:
    """File a backed up, then replaced by b; the first snapshot forgotten, and time past the
    young-pack margin: (b, the kept snapshot's id)."""
    world.write("a")
    world.backup()
    world.advance(60)
    (tmp_path / "src" / "a").unlink()
    b = world.write("b")
    keep = world.backup()
    world.forget_all_but(1)
    world.advance(2 * 3600)  # older than the young-pack margin
    return b, keep


def test_prune_marks_first_and_deletes_only_after_the_grace_period(
    world: World, tmp_path: Path
) -> None:
    b, keep = _a_forgotten_b_kept(world, tmp_path)
    before = world.packs()
    first = world.prune()
    assert first.packs_marked >= 1 and first.packs_deleted == 0
    assert world.packs() == before  # phase one deletes nothing
    world.verify_ok()
    world.advance(GRACE - 60)
    assert world.prune().packs_deleted == 0  # not yet: the mark is younger than the grace
    assert world.packs() == before
    world.advance(120)
    third = world.prune()
    assert third.packs_deleted == first.packs_marked
    assert third.bytes_deleted > 0
    assert len(world.packs()) < len(before)
    world.verify_ok()
    assert restored(world, keep, tmp_path / "out") == {"b": b.read_bytes()}


def test_a_backup_never_deduplicates_against_a_marked_pack(world: World, tmp_path: Path) -> None:
    a = world.write("a")
    world.backup()
    world.advance(60)
    a.rename(tmp_path / "a.keep")
    world.write("b")
    world.backup()
    world.forget_all_but(1)
    world.advance(2 * 3600)
    assert world.prune().packs_marked >= 1
    (tmp_path / "a.keep").rename(a)  # the content comes back
    r = backup(world.open(), BackupOptions(paths=(str(tmp_path / "src"),)), clock=world.clock)
    assert r.snapshot_id is not None
    again = r.snapshot_id.hex()
    assert r.data_blobs >= 1  # stored again, not deduplicated against the marked pack
    world.advance(GRACE + 60)
    world.prune()  # deletes the marked packs
    world.verify_ok()
    assert restored(world, again, tmp_path / "out")["a"] == a.read_bytes()


def test_a_snapshot_finished_beside_prune_gets_its_packs_unmarked(
    world: World, tmp_path: Path
) -> None:
    """A backup that read the index before the mark, and wrote its snapshot after it."""
    a = world.write("a")
    world.backup()
    world.advance(2 * 3600)

    class PruneMidway(NullProgress):
        done = False

        def advanced(self, *, files: int = 0, bytes_: int = 0, item: str = "") -> None:
            if not self.done:
                self.done = True
                # every snapshot forgotten, so a's packs are unused right now
                from s3vault import ForgetOptions, Policy, forget

                forget(
                    world.open(),
                    ForgetOptions(
                        policy=Policy(), hosts=(socket.gethostname(),), allow_remove_all=True
                    ),
                    clock=world.clock,
                )
                assert world.prune().packs_marked >= 1

    r = backup(
        world.open(),
        BackupOptions(paths=(str(tmp_path / "src"),)),
        clock=world.clock,
        progress=PruneMidway(),
    )
    assert r.snapshot_id is not None
    world.verify_ok()  # readers find the marked packs through the deletion record
    world.advance(GRACE + 60)
    later = world.prune()
    assert later.packs_unmarked >= 1 and later.packs_deleted == 0
    world.verify_ok()
    assert restored(world, r.snapshot_id.hex(), tmp_path / "out") == {"a": a.read_bytes()}


def test_a_backup_suspended_past_the_grace_period_never_commits_a_dangling_snapshot(
    world: World, tmp_path: Path
) -> None:
    """SIGSTOP in simulated time: the backup's clock and the store's move by days while two
    prunes mark and then delete the data it deduplicated against."""
    world.write("a", seed=1)
    world.backup()
    world.advance(2 * 3600)

    class Suspend(NullProgress):
        done = False

        def advanced(self, *, files: int = 0, bytes_: int = 0, item: str = "") -> None:
            if not self.done:
                self.done = True
                from s3vault import ForgetOptions, Policy, forget

                forget(
                    world.open(),
                    ForgetOptions(
                        policy=Policy(), hosts=(socket.gethostname(),), allow_remove_all=True
                    ),
                    clock=world.clock,
                )
                world.prune()
                world.advance(GRACE + 60)
                assert world.prune().packs_deleted >= 1  # a's only copy is gone

    with pytest.raises(IntegrityError, match="pruned while it ran"):
        backup(
            world.open(),
            BackupOptions(paths=(str(tmp_path / "src"),)),
            clock=world.clock,
            progress=Suspend(),
        )
    assert world.open().list_files(ObjectKind.SNAPSHOTS) == []  # no dangling snapshot
    world.verify_ok()
    world.backup()  # the next run succeeds
    world.verify_ok()


def test_a_backup_suspended_while_its_data_is_only_marked_stores_it_again(
    world: World, tmp_path: Path
) -> None:
    a = world.write("a", seed=2)
    world.backup()
    world.advance(2 * 3600)

    class Suspend(NullProgress):
        done = False

        def advanced(self, *, files: int = 0, bytes_: int = 0, item: str = "") -> None:
            if not self.done:
                self.done = True
                from s3vault import ForgetOptions, Policy, forget

                forget(
                    world.open(),
                    ForgetOptions(
                        policy=Policy(), hosts=(socket.gethostname(),), allow_remove_all=True
                    ),
                    clock=world.clock,
                )
                world.prune()  # marks a's packs
                world.advance(GRACE * 0.75)  # longer than G/2, shorter than G

    r = backup(
        world.open(),
        BackupOptions(paths=(str(tmp_path / "src"),)),
        clock=world.clock,
        progress=Suspend(),
    )
    assert r.snapshot_id is not None
    world.advance(GRACE)
    assert world.prune().packs_deleted >= 1  # the marked copies go; the new ones stay
    world.verify_ok()
    assert restored(world, r.snapshot_id.hex(), tmp_path / "out") == {"a": a.read_bytes()}


def test_prune_refuses_when_snapshots_reference_missing_data(world: World) -> None:
    world.write("a")
    world.backup()
    (data_pack,) = [i.name for i in world.backend.list("data/")]
    world.backend.delete(data_pack)
    before = world.packs()
    with pytest.raises(IntegrityError, match="prune refused"):
        world.prune()
    assert world.packs() == before


def test_lost_index_files_are_rebuilt_from_pack_headers_not_deleted(world: World) -> None:
    world.write("a")
    world.backup()
    for info in list(world.backend.list("index/")):
        world.backend.delete(info.name)  # a crash lost them (or a listing would miss them)
    world.advance(GRACE + 60)
    before = world.packs()
    r = world.prune()
    assert r.orphans_deleted == 0
    assert world.packs() == before
    world.verify_ok()


def test_grace_below_the_repository_minimum_is_refused(world: World) -> None:
    with pytest.raises(UsageError, match="minimum"):
        world.prune(grace=60)


def test_repack_keeps_every_snapshot_restorable(world: World, tmp_path: Path) -> None:
    files = [world.write(f"f{i}", 100_000) for i in range(8)]  # share packs
    world.backup()
    world.advance(60)
    for f in files[:6]:
        f.unlink()
    keep = world.backup()
    world.forget_all_but(1)
    world.advance(2 * 3600)
    r = world.prune(max_unused=0.0)
    assert r.packs_repacked >= 1 and r.blobs_repacked >= 1
    world.verify_ok()
    world.advance(GRACE + 60)
    world.prune(max_unused=0.0)
    world.verify_ok()
    got = restored(world, keep, tmp_path / "out")
    assert got == {f.name: f.read_bytes() for f in files[6:]}


def test_backups_need_no_delete_permission(world: World, tmp_path: Path) -> None:
    """Backup hosts get credentials without DeleteObject: a backup never deletes."""
    from s3vault.errors import BackendError

    def refuse(name: str) -> None:
        raise BackendError(f"delete {name}: access denied")

    world.backend.delete = refuse  # type: ignore[method-assign]
    world.write("a")
    world.backup()
    world.write("b")
    world.backup()  # incremental, against the first
    assert len(world.open().list_files(ObjectKind.SNAPSHOTS)) == 2


def test_a_killed_backups_packs_are_freed_once_a_later_run_stored_the_same_data(
    world: World, tmp_path: Path
) -> None:
    """A backup killed after its packs and before its index file leaves packs no index names;
    the next run stores the same data again. Those packs are garbage: prune marks them and a
    prune a grace later deletes them. Before, prune indexed them again (their blobs are
    referenced) and then counted every copy as used: never freed (a helper's attack pass)."""
    files = {name: world.write(name, 400_000).read_bytes() for name in ("a", "b")}
    world.backup()
    for kind in ("snapshots/", "index/"):  # what the kill left: the packs alone
        for info in list(world.backend.list(kind)):
            world.backend.delete(info.name)
    leftovers = world.packs()
    keep = world.backup()  # stores everything again
    assert len(world.packs()) == 2 * len(leftovers)
    world.advance(GRACE + 60)
    first = world.prune()
    assert first.packs_marked == len(leftovers), first
    world.advance(GRACE + 60)
    assert world.prune().packs_deleted == len(leftovers)
    assert world.packs().isdisjoint(leftovers) and len(world.packs()) == len(leftovers)
    world.verify_ok()
    assert restored(world, keep, tmp_path / "out") == files


def test_a_blob_stored_twice_in_indexed_packs_is_kept_once(world: World, tmp_path: Path) -> None:
    """Two hosts that stored the same data at once: both packs are indexed. The copy in the
    pack used most is kept; a pack that holds only copies is marked, then deleted, and every
    snapshot still restores."""
    files = {name: world.write(name, 400_000).read_bytes() for name in ("a", "b")}
    first = world.backup()
    saved = {i.name: world.backend.get(i.name) for i in world.backend.list("index/")}
    for name in saved:  # the second host's backup did not see the first one's index
        world.backend.delete(name)
    second = world.backup()
    for name, body in saved.items():
        world.backend.put(name, body)
    world.advance(GRACE + 60)
    marked = world.prune().packs_marked
    assert marked >= 1
    world.advance(GRACE + 60)
    assert world.prune().packs_deleted == marked
    world.verify_ok()
    for n, snap in enumerate((first, second)):
        assert restored(world, snap, tmp_path / f"out{n}") == files


def test_a_repack_copies_only_the_blobs_its_pack_holds_the_kept_copy_of(
    world: World, tmp_path: Path
) -> None:
    """Pack A holds x, y and w; pack B holds x and z and is used whole, so it keeps x. With w
    unused, A is repacked: y is copied, x is not (B has it), and every snapshot restores."""
    x, y, w = (world.write(n, 300_000) for n in ("x", "y", "w"))
    world.backup()  # pack A: x, y, w
    world.advance(60)  # (each backup its own time: forget keeps the last two by time)
    saved = {i.name: world.backend.get(i.name) for i in world.backend.list("index/")}
    for name in saved:
        world.backend.delete(name)
    kept_y = y.read_bytes()
    y.unlink()
    w.unlink()
    z = world.write("z", 300_000)
    world.backup()  # pack B: x again (A's index is gone), z
    world.advance(60)
    for name, body in saved.items():
        world.backend.put(name, body)
    y.write_bytes(kept_y)
    last = world.backup()  # x, y, z: deduplicated, nothing new stored
    world.advance(60)
    world.forget_all_but(2)  # w is used no more
    world.advance(GRACE + 60)
    first = world.prune(max_unused=0.0)
    assert first.packs_repacked == 1 and first.blobs_repacked == 1, first
    world.advance(GRACE + 60)
    world.prune()
    world.verify_ok()
    expected = {"x": x.read_bytes(), "y": kept_y, "z": z.read_bytes()}
    assert restored(world, last, tmp_path / "out") == expected


def test_copies_are_freed_by_a_prune_that_meets_a_new_snapshot(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy fleet's prune always meets a snapshot written after its plan. One of unchanged
    data references blobs whose kept copy stays: the packs holding only their other copies
    stay marked (the recheck sent them back to keep, so they were never freed: a review)."""
    a = world.write("a", 400_000)
    world.backup()
    saved = {i.name: world.backend.get(i.name) for i in world.backend.list("index/")}
    for name in saved:
        world.backend.delete(name)
    world.backup()  # the same data again: every blob now stored twice
    for name, body in saved.items():
        world.backend.put(name, body)
    world.advance(GRACE + 60)

    def beside(name: str) -> None:  # another host's backup, between the plan and the marks
        if name == "prune-after-plan":
            world.write("n", 1_000)
            world.backup()

    monkeypatch.setattr(prune_module, "crash_point", beside)
    first = world.prune()
    monkeypatch.undo()
    assert first.packs_marked >= 1 and first.kept_after_recheck == 0, first
    world.advance(GRACE + 60)
    assert world.prune().packs_deleted == first.packs_marked
    world.verify_ok()
    snaps = sorted(world.backend.list("snapshots/"), key=lambda i: i.modified)
    latest = snaps[-1].name.rsplit("/", 1)[-1].split(".")[0]
    assert restored(world, latest, tmp_path / "out")["a"] == a.read_bytes()


def test_a_blob_listed_twice_in_one_pack_is_one_copy() -> None:
    """A pack whose header lists a blob twice holds one copy of it, not a copy of its own
    kept copy: a repack dropped that blob (a review), which the next prune had to unmark."""
    refs = References()
    bid = ObjectId(bytes(range(32)))
    refs.data.add(bid)
    entry = PackEntry(type=BlobType.DATA, id=bid, offset=0, length=10, raw_length=10)
    twice = IndexedPack(
        id=ObjectId(bytes(32)), size=100, entries=(entry, replace(entry, offset=10))
    )
    uses = prune_module._uses([[CompactPack.of(twice)]], refs, epoch=1)
    use = uses[twice.id]
    assert (use.blobs, bytes(use.copies)) == (1, b"")


class _Killed(BaseException):
    """A kill at a crash point (BaseException: nothing in prune catches it)."""


def _prune_killed_at(world: World, monkeypatch: pytest.MonkeyPatch, point: str) -> None:
    """A prune killed at a crash point."""

    def kill(at: str) -> None:
        if at == point:
            raise _Killed

    monkeypatch.setattr(prune_module, "crash_point", kill)
    with pytest.raises(_Killed):
        world.prune()
    monkeypatch.undo()


@pytest.mark.parametrize("point", ["prune-after-index", "prune-before-delete"])
def test_a_prune_killed_before_its_deletes_keeps_the_mark_time_of_the_packs_it_was_deleting(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    """Its new record no longer names the packs it was deleting, and the one it superseded
    is still stored: the next prune deletes them, a grace after their mark as the killed one
    would have (they had been marked afresh as orphans, and a prune that kept dying there
    never freed anything: an attack pass, 2026-12-07)."""
    b, keep = _a_forgotten_b_kept(world, tmp_path)
    first = world.prune()
    assert first.packs_marked >= 1
    world.advance(GRACE + 60)
    _prune_killed_at(world, monkeypatch, point)
    before = world.packs()
    again = world.prune()
    assert again.packs_deleted == first.packs_marked, again
    assert again.packs_marked == 0, again
    assert len(world.packs()) == len(before) - first.packs_marked
    world.verify_ok()
    assert restored(world, keep, tmp_path / "out") == {"b": b.read_bytes()}
    assert world.prune().packs_marked == 0  # nothing left over to mark


def test_a_pack_marked_again_keeps_the_time_of_its_latest_mark_after_a_killed_prune(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Marked, unmarked (its snapshot came back), marked afresh, then a prune killed after
    its record: the superseded records name the pack with both marks' times. The first one
    deleted it a grace after the first mark, 3 s after the second, under a backup that had
    deduplicated against it in between (an attack pass on this very rule, 2026-12-07)."""
    world.write("a")
    world.backup()
    (name,) = [i.name for i in world.backend.list("snapshots/")]
    saved = world.backend.get(name)

    def prune_killed_at(point: str) -> None:
        _prune_killed_at(world, monkeypatch, point)

    world.backend.delete(name)  # forgotten
    world.advance(2 * 3600)
    first = world.prune()  # the first mark
    assert first.packs_marked >= 1
    world.backend.put(name, saved)  # the snapshot comes back (a bucket version)
    prune_killed_at("prune-after-index")  # unmarked and indexed again
    world.advance(GRACE + 60)  # past the first mark's grace
    world.backend.delete(name)
    prune_killed_at("prune-after-index")  # marked afresh: the latest mark
    world.backend.put(name, saved)
    prune_killed_at("prune-after-mark")  # would unmark: its record names it no more
    world.backend.delete(name)
    world.advance(60)
    before = world.packs()
    again = world.prune()
    assert again.packs_deleted == 0, again  # a grace after the latest mark, not the first
    assert world.packs() == before
    world.advance(GRACE)
    assert world.prune().packs_deleted == first.packs_marked


def test_a_handle_opened_before_another_ones_prune_restores_and_drills_from_the_packs_left(
    world: World, tmp_path: Path
) -> None:
    """Another process's prune repacked and deleted packs the handle's index names: a drill
    through the handle read packs that were gone and stored a failed verdict on an intact
    repository (an attack pass, 2026-12-07). Restore and restore-test ask the store whether
    its index files are still those the handle read."""
    for n in range(4):
        world.write(f"f{n}", 60_000)
    world.backup()
    world.advance(60)
    for n in range(2):
        (tmp_path / "src" / f"f{n}").unlink()
    world.backup()
    handle = world.open()
    handle = handle.with_index(handle.read_index())  # the service's, loaded before the prune
    world.forget_all_but(1)
    world.advance(2 * 3600)
    assert world.prune(max_unused=0.0).packs_marked >= 1
    world.advance(GRACE + 60)
    assert world.prune(max_unused=0.0).packs_deleted >= 1
    drill = restore_test(handle, DrillOptions(), clock=world.clock)
    assert drill.record.passed, drill.failures
    done = restore(handle, RestoreOptions(target=tmp_path / "out"))
    assert done.errors == () and done.files_restored == 2
