"""snapshots: list snapshots, filtered by host, tag and path."""

from __future__ import annotations

from dataclasses import dataclass

from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import list_snapshots


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotFilter:
    """Which snapshots to select (empty = all)."""

    hosts: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()

    def matches(self, snap: SnapshotFile) -> bool:
        """Every given criterion holds: host in hosts, all tags present, all paths present."""
        if self.hosts and snap.hostname not in self.hosts:
            return False
        if self.tags and not set(self.tags) <= set(snap.tags):
            return False
        return not self.paths or set(self.paths) <= set(snap.paths)


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotEntry:
    """A snapshot and its id."""

    id: ObjectId
    snapshot: SnapshotFile


def snapshots(repo: Repository, filt: SnapshotFilter | None = None) -> list[SnapshotEntry]:
    """Matching snapshots, oldest first."""
    filt = filt or SnapshotFilter()
    return [
        SnapshotEntry(id=sid, snapshot=snap)
        for sid, snap in list_snapshots(repo)
        if filt.matches(snap)
    ]
