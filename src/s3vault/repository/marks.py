"""Marks: the packs prune has marked for deletion (design.md §10), read from the deletion
records. A record superseded by a newer one is ignored, as index files are."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from s3vault.errors import FormatVersionError, IntegrityError
from s3vault.format.deletionfile import DeletionFile
from s3vault.format.indexfile import IndexedPack
from s3vault.format.layout import ObjectKind, object_name, parse_name
from s3vault.ids import ObjectId
from s3vault.repository.supersede import live, superseded

if TYPE_CHECKING:  # repository.py uses this module to load marked packs
    from s3vault.repository.repository import Repository


@dataclass(slots=True)
class Marks:
    """Every marked pack with its entries and its mark time (the store's clock)."""

    records: dict[ObjectId, float] = field(default_factory=dict)  # live record → modified
    superseded: set[ObjectId] = field(default_factory=set)  # records a newer one replaces
    packs: dict[ObjectId, tuple[IndexedPack, float]] = field(default_factory=dict)
    damaged: dict[ObjectId, str] = field(default_factory=dict)  # records that do not open
    # Packs named only by superseded records still stored (a prune died before deleting them,
    # or before indexing what it unmarked), with the mark time of the newest such record
    # naming each; for prune alone
    dropped: dict[ObjectId, tuple[IndexedPack, float]] = field(default_factory=dict)


DAMAGED_RECORD_HINT = (
    "`s3vault repair index` indexes the packs it marked again and removes it (prune marks "
    "what is unused once more)"
)


def load_marks(repo: Repository) -> Marks:
    """Read every deletion record (a listing error raises; it is never read as "none"). A
    record that does not open is left out, named in ``damaged`` and told to ``repo.skip``:
    readers lose only the packs it alone marked (which ``repair index`` indexes again);
    prune refuses to run while one is damaged.
    """
    modified: dict[ObjectId, float] = {}
    for info in repo.backend.list(ObjectKind.DELETIONS.value + "/"):
        parsed = parse_name(info.name)
        if parsed is None or parsed[0] is not ObjectKind.DELETIONS:
            continue
        try:
            modified[ObjectId(bytes.fromhex(parsed[1]))] = info.modified
        except ValueError:
            continue
    files = {}
    marks = Marks()
    for oid in modified:
        try:
            files[oid] = DeletionFile.decode(repo.load_file(ObjectKind.DELETIONS, oid))
        except (IntegrityError, FormatVersionError) as exc:
            name = record_name(oid)
            marks.damaged[oid] = str(exc).removeprefix(name + ": ")
            repo.skip(name, f"deletion record skipped: {marks.damaged[oid]}; {DAMAGED_RECORD_HINT}")
    for oid, record in live(files):
        marks.records[oid] = modified[oid]
        for m in record.packs:
            since = modified[oid] if m.since is None else m.since
            known = marks.packs.get(m.pack.id)
            if known is None or since < known[1]:
                marks.packs[m.pack.id] = (m.pack, since)
    marks.superseded = superseded(files.values()) & set(files)
    # The newest superseded record that names a pack says its mark time: a pack unmarked and
    # marked again has an older record of its first mark, whose time would delete it a grace
    # after that one, not after the mark a running backup's dedup saw (an attack pass on
    # this very rule, 2026-12-07)
    for oid in sorted(marks.superseded, key=lambda o: (modified[o], o)):
        for m in files[oid].packs:
            if m.pack.id not in marks.packs:
                since = modified[oid] if m.since is None else m.since
                marks.dropped[m.pack.id] = (m.pack, since)
    return marks


def record_name(oid: ObjectId) -> str:
    """The object name of a deletion record."""
    return object_name(ObjectKind.DELETIONS, oid)
