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
from tests.maintenance.harness import World


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
