"""Deletion records (design.md §10): the first phase of prune's two-phase delete.

A deletion record *marks* packs that no snapshot needed when a prune planned. It carries the
index entries of those packs, because a marked pack leaves the index files at once: backups
(which read only index files) never deduplicate against it, while readers (restore, verify,
prune) add the marked packs from the records, so a snapshot that an in-flight backup wrote
against a pack marked meanwhile still restores.

Stored like a snapshot (canonical JSON, compressed, sealed, named by storage id under
``deletions/``). A pack's *mark time* is the store's LastModified of the record that first
marked it (never a host clock), carried over as ``since`` when a later record replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from s3vault.errors import IntegrityError
from s3vault.format import codec
from s3vault.format.indexfile import IndexedPack, IndexFile
from s3vault.ids import ObjectId

DELETION_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkedPack:
    """A pack marked for deletion, with its index entries."""

    pack: IndexedPack
    since: float | None = None  # store time of an earlier mark; None: this record's time


@dataclass(frozen=True, slots=True, kw_only=True)
class DeletionFile:
    """One prune's marks."""

    time: datetime  # the pruning host's clock: informational only
    hostname: str
    packs: tuple[MarkedPack, ...]
    supersedes: tuple[ObjectId, ...] = ()  # older records this one replaces

    def encode(self) -> bytes:
        """Canonical JSON bytes (the packs' entries as an embedded index file)."""
        index = IndexFile(packs=tuple(m.pack for m in self.packs)).encode()
        return codec.dumps(
            {
                "v": DELETION_VERSION,
                "time": self.time.isoformat(),
                "hostname": self.hostname,
                "since": [m.since for m in self.packs],
                "index": codec.b64(index),
                "supersedes": [s.hex() for s in self.supersedes],
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> DeletionFile:
        """Parse.

        Raises:
            IntegrityError: malformed.
            FormatVersionError: newer version.
        """
        what = "deletion record"
        obj = codec.loads(data, what)
        codec.check_version(obj.get("v"), DELETION_VERSION, what)
        try:
            index = IndexFile.decode(codec.unb64(obj["index"], what))
            since = obj["since"]
            if len(since) != len(index.packs):
                msg = "mark times do not match the packs"
                raise ValueError(msg)
            return cls(
                time=datetime.fromisoformat(obj["time"]),
                hostname=str(obj["hostname"]),
                packs=tuple(
                    MarkedPack(pack=p, since=None if s is None else float(s))
                    for p, s in zip(index.packs, since, strict=True)
                ),
                supersedes=tuple(ObjectId(bytes.fromhex(s)) for s in obj.get("supersedes", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"{what}: {exc}"
            raise IntegrityError(msg) from None
