"""Index repair: rebuild the index from the packs, salvaging blob by blob. Plan, then execute.

    1. read every index file (superseded ones too: a pack is named by the hash of its bytes,
       so whatever any index file says about a pack describes the same bytes) and every
       deletion record: together they are the descriptions of the packs besides their headers
    2. list data/ and tree/; a pack the current index names but the listing lacks is asked
       for by name (a listing is never evidence of absence): only a pack the store says does
       not exist loses its entries, which are then provably lost
    3. read every stored pack's header (authenticated: the pack's own list of its blobs).
       When the header cannot be read (damaged, truncated), every blob an index file or a
       deletion record places in the pack is read and opened (decrypt, decompress, compare
       its id): a blob that opens stays indexed, one that does not is lost. Blobs the index
       places in a pack beyond what its header lists are checked the same way
    4. the new index holds every stored pack but those only a deletion record names (they stay
       with their record, as prune left them); it is written only when it differs from the
       current index, so a clean repository is left exactly as it was

No blob leaves the index unless reading it failed or its pack is gone; a pack is never deleted;
the old index files are removed only after the new ones exist.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial

from s3vault.errors import (
    FormatVersionError,
    IntegrityError,
    NotAnObjectError,
    ObjectNotFoundError,
    RevokedWriterError,
)
from s3vault.format.indexfile import IndexedPack
from s3vault.format.layout import ObjectKind, parse_name
from s3vault.format.packfile import ENTRY, BlobType, PackEntry
from s3vault.ids import ObjectId
from s3vault.repository.compactpack import (
    CompactIndexFile,
    CompactPack,
    SpillFile,
    compact_index_file,
    encode_compact,
)
from s3vault.repository.marks import load_marks
from s3vault.repository.packheader import check_blobs, read_pack_header
from s3vault.repository.repository import Repository
from s3vault.repository.supersede import live, replacing
from s3vault.repository.writerhost import check_store_time

PACKS_PER_INDEX = 4096
MISSING = "pack is missing"


@dataclass(frozen=True, slots=True, kw_only=True)
class PackRepair:
    """A pack whose header could not simply be taken as it is, and what became of its blobs."""

    name: str
    problem: str  # what is wrong with it
    kept: int  # blobs that stay indexed (read back intact, or described and unchecked)
    lost: int  # blobs that leave the index with no copy in another pack
    dropped: tuple[tuple[BlobType, ObjectId], ...] = ()  # every entry that leaves this pack
    copies: int = 0  # of those, blobs another pack still holds (nothing lost)

    @property
    def gone(self) -> bool:
        """The pack is missing and nothing it held is lost (other packs have every blob):
        once the index stops naming it, nothing is damaged."""
        return self.problem == MISSING and not self.lost and not self.kept


@dataclass(slots=True)
class RepairPlan:
    """What repair index will do."""

    packs: list[CompactPack] = field(default_factory=list)  # the new index
    damaged: list[PackRepair] = field(default_factory=list)
    old_index: list[ObjectId] = field(default_factory=list)
    damaged_records: list[ObjectId] = field(default_factory=list)  # deletion records to remove
    needed: bool = False  # the current index differs from what the packs say

    def execute(
        self, repo: Repository, *, check_lease: Callable[[], None] | None = None
    ) -> list[ObjectId]:
        """Write the new index files (the last one written superseding every old one:
        ``supersede.replacing``), then remove the old ones. ``check_lease`` raises when the
        maintenance lease is no longer certainly held; it is called before the removal.

        Returns the new index ids (empty when nothing needed doing).

        Raises:
            BackendError: storage failed (what was written so far is consistent).
            LeaseLostError: the lease was lost before the old index files were removed.
        """
        if not self.needed:
            return []
        new_ids = []
        # put-only writers' packs in index files of their own, with no view until a read-back
        # proves them (design.md §6a, maintenance/endorse.py)
        full = [p for p in self.packs if not p.sender]
        put = [p for p in self.packs if p.sender]
        parts = [
            (group[start : start + PACKS_PER_INDEX], view)
            for group, view in [(g, v) for g, v in ((full, True), (put, False)) if g]
            or [(full, True)]
            for start in range(0, max(1, len(group)), PACKS_PER_INDEX)
        ]
        for (chunk, view), replaced in replacing(parts, self.old_index):
            plaintext = encode_compact(chunk, replaced)
            new_ids.append(repo.save_file(ObjectKind.INDEX, plaintext, view=view))
        if check_lease is not None:
            check_lease()
        # A deletion record that does not open goes once the packs it marked are indexed
        # (it may have marked some: as unmarked stored packs they are in the new index).
        for oid in self.damaged_records:
            with contextlib.suppress(ObjectNotFoundError):
                repo.delete_object(ObjectKind.DELETIONS, oid)
        for oid in self.old_index:
            try:
                repo.delete_object(ObjectKind.INDEX, oid)
            except ObjectNotFoundError:
                continue
        return new_ids


@dataclass(slots=True)
class Descriptions:
    """What the index files and deletion records say about packs."""

    current: dict[ObjectId, CompactPack] = field(default_factory=dict)  # the live index
    described: dict[ObjectId, list[CompactPack]] = field(default_factory=dict)  # any source
    marked: set[ObjectId] = field(default_factory=set)
    damaged_records: list[ObjectId] = field(default_factory=list)
    files: list[ObjectId] = field(default_factory=list)
    intact: bool = True  # every index file could be read

    def add(self, pack: CompactPack) -> CompactPack:
        """Record a description; one the same as an earlier one is kept once (a pack named
        by a superseded and a live index file costs its entries once). Returns the kept one."""
        known = self.described.setdefault(pack.id, [])
        for same in known:
            if same == pack:
                return same
        known.append(pack)
        return pack

    def entries(self, pid: ObjectId) -> list[PackEntry]:
        """Every entry any description places in this pack (each once)."""
        return list(dict.fromkeys(e for p in self.described.get(pid, []) for e in p.entries))


def _key(pack: CompactPack) -> tuple[bytes, int, int, list[tuple[int, bytes, int, int, int]]]:
    """What a pack's index entry says, whatever the order of its entries."""
    return pack.id, pack.size, pack.epoch, sorted(ENTRY.iter_unpack(pack.raw), key=lambda e: e[2])


def _same_index(current: dict[ObjectId, CompactPack], packs: list[CompactPack]) -> bool:
    """Whether the new index says what the current one does (pack by pack, no copy of it)."""
    if len(current) != len(packs):
        return False
    for pack in packs:
        old = current.get(pack.id)
        if old is None or (old is not pack and _key(old) != _key(pack)):
            return False
    return True


def read_descriptions(repo: Repository) -> Descriptions:
    """What every index file (superseded ones too) and every deletion record says about packs;
    an index file that cannot be read leaves ``intact`` False."""
    known = Descriptions(files=sorted(repo.list_files(ObjectKind.INDEX)))
    files: dict[ObjectId, CompactIndexFile] = {}
    spill = SpillFile()  # every description's entries: on disk, not resident
    for oid in known.files:
        try:
            files[oid] = compact_index_file(repo.load_file(ObjectKind.INDEX, oid), spill)
        except (IntegrityError, ObjectNotFoundError, ValueError):
            known.intact = False  # damaged (or gone): superseded and removed by the repair
    for _oid, ifile in sorted(files.items()):  # superseded ones too: any may describe a pack
        for pack in ifile.packs:
            known.add(pack)
    for _oid, ifile in live(files):
        for pack in ifile.packs:
            known.current.setdefault(pack.id, known.add(pack))  # the described object itself
    # The packs a damaged deletion record marked are unknown: like any other stored pack
    # that no record marks, they are indexed (prune marks what is unused again).
    marks = load_marks(repo)
    known.damaged_records = sorted(marks.damaged)
    for marked, _since in marks.packs.values():
        known.add(CompactPack.of(marked))
        known.marked.add(marked.id)
    return known


def _pack_id(name: str) -> ObjectId:
    parsed = parse_name(name)
    assert parsed is not None
    return ObjectId.from_hex(parsed[1])


class _PackReader:
    """Turns one stored pack into its index entry, salvaging blob by blob when needed."""

    def __init__(self, repo: Repository, known: Descriptions) -> None:
        self._repo = repo
        self._known = known

    def read(
        self, name: str, size: int, stored: float
    ) -> tuple[CompactPack | None, PackRepair | None]:
        """The pack's description, and what was wrong with it (``stored``: its store time)."""
        pid = _pack_id(name)
        try:
            header = read_pack_header(self._repo, name, size)
            if header.sender and self._repo.config.revoked_at:
                key_id, _ = self._repo.sealer.put_key(header.epoch, header.sender)
                check_store_time(self._repo.config, key_id, partial(float, stored), "a pack")
        except RevokedWriterError as exc:
            # design.md §6a: never indexed again; prune deletes it as garbage after the grace
            return None, PackRepair(name=name, problem=f"not indexed: {exc}", kept=0, lost=0)
        except ObjectNotFoundError:  # gone since the listing
            return None, self.missing(name, pid) if pid in self._known.current else None
        except FormatVersionError as exc:
            current = self._known.current.get(pid)
            kept = len(current.entries) if current else 0
            problem = f"{exc}: its index entries are kept as they are"
            return current, PackRepair(name=name, problem=problem, kept=kept, lost=0)
        except IntegrityError as exc:
            return self.salvage(name, pid, size, f"pack header unreadable ({exc})")
        # A blob the header lists at another place is misplaced by the index (an index file
        # can describe a pack falsely, design.md §6a): the header's place is the truth.
        listed = {(e.type, e.id) for e in header.entries}
        extra = [e for e in self._known.entries(pid) if (e.type, e.id) not in listed]
        if not extra:
            found = CompactPack.of(header)
            current = self._known.current.get(pid)
            if current is not None and _key(current) == _key(found):
                return current, None  # the same: share the current description's bytes
            return found, None
        # The index places more blobs here than the header lists: keep those that read back.
        bad = self._check(name, extra, header.epoch)
        good = [e for e in extra if e not in bad]
        pack = CompactPack.of(
            IndexedPack(
                id=pid,
                size=size,
                epoch=header.epoch,
                entries=(*header.entries, *good),
                sender=header.sender,
            )
        )
        if not bad:
            return pack, None
        problem = "the index places blobs in this pack that its header does not list"
        return pack, PackRepair(
            name=name, problem=problem, kept=len(good), lost=len(bad), dropped=_keys(bad)
        )

    def salvage(
        self, name: str, pid: ObjectId, size: int, problem: str
    ) -> tuple[CompactPack | None, PackRepair]:
        """Keep every described blob of a pack whose header is unusable that reads back."""
        entries = self._known.entries(pid)
        if not entries:
            problem += ": no index file describes it, so its blobs cannot be located"
            return None, PackRepair(name=name, problem=problem, kept=0, lost=0)
        epoch = self._known.described[pid][0].epoch
        bad = self._check(name, entries, epoch)
        kept = tuple(sorted((e for e in entries if e not in bad), key=lambda e: e.offset))
        repair = PackRepair(
            name=name, problem=problem, kept=len(kept), lost=len(bad), dropped=_keys(bad)
        )
        if not kept:
            return None, repair
        return CompactPack.of(IndexedPack(id=pid, size=size, epoch=epoch, entries=kept)), repair

    def missing(self, name: str, pid: ObjectId) -> PackRepair:
        """A pack the store does not have: what the current index placed there is lost."""
        current = self._known.current.get(pid)
        entries = current.entries if current else ()
        return PackRepair(
            name=name, problem=MISSING, kept=0, lost=len(entries), dropped=_keys(entries)
        )

    def _check(self, name: str, entries: list[PackEntry], epoch: int) -> dict[PackEntry, str]:
        try:
            return check_blobs(self._repo, name, entries, epoch)
        except (ObjectNotFoundError, NotAnObjectError):  # no pack there: a FIFO, a device
            return dict.fromkeys(entries, MISSING)


def plan_repair(repo: Repository, *, workers: int = 4) -> RepairPlan:
    """Read every pack header (salvaging blob by blob where one is unusable) and compare the
    result with the current index files.

    Raises:
        BackendError: storage could not be listed or read (nothing is decided from a failure).
    """
    known = read_descriptions(repo)
    plan = RepairPlan(old_index=known.files, damaged_records=known.damaged_records)
    listed = {pid: (info.name, info.size, info.modified) for pid, info in repo.list_packs().items()}
    reader = _PackReader(repo, known)
    for pid, indexed in sorted(known.current.items()):
        if pid in listed:
            continue
        name = indexed.name
        try:
            info = repo.stat_object(indexed.kind, pid)  # the listing was short
            listed[pid] = (name, info.size, info.modified)
        except ObjectNotFoundError:
            plan.damaged.append(reader.missing(name, pid))
    # Packs only a deletion record names stay with their record (prune decides about them).
    todo = sorted(v for pid, v in listed.items() if pid in known.current or pid not in known.marked)
    with ThreadPoolExecutor(workers, thread_name_prefix="s3v-repair") as pool:
        for found, repair in pool.map(lambda item: reader.read(*item), todo):
            if found is not None:
                plan.packs.append(found)
            if repair is not None:
                plan.damaged.append(repair)
    # A blob another pack holds (stored twice, or stored again by a backup that found its
    # pack gone) is not lost with this one.
    dropped = {key for r in plan.damaged for key in r.dropped}
    present = {
        k for p in plan.packs if dropped for t, b, _n in p.blobs() if (k := (t, b)) in dropped
    }
    plan.damaged = sorted((_recount(r, present) for r in plan.damaged), key=lambda r: r.name)
    plan.needed = (
        not known.intact
        or bool(known.damaged_records)
        or not _same_index(known.current, plan.packs)
    )
    return plan


def _keys(entries: Iterable[PackEntry]) -> tuple[tuple[BlobType, ObjectId], ...]:
    return tuple((e.type, e.id) for e in entries)


def _recount(repair: PackRepair, present: set[tuple[BlobType, ObjectId]]) -> PackRepair:
    copies = sum(1 for key in repair.dropped if key in present)
    return replace(repair, lost=repair.lost - copies, copies=copies)
