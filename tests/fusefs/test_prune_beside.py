"""A mount beside another host's forget and prune: a file whose pack the prune repacked reads
from its new pack; a file of a forgotten snapshot whose data the prune deleted fails (EIO)
with a message that says so, not damage (the mount called it damage: an attack pass,
2026-12-07)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from s3vault import repair_index
from s3vault.fusefs import SnapshotView
from s3vault.repository.snapshots import list_snapshots
from tests.maintenance.harness import GRACE, World


def test_a_mount_reads_what_a_prune_moved_and_says_what_it_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = World(tmp_path)
    kept = world.write("d/kept", 60_000)
    gone = world.write("gone", 60_000)  # one pack with kept's data, one with the trees
    world.backup()
    world.advance(60)
    gone_bytes = gone.read_bytes()
    gone.unlink()
    world.backup()
    repo = world.open()
    repo = repo.with_index(repo.read_index())  # the mount's, read before the prune
    view = SnapshotView(repo, list_snapshots(repo))
    first, second, latest = view.listdir((b"snapshots",))
    assert latest == b"latest"
    src = SnapshotView.split(str(tmp_path / "src"))
    old_file = view.open((b"snapshots", first, *src, b"gone"))  # d's tree not read yet
    world.forget_all_but(1)
    world.advance(2 * 3600)
    assert world.prune(max_unused=0.0).packs_repacked >= 2  # the data pack and the tree pack
    world.advance(GRACE + 60)
    assert world.prune(max_unused=0.0).packs_deleted >= 2
    # d's tree and kept's data are read from the packs the prune wrote (a directory and a
    # file of a snapshot that is kept gave EIO, and the mount exited 13)
    assert view.listdir((b"snapshots", second, *src, b"d")) == [b"kept"]
    kept_file = view.open((b"snapshots", second, *src, b"d", b"kept"))
    assert kept_file.read(0, 100_000) == kept.read_bytes()
    with pytest.raises(OSError) as removed:
        old_file.read(0, len(gone_bytes))
    assert removed.value.errno == errno.EIO
    assert view.blobs.failed == {} and view.unreadable == {}  # not damage
    (why,) = view.blobs.removed.values()
    assert "no longer in the repository: a prune removed it since this mount read" in why
    assert "1 snapshot(s) shown here were forgotten since" in why
    view.close()


def test_data_a_repair_dropped_from_the_index_is_damage_when_no_snapshot_was_forgotten(
    tmp_path: Path,
) -> None:
    """A lost pack whose entries `repair index` dropped was said to be "removed by a prune,
    nothing is damaged", and the mount ended with exit 0 (an attack pass, 2026-12-07): with
    every snapshot shown still stored, it is damage."""
    world = World(tmp_path)
    body = world.write("f", 60_000)
    world.backup()
    repo = world.open()
    repo = repo.with_index(repo.read_index())
    view = SnapshotView(repo, list_snapshots(repo))
    src = SnapshotView.split(str(tmp_path / "src"))
    first = view.listdir((b"snapshots",))[0]
    content = view.open((b"snapshots", first, *src, b"f"))
    for info in world.backend.list("data/"):  # the pack is lost ...
        world.backend.delete(info.name)
    repair_index(world.open(), clock=world.clock)  # ... and the index rewritten without it
    with pytest.raises(OSError) as lost:
        content.read(0, len(body.read_bytes()))
    assert lost.value.errno == errno.EIO
    assert view.blobs.removed == {}
    (why,) = view.blobs.failed.values()
    assert "though no snapshot shown here was forgotten" in why
    view.close()
