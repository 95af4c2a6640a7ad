"""Prune: garbage collection in two phases (design.md §10). Plan, then execute.

Phase one *marks*: packs no snapshot needs are written into a deletion record and leave the
index files (backups stop deduplicating against them; readers still find them through the
record). Partly used packs are repacked first, which leaves the old packs unneeded, so they
are marked too. Phase two *deletes*, in a later prune: a pack whose mark is older than the
grace period (judged by the store's clock) and that no snapshot needs, after re-listing the
snapshots just before deleting. A marked pack that a snapshot needs again is put back into the
index. Stored packs that no index file and no record names (left by a crash) are deleted once
they are older than the grace period and hold nothing a snapshot needs.

Nothing is ever deleted because a listing missed something: prune refuses to run when a
snapshot references a blob that is in no pack, and decides from what snapshots reference,
never from what a listing did not show.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from s3vault.backend.base import ARCHIVE_CLASSES, ObjectInfo
from s3vault.clock import Clock, SystemClock
from s3vault.crashpoint import crash_point
from s3vault.errors import (
    FormatVersionError,
    IntegrityError,
    ObjectNotFoundError,
    RevokedWriterError,
    S3VaultError,
    UsageError,
)
from s3vault.format.deletionfile import DeletionFile, MarkedPack
from s3vault.format.indexfile import IndexedPack, IndexFile
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import BLOB_TYPE_CODES, BlobType
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId
from s3vault.maintenance.endorse import carried, still_endorsed
from s3vault.maintenance.putside import PutSide, drop_locked, plan_put_side
from s3vault.maintenance.reencrypt import (
    Retirement,
    current_blobs,
    reseal_files,
    retire_epochs,
    still_needed,
)
from s3vault.progress import NullProgress, Progress
from s3vault.repository import ledger as ledgers
from s3vault.repository.blobset import BlobFlags
from s3vault.repository.compactpack import (
    CompactIndexFile,
    CompactPack,
    SpillFile,
    compact_index_file,
    encode_compact,
)
from s3vault.repository.index import BlobIndex
from s3vault.repository.marks import DAMAGED_RECORD_HINT, load_marks, record_name
from s3vault.repository.packheader import read_pack_header
from s3vault.repository.references import References
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import list_snapshots
from s3vault.repository.supersede import live, replacing
from s3vault.repository.writerhost import check_store_time

log = logging.getLogger(__name__)

PACKS_PER_INDEX = 4096
DELETE_BATCH = 1000  # packs per DeleteObjects request, and per lease check


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneOptions:
    """How hard to prune."""

    max_unused: float = 0.05  # fraction of the stored bytes allowed to stay unused
    max_repack_bytes: int | None = None
    grace: float | None = None  # seconds; None: the repository's minimum grace
    dry_run: bool = False
    reencrypt: bool = False  # rewrite everything of older key epochs (after key rotate-master)
    # the operator says no backup runs on any host (every timer stopped): ``grace`` may be
    # below the repository's minimum, which running backups rely on (a full disk's way out)
    no_backups_running: bool = False


def _used(pack: CompactPack, refs: References) -> bool:
    """Whether a pack holds any blob the snapshots reference (a copy of it or not)."""
    return any(bid in refs.blobs(btype) for btype, bid, _length in pack.blobs())


@dataclass(slots=True)
class _Use:
    """What snapshots use of one pack: the referenced blobs it holds the kept copy of, and
    those another pack holds the kept copy of (``copies``: unused here; kept as 33-byte
    records, type code and id, not a Python object each: a killed first backup of a large host
    leaves millions of them)."""

    blobs: int = 0
    bytes: int = 0
    copies: bytearray = field(default_factory=bytearray)
    copy_bytes: int = 0


def _uses(groups: list[list[CompactPack]], refs: References, epoch: int) -> dict[ObjectId, _Use]:
    """What snapshots use of each pack, every referenced blob counted in one pack only.

    A blob stored twice (the packs of a killed backup that no index names beside the run that
    stored the same data again; two hosts that stored it at once) is used in one pack, and its
    other copies are unused, as verify's "extra copies ... prune removes them" says: before,
    each copy counted as used, so such packs were indexed again and never freed. The copy
    kept is one a full key wrote before one a put-only host wrote (whose content no full key
    may have read yet: a put-only host can store garbage under a blob's id, design.md §6a),
    then the one in the earliest of ``groups`` (indexed packs before packs no index names),
    then in a pack of the current key epoch, then in the pack used most, then by pack id. One
    pass when nothing is stored twice (the usual case), two otherwise."""
    packs = [p for group in groups for p in group]
    uses = _claim(packs, refs)
    if not any(use.copies for use in uses.values()):
        return uses
    rank = {p.id: n for n, group in enumerate(groups) for p in group}

    def preference(p: CompactPack) -> tuple[bool, int, bool, float, bytes]:
        used = uses[p.id].bytes + uses[p.id].copy_bytes
        return (bool(p.sender), rank[p.id], p.epoch != epoch, -used / max(1, p.size), bytes(p.id))

    return _claim(sorted(packs, key=preference), refs)


def _claim(packs: list[CompactPack], refs: References) -> dict[ObjectId, _Use]:
    """Each referenced blob used in the first of ``packs`` that holds it."""
    claims = {BlobType.TREE: BlobFlags(refs.trees), BlobType.DATA: BlobFlags(refs.data)}
    uses: dict[ObjectId, _Use] = {}
    for pack in packs:
        use = uses[pack.id] = _Use()
        mine: set[tuple[BlobType, bytes]] = set()  # a blob listed twice in one pack is one copy
        for btype, bid, length in pack.blobs():
            first = claims[btype].claim(bid)
            if first or (first is False and pack.sender):  # (see below)
                use.blobs += 1
                use.bytes += length
                mine.add((btype, bid))
            elif first is False and (btype, bid) not in mine:
                use.copies += bytes([BLOB_TYPE_CODES[btype]]) + bid
                use.copy_bytes += length
    # A put-only writer's pack comes after every full key's (``_uses``) and keeps what it
    # holds as used, copies too: its host deduplicates against its own packs (design.md §6a),
    # and which of its copies are sound no full key may have read yet.
    return uses


@dataclass(slots=True)
class PrunePlan:
    """What prune will do (or, with dry_run, would do)."""

    now: float
    grace: float  # how long a pack stays marked before it is deleted
    # how old what may be a running write's must be before it counts as garbage (packs no index
    # names, temporary files, put-only hosts' views): the grace, and never less than the
    # repository's minimum, also where --unsafe-no-backups-running shortens the grace (a
    # backup said stopped may still be writing: an attack pass, 2026-12-07)
    spare: float = 0.0
    snapshots: set[ObjectId] = field(default_factory=set)
    index: BlobIndex = field(default_factory=BlobIndex)  # tree packs planned from (+ repacked)
    index_files: list[ObjectId] = field(default_factory=list)  # replaced by the new index
    put_index_files: list[ObjectId] = field(default_factory=list)  # of them, naming put-only packs
    records: list[ObjectId] = field(default_factory=list)  # replaced by the new record
    refs: References = field(default_factory=lambda: References(cache_trees=False))
    keep: list[CompactPack] = field(default_factory=list)
    repack: list[CompactPack] = field(default_factory=list)
    mark: list[CompactPack] = field(default_factory=list)
    still_marked: list[tuple[CompactPack, float]] = field(default_factory=list)
    unmark: list[CompactPack] = field(default_factory=list)
    delete: list[CompactPack] = field(default_factory=list)
    orphans_delete: list[CompactPack] = field(default_factory=list)
    young_orphans: int = 0
    young_unused: int = 0  # indexed packs no snapshot uses, too young to mark (a backup's?)
    young_unused_bytes: int = 0
    archived_partly: int = 0  # partly used packs in an archive class: not repacked (unreadable)
    archived_unused_bytes: int = 0  # what they hold that no snapshot uses
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    stored_bytes: int = 0
    unused_bytes: int = 0
    listed: set[ObjectId] = field(default_factory=set)
    reencrypt: bool = False
    fresh: set[tuple[BlobType, ObjectId]] = field(default_factory=set)  # in current-epoch packs
    copies: dict[ObjectId, bytes] = field(default_factory=dict)  # _Use.copies of each pack
    reencrypt_packs: int = 0  # packs of older epochs this run rewrites
    marked_since: dict[ObjectId, float] = field(default_factory=dict)  # marked packs' marks
    locked: dict[str, float] = field(default_factory=dict)  # Object Lock: deferred, and until
    held_back: list[str] = field(default_factory=list)  # damaged snapshot files: no deletes
    temporaries: list[ObjectInfo] = field(default_factory=list)  # leftovers old enough to go
    young_temporaries: int = 0  # leftovers younger than the grace (perhaps a write under way)
    put_side: PutSide = field(default_factory=PutSide)  # views and host states to remove (§6a)

    @property
    def changes(self) -> bool:
        """Whether executing would change anything."""
        return bool(self.repack or self.mark or self.unmark or self.delete or self.orphans_delete)


def _read_index_files(
    repo: Repository,
) -> tuple[list[ObjectId], dict[ObjectId, CompactPack], list[ObjectId]]:
    """Every index file (its packs kept compact as soon as it is read, their entries in a
    temporary file), and those naming put-only writers' packs; prune changes nothing while one
    is damaged (it would supersede what it could not read).

    Raises:
        IntegrityError: an index file is damaged (the message says what to run).
    """
    ids = sorted(repo.list_files(ObjectKind.INDEX))
    files: dict[ObjectId, CompactIndexFile] = {}
    spill = SpillFile()  # the packs' entries: on disk, not resident (10^7 blobs: 450 MB)
    for oid in ids:
        try:
            files[oid] = compact_index_file(repo.load_file(ObjectKind.INDEX, oid), spill)
        except RevokedWriterError as exc:
            # Known forged (design.md §6a): its packs are unindexed garbage, and the new index
            # file supersedes it like every other.
            name = object_name(ObjectKind.INDEX, oid)
            repo.skip(name, f"index file skipped: {str(exc).removeprefix(name + ': ')}")
        except (IntegrityError, FormatVersionError) as exc:
            msg = (
                f"prune refused: {exc}; nothing was changed. Run `s3vault repair index` (it "
                "rebuilds the index from the packs' headers), then prune again"
            )
            raise IntegrityError(msg) from None
    put_files = [oid for oid, f in live(files) if any(p.sender for p in f.packs)]
    return ids, repo.packs_described(files), put_files  # senders settled (design.md §6a)


def _tree_index(packs: list[CompactPack]) -> BlobIndex:
    """The index prune reads through: its tree packs only (the walk loads trees; data blobs
    are read only to repack, and their packs are added then). Data blobs' presence is checked
    against the compact packs (``_reach``): no 48-byte index record per data blob."""
    index = BlobIndex()
    for p in packs:
        if p.kind is ObjectKind.TREE:
            index.add_pack(p.id, p.size, p.index_entries(), p.epoch, p.sender)
    return index


def _reach(
    repo: Repository, plan: PrunePlan, packs: list[CompactPack], snapshots: list[SnapshotFile]
) -> None:
    """What the snapshots reference (plan.refs, its ``missing`` included), through an index of
    ``packs``."""
    plan.index = _tree_index(packs)
    plan.refs = References(cache_trees=False, check_data=False)
    plan.refs.add_snapshots(repo.with_index(plan.index), snapshots)
    stored = BlobFlags(plan.refs.data)
    for pack in packs:
        if pack.kind is ObjectKind.DATA:
            for _btype, bid, _length in pack.blobs():
                stored.set(bid)
    plan.refs.missing.extend((BlobType.DATA, bid) for bid in stored.clear_ids())


def grace_of(repo: Repository, options: PruneOptions) -> float:
    """The grace period a prune with these options keeps marked packs for (seconds).

    Raises:
        UsageError: it is below the repository's minimum (forget --prune asks before it
            removes a snapshot).
    """
    grace = float(repo.config.min_grace if options.grace is None else options.grace)
    if grace < repo.config.min_grace and not options.no_backups_running:
        msg = (
            f"--grace {grace:g}s is below this repository's minimum of "
            f"{repo.config.min_grace:g}s, which running backups rely on (with the backups of "
            "every host stopped, --unsafe-no-backups-running allows it: "
            "docs/troubleshooting.md, 'The repository's disk is full')"
        )
        raise UsageError(msg)
    return grace


def plan_prune(repo: Repository, options: PruneOptions) -> PrunePlan:
    """Decide what to repack, mark, unmark and delete.

    Raises:
        UsageError: the grace period is below the repository's minimum.
        IntegrityError: a snapshot references data that is in no pack (prune refuses).
    """
    grace = grace_of(repo, options)
    spare = max(grace, float(repo.config.min_grace))
    plan = PrunePlan(now=repo.server_time(), grace=grace, spare=spare)
    # Read order (design.md §11): snapshots first, then what they need. A backup writes its
    # index files before its snapshot, so every snapshot seen has its index files listed next.
    listed_snapshots = list_snapshots(repo)
    snapshots = [s for _, s in listed_snapshots]
    plan.snapshots = {sid for sid, _ in listed_snapshots}
    plan.index_files, indexed, plan.put_index_files = _read_index_files(repo)
    marks = load_marks(repo)
    if marks.damaged:
        oid, reason = next(iter(sorted(marks.damaged.items())))
        msg = (
            f"prune refused: deletion record {record_name(oid)} is damaged ({reason}); nothing "
            f"was changed: {DAMAGED_RECORD_HINT}; then prune again"
        )
        raise IntegrityError(msg)
    plan.records = sorted(set(marks.records) | marks.superseded)
    # A pack only superseded records name keeps their mark time (a prune died before its
    # deletes): not marked afresh as a leftover, which put freeing it off by a whole grace
    marked = {
        pid: (CompactPack.of(pack), since)
        for pid, (pack, since) in (marks.dropped | marks.packs).items()
        if pid not in indexed
    }
    listed = repo.list_packs()
    _look_up_unlisted(repo, listed, indexed)
    plan.listed = set(listed)
    packs = list(indexed.values()) + [p for p, _ in marked.values()]
    _reach(repo, plan, packs, snapshots)
    orphans = _read_orphans(repo, plan, listed, indexed, marked)
    if plan.refs.missing and orphans:  # an index write lost in a crash: look again
        _reach(repo, plan, packs + orphans, snapshots)
    if plan.refs.missing:
        btype, bid = plan.refs.missing[0]
        msg = (
            f"prune refused: snapshots reference {len(plan.refs.missing)} blob(s) that are in "
            f"no pack (first: {btype.value} blob {bid.short}); nothing was changed. Run "
            "`s3vault repair index` (it finds blobs in packs the index lost); if prune still "
            "refuses, that data is gone: `s3vault repair snapshots --forget` keeps what can "
            "be restored of those snapshots (`s3vault verify` names them)"
        )
        raise IntegrityError(msg)
    gone = _needed_and_gone(packs, listed, plan.refs)
    if gone:
        msg = (
            f"prune refused: {len(gone)} pack(s) that snapshots need are not stored (first: "
            f"{gone[0]}); nothing was changed. Run `s3vault verify` to see what is lost"
        )
        raise IntegrityError(msg)
    current = [p for p in indexed.values() if p.id in listed]
    # A pack the store holds at another size than the index says (truncated, appended to)
    # keeps a blob only where no sound pack holds it: a backup stored its blobs again, and
    # the damaged one was kept as used ("prune removes it", verify said; prune did not: an
    # attack pass, 2026-12-07)
    sound = [p for p in current if listed[p.id].size == p.size]
    damaged = [p for p in current if listed[p.id].size != p.size]
    uses = _uses([sound, orphans, damaged], plan.refs, repo.config.current_epoch)
    plan.copies = {pid: bytes(use.copies) for pid, use in uses.items() if use.copies}
    _judge_orphans(plan, orphans, uses, listed)
    partly = _classify_indexed(plan, indexed, listed, uses)
    if options.reencrypt:
        partly = _plan_reencrypt(repo, plan, partly, options.max_repack_bytes)
    _choose_repack(plan, partly, options)
    _decide_marked(plan, marked)
    _plan_temporaries(repo, plan)
    plan.put_side = plan_put_side(repo, now=plan.now, grace=spare, index_files=plan.index_files)
    _hold_deletions(repo, plan)
    return plan


def _judge_orphans(
    plan: PrunePlan,
    orphans: list[CompactPack],
    uses: dict[ObjectId, _Use],
    listed: dict[ObjectId, ObjectInfo],
) -> None:
    """Packs no index names: indexed again when they hold the only stored copy of something
    the snapshots use; else garbage, marked once past the grace."""
    for pack in orphans:
        if uses[pack.id].blobs:
            plan.keep.append(pack)  # indexed again by the new index
        elif plan.now - listed[pack.id].modified < plan.spare:
            plan.young_orphans += 1
        else:  # marked, as an unused indexed pack: deleted by a prune a grace later, when an
            # index file a lagging listing did not show yet names it if it is not garbage
            plan.mark.append(pack)
            plan.unused_bytes += pack.size


def _hold_deletions(repo: Repository, plan: PrunePlan) -> None:
    """While a snapshot file cannot be read, nothing is deleted: what it needs is unknown, and
    it may come back (a bucket version, a replica). Marking goes on (a marked pack stays
    readable and is unmarked if a snapshot needs it again); deleting waits until `forget ID`
    or `repair snapshots` has settled the damaged file."""
    revoked = repo.revoked_objects  # stored after its writer's removal: needs nothing
    plan.held_back = sorted(
        n for n in repo.skipped if n.startswith(ObjectKind.SNAPSHOTS.value) and n not in revoked
    )
    if not plan.held_back:
        return
    plan.still_marked.extend((p, plan.marked_since[p.id]) for p in plan.delete)
    plan.delete = []
    plan.young_orphans += len(plan.orphans_delete)  # left for a later prune
    plan.orphans_delete = []


def _plan_temporaries(repo: Repository, plan: PrunePlan) -> None:
    """Temporary files killed writes left (never objects, design.md §2): those older than the
    grace period go; a younger one may belong to a write under way."""
    for info in repo.list_temporaries():
        if plan.now - info.modified >= plan.spare:
            plan.temporaries.append(info)
        else:
            plan.young_temporaries += 1


def _needed_and_gone(
    packs: list[CompactPack], listed: dict[ObjectId, ObjectInfo], refs: References
) -> list[str]:
    """Packs the store lost that held a blob snapshots need and no stored pack has a copy of
    (a backup that found a pack gone stores what it needs again: those are not lost)."""
    wanted: dict[tuple[BlobType, ObjectId], str] = {}
    for pack in packs:
        if pack.id not in listed:
            for btype, bid, _length in pack.blobs():
                if bid in refs.blobs(btype):
                    wanted.setdefault((btype, bid), pack.name)
    if wanted:
        for pack in packs:
            if pack.id in listed:
                for btype, bid, _length in pack.blobs():
                    wanted.pop((btype, bid), None)
    return sorted(set(wanted.values()))


def _read_orphans(
    repo: Repository,
    plan: PrunePlan,
    listed: dict[ObjectId, ObjectInfo],
    indexed: dict[ObjectId, CompactPack],
    marked: dict[ObjectId, tuple[CompactPack, float]],
) -> list[CompactPack]:
    """Headers of stored packs that no index file or record names. Young ones may belong to a
    running backup and are left alone (unless snapshots miss data they might hold)."""
    out = []
    for pid, info in sorted(listed.items()):
        if pid in indexed or pid in marked:
            continue
        if plan.now - info.modified < plan.spare and not plan.refs.missing:
            plan.young_orphans += 1
            continue
        try:
            header = read_pack_header(repo, info.name, info.size)
        except (S3VaultError, ValueError) as exc:
            plan.unreadable.append((info.name, str(exc)))
            continue
        if _revoked(repo, header, info):
            # A removed put-only key's pack stored after its removal (design.md §6a): never
            # indexed again, garbage once past the grace, whatever its header claims.
            if plan.now - info.modified < plan.spare:
                plan.young_orphans += 1
            else:
                plan.orphans_delete.append(CompactPack.of(header))
            continue
        out.append(CompactPack.of(header))
    return out


def _revoked(repo: Repository, header: IndexedPack, info: ObjectInfo) -> bool:
    """Whether a pack's header is sealed by a removed put-only key and the pack was stored
    after that key's removal (told once, as a skipped object)."""
    if not header.sender or not repo.config.revoked_at:
        return False
    try:
        key_id, _ = repo.sealer.put_key(header.epoch, header.sender)
        check_store_time(repo.config, key_id, partial(float, info.modified), "a pack")
    except RevokedWriterError as exc:
        repo.skip(info.name, f"pack not indexed again: {exc}")
        return True
    except IntegrityError:
        return False  # an unknown epoch or a malformed sender: the header check said so
    return False


def _look_up_unlisted(
    repo: Repository, listed: dict[ObjectId, ObjectInfo], indexed: dict[ObjectId, CompactPack]
) -> None:
    """An indexed pack the listing does not show is asked for by name before it counts as
    gone (a listing is never evidence of absence, design.md §10): on a store whose listings
    lag, a running backup's new pack left the index, and its snapshot then named blobs in no
    index (verify: damage, until a later prune indexed the pack again). Normally none."""
    for pid in indexed.keys() - listed.keys():
        with contextlib.suppress(ObjectNotFoundError):
            listed[pid] = repo.stat_object(indexed[pid].kind, pid)


def _classify_indexed(
    plan: PrunePlan,
    indexed: dict[ObjectId, CompactPack],
    listed: dict[ObjectId, ObjectInfo],
    uses: dict[ObjectId, _Use],
) -> list[tuple[float, CompactPack, int]]:
    """Fully used packs stay, unused ones are marked (unless very young: perhaps a running
    backup's; never a damaged one, stored at another size than the index says), partly used
    ones are returned as repack candidates (unused share, pack, bytes). A blob another pack
    holds the kept copy of is unused here (``_uses``)."""
    young_limit = min(3600.0, plan.grace / 2)
    partly: list[tuple[float, CompactPack, int]] = []
    for pack in indexed.values():
        plan.stored_bytes += pack.size
        info = listed.get(pack.id)
        if info is None:
            continue  # not stored (and not needed): it leaves the index
        n, used_bytes = uses[pack.id].blobs, uses[pack.id].bytes
        if n == len(pack) or (n and info.size != pack.size):  # damaged: repair packs, not a
            plan.keep.append(pack)  # repack that fails on each run where a blob is cut off
        elif n and info.storage_class in ARCHIVE_CLASSES:  # unreadable until restored: a
            plan.keep.append(pack)  # repack stopped prune (exit 1, an attack pass on moto)
            plan.archived_partly += 1  # said: it had said "0 B unused" (an attack pass)
            plan.archived_unused_bytes += pack.size - used_bytes
        elif n == 0:
            if info.size == pack.size and plan.now - info.modified < young_limit:
                plan.keep.append(pack)  # said: "0 B unused" hid 772 MiB (an attack pass)
                plan.young_unused += 1
                plan.young_unused_bytes += pack.size
            else:
                plan.mark.append(pack)
                plan.unused_bytes += pack.size
        else:
            unused = pack.size - used_bytes
            plan.unused_bytes += unused
            partly.append((unused / pack.size, pack, unused))
    return partly


def _plan_reencrypt(
    repo: Repository,
    plan: PrunePlan,
    partly: list[tuple[float, CompactPack, int]],
    budget: int | None,
) -> list[tuple[float, CompactPack, int]]:
    """Packs of older epochs: repacked if they hold a needed blob that no current-epoch pack
    holds (within ``budget`` bytes of packs: the rest waits for the next run), else marked.
    Returns the partly used packs left to the usual choice."""
    plan.reencrypt = True
    epoch = repo.config.current_epoch
    plan.fresh = current_blobs(repo, plan.keep + [p for _, p, _ in partly])

    def wanted(key: tuple[BlobType, ObjectId]) -> bool:
        return key[1] in plan.refs.blobs(key[0])

    old = [p for p in plan.keep if p.epoch != epoch] + [p for _, p, _ in partly if p.epoch != epoch]
    plan.keep = [p for p in plan.keep if p.epoch == epoch]
    for pack in old:
        if still_needed(pack, wanted, plan.fresh):
            if budget is not None and pack.size > budget:
                plan.keep.append(pack)  # the next run takes it
                continue
            plan.repack.append(pack)
            plan.reencrypt_packs += 1
            if budget is not None:
                budget -= pack.size
        else:
            plan.mark.append(pack)
    return [item for item in partly if item[1].epoch == epoch]


def _choose_repack(
    plan: PrunePlan, partly: list[tuple[float, CompactPack, int]], options: PruneOptions
) -> None:
    """Repack the emptiest partly used packs until the unused share is within bounds."""
    partly.sort(key=lambda item: item[0], reverse=True)
    remaining = plan.unused_bytes - sum(p.size for p in plan.mark)
    budget = options.max_repack_bytes
    for _ratio, pack, unused in partly:
        over = remaining > options.max_unused * max(1, plan.stored_bytes)
        if over and (budget is None or pack.size <= budget):
            plan.repack.append(pack)
            remaining -= unused
            if budget is not None:
                budget -= pack.size
        else:
            plan.keep.append(pack)


def _decide_marked(plan: PrunePlan, marked: dict[ObjectId, tuple[CompactPack, float]]) -> None:
    """Marked packs: needed again → unmark; old enough → delete; else stay marked."""
    needed = _needed_marked(plan, marked)
    for pid, (pack, since) in sorted(marked.items()):
        plan.marked_since[pid] = since
        if pid not in plan.listed:
            continue  # already deleted: it leaves the record
        if pid in needed:
            plan.unmark.append(pack)
        elif plan.now - since >= plan.grace:
            plan.delete.append(pack)
        else:
            plan.still_marked.append((pack, since))


def _needed_marked(
    plan: PrunePlan, marked: dict[ObjectId, tuple[CompactPack, float]]
) -> set[ObjectId]:
    """The stored marked packs that hold a blob the snapshots need and no kept pack of a full
    key holds (a put-only host's copy is no copy here, design.md §6a: it may be garbage)."""
    wanted: dict[tuple[BlobType, ObjectId], list[ObjectId]] = {}
    for pid, (pack, _since) in marked.items():
        if pid not in plan.listed:
            continue  # gone already: it holds nothing to keep
        for btype, bid, _length in pack.blobs():
            if bid in plan.refs.blobs(btype):
                wanted.setdefault((btype, bid), []).append(pid)
    if not wanted:
        return set()
    available: set[tuple[BlobType, ObjectId]] = set()
    for pack in plan.keep + plan.repack:
        if not pack.sender:
            available.update(k for btype, bid, _n in pack.blobs() if (k := (btype, bid)) in wanted)
    needed: set[ObjectId] = set()
    for key, pids in wanted.items():
        if key not in available:
            needed.update(_to_unmark(pids, marked))
    return needed


def _to_unmark(
    pids: list[ObjectId], marked: dict[ObjectId, tuple[CompactPack, float]]
) -> list[ObjectId]:
    """Which of the marked packs holding a needed blob (that no kept pack of a full key holds)
    come back: one a full key wrote, else every put-only writer's copy (which of them is sound
    no full key may have read yet). The first such pack used to come back, whoever wrote it: a
    put-only host's garbage under the blob's id could be unmarked and the good copy deleted."""
    trusted = [pid for pid in pids if not marked[pid][0].sender]
    return trusted[:1] or pids


@dataclass(slots=True, kw_only=True)
class PruneOutcome:
    """What execute_prune did."""

    repacked_blobs: int
    new_index_files: int
    deleted_packs: int
    deleted_bytes: int
    kept_after_recheck: int  # packs a snapshot written meanwhile still needed
    locked: dict[str, float] = field(default_factory=dict)  # Object Lock: deferred, and until
    temporaries_deleted: int = 0
    temporaries_bytes: int = 0
    resealed_snapshots: dict[ObjectId, ObjectId] = field(default_factory=dict)  # old → new id
    resealed_drills: int = 0
    retirement: Retirement = field(default_factory=Retirement)
    ledger: ledgers.Compaction | None = None  # the verification ledger compacted


def _recheck(repo: Repository, plan: PrunePlan) -> int:
    """Snapshots and index files written since planning (by backups running beside prune)
    keep what they reference or name: such packs leave the delete and mark lists. Returns how
    many moved."""
    moved = 0
    # Index files written since planning (by running backups) name packs they will use:
    # none of those is deleted as an orphan now.
    fresh = set(repo.list_files(ObjectKind.INDEX)) - set(plan.index_files)
    named = {
        p.id
        for oid in fresh
        for p in compact_index_file(repo.load_file(ObjectKind.INDEX, oid)).packs
    }
    for pack in list(plan.orphans_delete):
        if pack.id in named:
            plan.orphans_delete.remove(pack)
            moved += 1
    new = [(sid, s) for sid, s in list_snapshots(repo) if sid not in plan.snapshots]
    if not new:
        return moved
    # what the new snapshots reference that the planned ones did not: a pack marked for
    # holding only copies of blobs the planned snapshots use is still garbage (the kept copies
    # stay), so a busy fleet's prune, which always meets a new snapshot, still frees them
    added = plan.refs.added = References(cache_trees=False, check_data=False)
    plan.refs.add_snapshots(repo, (s for _, s in new))
    plan.refs.added = None
    plan.snapshots.update(sid for sid, _ in new)
    for source, target in ((plan.delete, plan.unmark), (plan.mark, plan.keep)):
        for pack in list(source):
            if _used(pack, added):
                source.remove(pack)
                target.append(pack)
                moved += 1
    for pack in list(plan.orphans_delete):
        if _used(pack, added):
            plan.orphans_delete.remove(pack)
            plan.keep.append(pack)
            moved += 1
    return moved


def _defer_locked(repo: Repository, plan: PrunePlan) -> None:
    """Object Lock: what is still locked is not deleted now (the store would refuse it).
    Marked packs stay marked (with their old mark time), orphans stay orphans, superseded index
    files and records stay superseded; a later prune deletes them when their lock ends."""
    store = repo.object_lock
    if store is None:
        return
    names = [p.name for p in plan.delete + plan.orphans_delete]
    names += [object_name(ObjectKind.INDEX, oid) for oid in plan.index_files]
    names += [record_name(oid) for oid in plan.records]
    side = plan.put_side
    names += side.views + side.superseded_views + side.states
    plan.locked = store.retained_until(names)
    drop_locked(side, plan.locked)
    for pack in [p for p in plan.delete if p.name in plan.locked]:
        plan.delete.remove(pack)
        plan.still_marked.append((pack, plan.marked_since.get(pack.id, plan.now)))
    plan.orphans_delete = [p for p in plan.orphans_delete if p.name not in plan.locked]


def _repack(repo: Repository, plan: PrunePlan, progress: Progress) -> int:
    """Write the needed blobs of the packs to repack into new packs (under the current key
    epoch) and mark the old packs; returns how many blobs were written."""
    epoch = repo.config.current_epoch
    todo = []
    for pack in plan.repack:
        raw = plan.copies.get(pack.id, b"")
        elsewhere = {raw[at : at + 33] for at in range(0, len(raw), 33)}  # kept in another pack
        todo += [
            e
            for e in pack.entries
            if e.id in plan.refs.blobs(e.type)
            and bytes([BLOB_TYPE_CODES[e.type]]) + e.id not in elsewhere
            and (pack.epoch == epoch or (e.type, e.id) not in plan.fresh)  # re-encrypted already
        ]
    progress.started("repacking", total_files=len(todo), total_bytes=sum(e.length for e in todo))
    writer = repo.copy_writer(BlobIndex())
    for e in todo:
        writer.save(e.type, repo.load_blob(e.type, e.id), e.id)
        progress.advanced(files=1, bytes_=e.length, item=e.id.short)
    writer.flush()
    progress.finished("repacking")
    plan.mark.extend(plan.repack)
    crash_point("prune-after-repack")
    return len(todo)


def execute_prune(
    repo: Repository,
    plan: PrunePlan,
    *,
    check_lease: Callable[[], None],
    clock: Clock | None = None,
    progress: Progress | None = None,
) -> PruneOutcome:
    """Carry out a plan. ``check_lease`` raises when the lease is no longer certainly ours; it
    is called before every step that deletes.

    The steps, in the order design.md §10 needs: repack, recheck (snapshots written since
    planning), the new deletion record, the new index files, then deletes (superseded index
    files, packs, superseded records, leftover temporaries) and re-encryption's end.

    Raises:
        LeaseLostError: the lease was lost; what was done so far is consistent.
        BackendError, IntegrityError: storage failed or data is damaged.
    """
    clock = clock or SystemClock()
    progress = progress or NullProgress()
    for pack in plan.repack:  # the walk's index holds tree packs; repack reads data too
        plan.index.add_pack(pack.id, pack.size, pack.index_entries(), pack.epoch, pack.sender)
    repo = repo.with_index(plan.index)  # blobs are read through the packs planned from
    crash_point("prune-after-plan")
    check_lease()
    repacked = _repack(repo, plan, progress) if plan.repack else 0
    kept = _recheck(repo, plan)
    _defer_locked(repo, plan)
    crash_point("prune-after-recheck")
    check_lease()
    _write_record(repo, plan, clock)
    crash_point("prune-after-mark")
    new_index = _write_index(repo, plan)
    crash_point("prune-after-index")
    check_lease()
    deleted_bytes = _delete(repo, plan, check_lease, progress)
    _delete_put_side(repo, plan.put_side, check_lease)
    outcome = PruneOutcome(
        repacked_blobs=repacked,
        new_index_files=new_index,
        deleted_packs=len(plan.delete) + len(plan.orphans_delete),
        deleted_bytes=deleted_bytes,
        kept_after_recheck=kept,
        locked=plan.locked,
    )
    if plan.temporaries:
        check_lease()
        for info in plan.temporaries:
            repo.delete_temporary(info)
            outcome.temporaries_deleted += 1
            outcome.temporaries_bytes += info.size
    check_lease()
    deleted = {p.id for p in plan.delete + plan.orphans_delete}
    outcome.ledger = ledgers.compact(
        repo, deleted, hostname=socket.gethostname(), now=clock.now(), check_lease=check_lease
    )
    if plan.reencrypt:
        _finish_reencrypt(repo, outcome, check_lease)
    return outcome


def _write_record(repo: Repository, plan: PrunePlan, clock: Clock) -> None:
    """The new deletion record: every pack marked now or still marked (with its old mark
    time), superseding every record read when planning. None when there is nothing to say."""
    marks = [MarkedPack(pack=p.full(), since=s) for p, s in plan.still_marked]
    marks += [MarkedPack(pack=p.full()) for p in plan.mark]
    if marks or plan.records:
        repo.save_file(
            ObjectKind.DELETIONS,
            DeletionFile(
                time=clock.now(),
                hostname=socket.gethostname(),
                packs=tuple(marks),
                supersedes=tuple(plan.records),
            ).encode(),
        )


def _write_index(repo: Repository, plan: PrunePlan) -> int:
    """The new index files (the packs kept and unmarked), the last one written superseding
    every index file read when planning (``supersede.replacing``); returns how many were
    written. Put-only writers' packs an endorsed view named keep their endorsement; the others
    go in index files of their own, stored without a view, which the read-back that proves
    them endorses (maintenance/endorse.py)."""
    indexed = plan.keep + plan.unmark
    supersedes = tuple(plan.index_files)
    senders = [p for p in indexed if p.sender]
    endorsed: frozenset[ObjectId] = frozenset()
    if senders:
        endorsed = still_endorsed(
            encode_compact(senders, ()),
            repo.id,
            [p.id for p in senders],
            carried(repo, plan.put_index_files),
        )
    waiting = [p for p in senders if p.id not in endorsed]
    viewed = [p for p in indexed if not p.sender or p.id in endorsed]
    parts = [
        (group[start : start + PACKS_PER_INDEX], view)
        for group, view in ((viewed, True), (waiting, False))
        for start in range(0, len(group), PACKS_PER_INDEX)
    ]
    for (chunk, view), replaced in replacing(parts, supersedes):
        plaintext = encode_compact(chunk, replaced)
        repo.save_file(ObjectKind.INDEX, plaintext, proven=endorsed, view=view)
    if not indexed and plan.index_files:
        repo.save_index(IndexFile(packs=(), supersedes=supersedes))
        return 1
    return len(parts)


def _delete(
    repo: Repository, plan: PrunePlan, check_lease: Callable[[], None], progress: Progress
) -> int:
    """Delete the superseded index files, the doomed packs (the lease checked before each
    batch) and the superseded deletion records, leaving what Object Lock still protects.
    Returns the bytes of the packs deleted."""
    superseded = [oid for oid in plan.index_files if _index_name(oid) not in plan.locked]
    repo.delete_objects((ObjectKind.INDEX, oid) for oid in superseded)
    crash_point("prune-before-delete")
    doomed = plan.delete + plan.orphans_delete
    deleted_bytes = 0
    progress.started("deleting packs", total_files=len(doomed))
    for start in range(0, len(doomed), DELETE_BATCH):
        check_lease()
        batch = doomed[start : start + DELETE_BATCH]
        repo.delete_objects((pack.kind, pack.id) for pack in batch)
        for pack in batch:
            deleted_bytes += pack.size
            progress.advanced(files=1, bytes_=pack.size, item=pack.name)
        crash_point("prune-mid-delete")
    progress.finished("deleting packs")
    records = [oid for oid in plan.records if record_name(oid) not in plan.locked]
    repo.delete_objects((ObjectKind.DELETIONS, oid) for oid in records)
    crash_point("prune-after-delete")
    return deleted_bytes


def _delete_put_side(repo: Repository, side: PutSide, check_lease: Callable[[], None]) -> None:
    """The views of the index files just deleted and orphaned views, then the host states
    older than each host's newest (design.md §6a; maintenance/putside.py)."""
    if side.views or side.superseded_views:
        check_lease()
        repo.delete_listed(side.superseded_views + side.views)
        crash_point("prune-after-views")
    if side.states:
        check_lease()
        repo.delete_listed(side.states)
        crash_point("prune-after-states")


def _index_name(oid: ObjectId) -> str:
    return object_name(ObjectKind.INDEX, oid)


def _finish_reencrypt(
    repo: Repository, outcome: PruneOutcome, check_lease: Callable[[], None]
) -> None:
    """Re-seal snapshot files and drill records, then retire old epochs if nothing uses them."""
    check_lease()
    resealed = reseal_files(repo, check_lease)
    crash_point("prune-after-reseal")
    check_lease()
    outcome.resealed_snapshots = resealed.snapshots
    outcome.resealed_drills = resealed.drills
    outcome.retirement = retire_epochs(repo, repo.server_time())
