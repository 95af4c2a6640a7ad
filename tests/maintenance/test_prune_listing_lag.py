"""A store whose listings lag (an eventually consistent listing: some S3-compatible stores,
Swift's container listings): a pack just written is not listed yet while a HEAD finds it.
prune dropped such a pack from the index ("not stored"), and the running backup's snapshot
then named blobs in no index (verify: damage, until a later prune indexed the pack again); a
pack a snapshot already needs made prune refuse (exit 13, "not stored"). Both are asked for
by name now."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from s3vault import open_repository
from s3vault.backend.base import ObjectInfo
from s3vault.backend.forwarding import ForwardingBackend
from s3vault.ops.prune import PruneOptions, prune
from s3vault.repository.lease import LeaseSettings
from tests.maintenance.harness import GRACE, World


class HidesFromListings(ForwardingBackend):
    """Listings leave these names out; reading, HEAD and the rest see them."""

    def __init__(self, inner: object, hidden: set[str]) -> None:
        super().__init__(inner)  # type: ignore[arg-type]
        self.hidden = hidden

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        return (i for i in super().list(prefix) if i.name not in self.hidden)


def test_an_indexed_pack_a_lagging_listing_leaves_out_stays_in_the_index(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    world.write("a", seed=1)
    world.backup()
    hidden = {i.name for i in world.backend.list("data/")}
    lagging = HidesFromListings(world.backend, hidden)
    repo = open_repository(world.options, backend=lagging, load_index=False)
    prune(repo, PruneOptions(), lease=LeaseSettings(), clock=world.clock)
    indexed = {f"data/{p.hex()[:2]}/{p.hex()}" for p, _ in world.open().read_index().packs()}
    assert hidden <= indexed
    world.verify_ok()


def test_a_pack_whose_index_file_a_lagging_listing_hides_is_never_deleted_at_once(
    tmp_path: Path,
) -> None:
    """Two prunes a few seconds apart on such a store: the first wrote a new index file, the
    second's listing did not show it yet, took the packs it names for crash leftovers older
    than the grace, and deleted them at once (no mark, no grace): a backup that had deduped
    against them then saved a snapshot that did not restore. Leftovers are marked, as unused
    packs are, and deleted a grace later, when the index file shows (and keeps them)."""
    world = World(tmp_path)
    world.write("a", seed=1)
    world.backup()
    world.advance(GRACE + 1)
    # a backup that deduped against these packs has not stored its snapshot yet: here, the
    # snapshot file is taken away and put back after the prune
    (name,) = [i.name for i in world.backend.list("snapshots/")]
    pending = world.backend.get(name)
    world.backend.delete(name)
    hidden = {i.name for i in world.backend.list("index/")}
    lagging = HidesFromListings(world.backend, hidden)
    repo = open_repository(world.options, backend=lagging, load_index=False)
    packs = world.packs()
    prune(repo, PruneOptions(), lease=LeaseSettings(), clock=world.clock)
    assert world.packs() == packs  # nothing deleted on a listing's word
    world.backend.put(name, pending)  # the backup's snapshot lands
    world.advance(GRACE + 1)
    world.prune()  # the listing shows the index file now: the packs are needed, kept
    world.prune()
    assert world.packs() == packs
    world.verify_ok()


def test_a_real_leftover_goes_a_grace_after_it_is_marked(tmp_path: Path) -> None:
    """A pack no index file names (a backup killed before its index file): marked by one
    prune, deleted by the first prune a grace later."""
    world = World(tmp_path)
    world.write("a", seed=1)
    world.backup()
    for name in [i.name for i in world.backend.list("index/")]:
        world.backend.delete(name)  # as if the backup died before writing its index file
    for name in [i.name for i in world.backend.list("snapshots/")]:
        world.backend.delete(name)
    world.advance(GRACE + 1)
    world.prune()
    assert world.packs()  # marked, not deleted
    world.advance(GRACE + 1)
    world.prune()
    assert world.packs() == set()
