"""snapshots: list snapshots, filtered by host, tag and path."""

from __future__ import annotations

from dataclasses import dataclass

from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import list_snapshots
from s3vault.tags import TagList, matches, tag_lists


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotFilter:
    """Which snapshots to select (empty = all), as restic's ``--host``, ``--tag`` and ``--path``.

    ``tags`` are tag lists (s3vault.tags); a string element is restic's spelling: ``("a,b",
    "c")`` selects snapshots tagged both a and b, or tagged c.
    """

    hosts: tuple[str, ...] = ()
    tags: tuple[TagList, ...] = ()
    paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "tags", tag_lists(self.tags))

    def matches(self, snap: SnapshotFile) -> bool:
        """Every given criterion holds: the host is one of hosts, the tags satisfy one of the
        tag lists, every path is one of the snapshot's."""
        if self.hosts and snap.hostname not in self.hosts:
            return False
        if not matches(snap.tags, self.tags):
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
