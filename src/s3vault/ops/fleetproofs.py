"""The fleet's per-host "last proven" (docs/fleet.md): when every pack a host's latest
snapshots need was last read back and found intact, from the verification ledger and the
index (metadata only: read-only credentials suffice).

For each host, its latest snapshot of each path set (what restoring the host today means);
the packs holding their trees and data (each blob's first location in the index: the copy a
restore reads); for each pack, its newest proof in the ledger. The host's ``last_proven`` is
the OLDEST of those: every byte needed to restore the host's latest backup was read back and
checked at or after that time. A pack never proven leaves it unset and counts in
``never_bytes`` (a new backup not yet reached by ``verify --coverage``).

Cost: the index (from the local index cache: a warm morning reads only the index files written
since) and one walk of each host's latest trees (tree packs come from the local tree-pack
cache). Memory: the ids of one host's latest snapshots at a time (a BlobSet, about 34 bytes an
id). docs/fleet.md has the measured figures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo

from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId
from s3vault.repository.ledger import Ledger
from s3vault.repository.references import References
from s3vault.repository.repository import Repository


@dataclass(frozen=True, slots=True, kw_only=True)
class HostProof:
    """What the ledger says of the packs a host's latest snapshots need."""

    last_proven: datetime | None  # the oldest newest-proof among them (None: one never proven)
    packs: int  # packs its latest snapshots need
    bytes: int  # their stored size
    never_bytes: int  # of those, never proven
    missing: int  # blobs its latest snapshots need that the index lacks or that do not read


def latest_roots(snaps: Iterable[tuple[ObjectId, SnapshotFile]]) -> dict[str, list[ObjectId]]:
    """Host → the root trees of its newest snapshot of each path set."""
    newest: dict[tuple[str, tuple[str, ...]], SnapshotFile] = {}
    for _sid, snap in snaps:
        key = (snap.hostname, tuple(sorted(snap.paths)))
        known = newest.get(key)
        if known is None or snap.time > known.time:
            newest[key] = snap
    roots: dict[str, list[ObjectId]] = {}
    for (host, _paths), snap in sorted(newest.items()):
        roots.setdefault(host, []).append(snap.tree)
    return roots


def host_proofs(
    repo: Repository,
    snaps: Iterable[tuple[ObjectId, SnapshotFile]],
    ledger: Ledger,
    *,
    tz: tzinfo | None = None,
) -> dict[str, HostProof]:
    """Each host's proof of its latest snapshots (``repo`` read through its loaded index).

    Raises:
        BackendError: a tree pack could not be read (a damaged tree counts in ``missing``).
    """
    sizes = dict(repo.index.packs())
    out: dict[str, HostProof] = {}
    for host, roots in latest_roots(snaps).items():
        refs = References(cache_trees=False, check_data=True)
        refs.add_snapshots_trees(repo, roots)
        packs: set[ObjectId] = set()
        for btype, ids in refs.by_type():
            for bid in ids:
                loc = repo.index.lookup(btype, bid)
                if loc is not None:
                    packs.add(loc.pack_id)
        proofs = [ledger.proofs.get(p) for p in packs]
        times = [p.time for p in proofs if p is not None]
        never = sum(sizes.get(p, 0) for p in packs if p not in ledger.proofs)
        complete = len(times) == len(packs) and not refs.missing and packs
        out[host] = HostProof(
            last_proven=datetime.fromtimestamp(min(times), tz=tz) if complete else None,
            packs=len(packs),
            bytes=sum(sizes.get(p, 0) for p in packs),
            never_bytes=never,
            missing=len(refs.missing),
        )
    return out
