"""The dedup set of a put-only host (design.md §6a): the blob ids it may deduplicate against
by id (its own state's, and what this run stored) and the view digests the endorsed views list.

A view lists, for each blob, only the one-way view digest of its id (crypto/hashing.py
``view_digest``), so the host holds no id of a blob it has not computed from content itself:
a lookup of an id it computed checks the id, then the id's digest. ``entries()`` therefore
yields the host's own blobs only, never one a view names.
"""

from __future__ import annotations

from s3vault.crypto.hashing import view_digest
from s3vault.format.dedupview import ViewPack
from s3vault.format.packfile import BlobType
from s3vault.repository.index import BlobIndex, BlobLocation


class PutDedupIndex(BlobIndex):
    """A ``BlobIndex`` of the host's own blobs, plus the digests of endorsed views' blobs: a
    blob whose digest a view lists counts as stored (``has``) and is not stored again
    (``reserve``)."""

    def __init__(self, repo_id: bytes) -> None:
        super().__init__()
        self._repo_id = bytes(repo_id)
        self._viewed = BlobIndex()  # keyed by view digest, not by id

    def add_view_pack(self, pack: ViewPack) -> None:
        """Count the blobs of a pack an endorsed view names (the store lists the pack)."""
        self._viewed.add_pack(pack.id, pack.size, [(t, d, 0, 0, 0) for t, d in pack.blobs])

    @property
    def viewed(self) -> int:
        """How many blobs (digests) the views added."""
        return len(self._viewed)

    def _in_views(self, btype: BlobType, bid: bytes) -> bool:
        return len(self._viewed) > 0 and self._viewed.has(btype, view_digest(self._repo_id, bid))

    def has(self, btype: BlobType, bid: bytes) -> bool:
        """Is the blob stored: the host's own, or its digest in an endorsed view?"""
        return super().has(btype, bid) or self._in_views(btype, bid)

    def locations(self, btype: BlobType, bid: bytes) -> list[BlobLocation]:
        """Every pack known to hold the blob: the host's own, then those endorsed views name
        (found by the id's digest; such a location has no offset or length). Object Lock
        extends these packs' locks (maintenance/putlocks.py)."""
        own = super().locations(btype, bid)
        if len(self._viewed) == 0:
            return own
        return own + self._viewed.locations(btype, view_digest(self._repo_id, bid))

    def reserve(self, btype: BlobType, bid: bytes) -> bool:
        """Claim a blob for storing: False if a view lists it, else as ``BlobIndex.reserve``."""
        if self._in_views(btype, bid):
            return False
        return super().reserve(btype, bid)

    def drop_blob(self, btype: BlobType, bid: bytes) -> None:
        """Forget a blob found unreadable, in the host's own blobs and the views' digests."""
        super().drop_blob(btype, bid)
        self._viewed.drop_blob(btype, view_digest(self._repo_id, bid))
