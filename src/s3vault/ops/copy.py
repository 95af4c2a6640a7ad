"""copy: snapshots into another repository (another region or account, another password).

Blob ids are keyed hashes, so the same data has other ids in the target: every tree is
rewritten with the target's ids, every blob sealed again under the target's keys. A blob the
target already holds is not sent again. What the source-to-target mapping of ids learnt is kept
in the cache (``copy-<target id>.map`` beside the source's cache), so a later copy of newer
snapshots reads only the files that changed; without it (or for files whose whole-file hash
must be computed under the target's key) the blobs are read from the source, never sent twice.
A copy keeps the original time, host, paths and tags and records where it came from
(``original``); snapshots already copied are skipped, so an interrupted copy resumes, and so
are copies of the target's own snapshots (failing back sends only what was new).

Every data blob read from the source is authenticated and checked against its id: a source
pack whose every blob this run read and checked is proven (the rule of
``repository/ledger.whole_packs``, the same as restore --verify's) and goes into the SOURCE's
verification ledger, timed at the start of the run. A pack read only in part (the target
already had its other blobs) is not proven and not read further: copy reads what it sends,
and ``verify --coverage`` reads the rest within its budget. Tree packs are not recorded (trees
are read through the local tree-pack cache, not from the store). A source that refuses the
write (read-only credentials) is said once; the copy stands. Nothing is recorded in the
target: its new packs were written, not read back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import socket
import struct
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from s3vault.archiver.commit import commit
from s3vault.backend.accounting import RequestCounts
from s3vault.clock import Clock, SystemClock
from s3vault.crypto.hashing import ContentHasher
from s3vault.errors import (
    ARCHIVED,
    BackendError,
    ExitCode,
    IntegrityError,
    ObjectNotFoundError,
    S3VaultError,
    UsageError,
)
from s3vault.format.layout import ObjectKind, parse_name
from s3vault.format.packfile import BLOB_TYPE_CODES, ENTRY, BlobType
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.format.tree import Node, Tree
from s3vault.ids import ObjectId
from s3vault.ops.audit import audited, measured, not_written
from s3vault.ops.records import refuse_bare_strings
from s3vault.ops.selection import select_snapshots
from s3vault.ops.snapshots import SnapshotFilter
from s3vault.progress import NullProgress, Progress
from s3vault.repository import ledger as ledgers
from s3vault.repository.compactpack import SpillFile
from s3vault.repository.index import BlobIndex, BlobLocation
from s3vault.repository.recordtable import RecordTable
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import list_snapshots
from s3vault.repository.stored import StoredBlobs
from s3vault.repository.writer import BlobWriter
from s3vault.tags import TagList

log = logging.getLogger(__name__)

DATA, TREE, CONTENT = 0, 1, 2
RECORD = 1 + 32 + 32
SAVE_BYTES = 1 << 20  # the id map's new records are appended to its file in pieces this size
# pack number, offset, length, raw length, data entry number (its bit in SourceIndex.opened)
LOCATION = struct.Struct("<IIIII")
TREE_CODE = BLOB_TYPE_CODES[BlobType.TREE]


class IdMap:
    """Source id → target id, for data blobs, trees and whole-file content hashes.

    Held as the map file's own 65-byte records (kind, source id, target id) in a RecordTable
    (repository/recordtable.py): memory buckets up to 32 MiB, the rest in a temporary file,
    found with one ``pread`` per run. Copying 10^7 blobs: a few megabytes resident, where
    records in memory took 0.7 GB (and a dict of id objects 2.3 GB). The map file is read
    piece by piece; what this run learns is appended to it as it goes (``save``; best effort:
    the map only saves reads, and every target id it gives is checked against the target).

    A tree's mapping says more than that its target tree is stored: that everything below it
    is. That holds until the target loses data: ``index`` (the target's index files now) is
    compared with those the last copy saw (``.index`` beside the map), and if one of those is
    gone (a prune, a ``repair index`` after damage) the trees' mappings are dropped, and this
    copy walks the trees again and sends what the target lacks. Before, a copy after a
    ``repair index`` said "already there" and sent nothing, and a snapshot copied then used
    the lost blobs (a DR walk-through, 2026-12-07).
    """

    def __init__(self, path: Path | None, index: frozenset[ObjectId] | None = None) -> None:
        self._path = path
        self._table = RecordTable(RECORD, 1 + 32, 1)  # key: kind and source; bucket: source
        self._new = bytearray()
        self._index = index  # None: not checked, not noted (the map alone)
        self.trees_dropped = path is not None and index is not None and _index_lost(path, index)
        if path is not None and self.trees_dropped:
            _drop_trees(path)
        if path is not None:
            try:
                with path.open("rb") as f:
                    while piece := f.read(RECORD * 65536):
                        for at in range(0, len(piece) - RECORD + 1, RECORD):
                            self._table.add(piece[at : at + RECORD])
            except FileNotFoundError:
                pass  # the first copy to this target: nothing learnt yet
            except OSError as exc:
                log.warning("could not read the copy map %s: %s", path, exc)

    def get(self, kind: int, source: ObjectId) -> ObjectId | None:
        """The target id of a source id, if known (the latest record wins)."""
        record = self._table.last(bytes([kind]) + source)
        return None if record is None else ObjectId(record[33:RECORD])

    def put(self, kind: int, source: ObjectId, target: ObjectId) -> None:
        """Learn a mapping."""
        if self.get(kind, source) == target:
            return
        record = bytes([kind]) + source + target
        self._table.add(record)
        self._new += record
        if len(self._new) >= SAVE_BYTES:
            self.save()

    def save(self) -> None:
        """Append what was learnt (best effort: the map only saves reads)."""
        if self._path is None:
            self._new = bytearray()  # nowhere to keep it: the table has it for this run
            return
        if not self._new:
            return
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with self._path.open("ab") as f:
                torn = f.tell() % RECORD  # a killed run's partial record: never misalign
                if torn:
                    f.truncate(f.tell() - torn)
                f.write(self._new)
            self._new = bytearray()
        except OSError as exc:
            log.warning("could not save the copy map %s: %s", self._path, exc)
            self._new = bytearray()  # not kept in memory either: the map only saves reads
            self._path = None  # said once: not tried again after every snapshot

    def ended_with(self, index: frozenset[ObjectId]) -> None:
        """The target's index files once the copy is done (with those it wrote): noted in
        their place unless one the run started from is gone meanwhile (the next run must
        see that loss)."""
        if self._index is not None and self._index <= index:
            self._index = index

    def close(self) -> None:
        """Save, note the target's index files (``ended_with``, else those this run started
        from), and remove the table's temporary file."""
        self.save()
        if self._path is not None and self._index is not None:
            _write_atomically(self._path.with_suffix(".index"), b"".join(sorted(self._index)))
        self._table.close()


def _index_lost(path: Path, index: frozenset[ObjectId]) -> bool:
    """Whether an index file of the target the last copy saw is gone now."""
    try:
        seen = path.with_suffix(".index").read_bytes()
    except FileNotFoundError:
        return path.exists()  # a map from before this note: its trees are not trusted either
    except OSError as exc:
        log.warning("could not read %s: %s", path.with_suffix(".index"), exc)
        return True
    return any(ObjectId(seen[at : at + 32]) not in index for at in range(0, len(seen), 32))


def _drop_trees(path: Path) -> None:
    """Rewrite the map without its trees' records (best effort: without the map, nothing)."""
    try:
        kept = bytearray()
        with path.open("rb") as f:
            while piece := f.read(RECORD * 65536):
                for at in range(0, len(piece) - RECORD + 1, RECORD):
                    if piece[at] != TREE:
                        kept += piece[at : at + RECORD]
        _write_atomically(path, bytes(kept))
    except OSError as exc:
        log.warning("could not rewrite the copy map %s: %s", path, exc)
        with contextlib.suppress(OSError):  # then no map at all: it only saves reads
            path.unlink(missing_ok=True)


def _write_atomically(path: Path, data: bytes) -> None:
    """Best effort: the map and its note only save work."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(path.name + ".tmp")
        temp.write_bytes(data)
        temp.replace(path)
    except OSError as exc:
        log.warning("could not write %s: %s", path, exc)


class SourceIndex:
    """Where the source's blobs are, for a copy of 10^7 blobs: tree blobs in a BlobIndex (the
    tree walk reads through it, with the tree-pack cache), data blobs as 52-byte records (id,
    pack number, offset, length, raw length, entry number) in a RecordTable on disk; packs
    numbered in a list. Built from the index files' packs as ``Repository.read_index_packs``
    gives them (the packs prune marked included: a reader may still use them).

    Which data entries this run read and checked is one bit per entry (``opened``): 10^7
    blobs, 1.25 MB; a pack's data entries are numbered consecutively from ``_first[n]``.
    """

    def __init__(self, src: Repository) -> None:
        self.trees = BlobIndex()
        self._data = RecordTable(LOCATION.size + 32)
        self._packs: list[ObjectId] = []
        self._epochs = array("H")
        self._sizes = array("Q")
        self._first = array("Q")  # each pack's first data entry number, then the total
        self._with_trees = bytearray()  # 1: the pack holds tree blobs (never proven by copy)
        self._senders: dict[int, bytes] = {}  # a put-only writer's packs (design.md §6a)
        packs = src.read_index_packs(SpillFile())
        packs.reverse()
        entry = 0
        while packs:
            pack = packs.pop()  # each pack's bytes go as soon as they are in the table
            trees: list[tuple[BlobType, bytes, int, int, int]] = []
            n = len(self._packs)
            self._packs.append(pack.id)
            self._epochs.append(pack.epoch)
            self._sizes.append(pack.size)
            self._first.append(entry)
            if pack.sender:
                self._senders[n] = pack.sender
            for code, bid, offset, length, raw_length in ENTRY.iter_unpack(pack.raw):
                if code == TREE_CODE:
                    trees.append((BlobType.TREE, bid, offset, length, raw_length))
                else:
                    self._data.add(bid + LOCATION.pack(n, offset, length, raw_length, entry))
                    entry += 1
            self._with_trees.append(1 if trees else 0)
            if trees:
                self.trees.add_pack(pack.id, pack.size, trees, pack.epoch, pack.sender)
        self._first.append(entry)
        self._opened = bytearray((entry + 7) // 8)
        self._touched: set[int] = set()  # packs with an entry opened
        self._data.compact()

    def data_locations(self, bid: ObjectId) -> list[tuple[BlobLocation, int]]:
        """Every location of a data blob with its entry number, the first first (none: not
        in the index)."""
        found: list[tuple[BlobLocation, int]] = []
        seen: set[int] = set()
        for record in self._data.find(bid):
            n, offset, length, raw_length, entry = LOCATION.unpack_from(record, 32)
            if n not in seen:
                seen.add(n)
                loc = BlobLocation(
                    pack_id=self._packs[n],
                    offset=offset,
                    length=length,
                    raw_length=raw_length,
                    epoch=self._epochs[n],
                    sender=self._senders.get(n, b""),
                )
                found.append((loc, entry))
        return found

    def opened(self, entry: int) -> None:
        """Note that this data entry was read from the store and checked against its id."""
        self._opened[entry >> 3] |= 1 << (entry & 7)
        self._touched.add(bisect_right(self._first, entry) - 1)

    def proven(self) -> list[tuple[ObjectId, int]]:
        """The packs (id, size) whose every blob this run opened (``ledger.whole_packs``)."""
        touched = sorted(self._touched)

        def entries() -> Iterator[tuple[ObjectId, bool]]:
            for n in touched:
                pack = self._packs[n]
                if self._with_trees[n]:
                    yield pack, False
                for e in range(self._first[n], self._first[n + 1]):
                    yield pack, bool(self._opened[e >> 3] & (1 << (e & 7)))

        return ledgers.whole_packs(((self._packs[n], self._sizes[n]) for n in touched), entries())

    def close(self) -> None:
        """Remove the data table's temporary file."""
        self._data.close()


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyOptions:
    """Which snapshots to copy (none given: all, filtered by host, tag and path)."""

    snapshots: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    tags: tuple[TagList, ...] = ()  # restic's tag lists (s3vault.tags)
    paths: tuple[str, ...] = ()
    # told (source id, target id) as each snapshot is committed in the target, so that a copy
    # stopped midway has said what it copied (restic's copy says each as it goes)
    on_copied: Callable[[str, str], None] | None = None

    def __post_init__(self) -> None:
        refuse_bare_strings(self)


@dataclass(slots=True, kw_only=True)
class CopyResult:
    """What copy did."""

    copied: list[tuple[str, str]] = field(default_factory=list)  # (source id, target id)
    skipped: list[str] = field(default_factory=list)  # already in the target
    # copies of the target's own snapshots that it no longer holds: (source id, target id)
    not_copied_back: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source id, why): damaged
    # removed from the source (forget and prune) while the copy ran: not copied, not damage
    forgotten: list[str] = field(default_factory=list)
    blobs_read: int = 0
    bytes_read: int = 0
    blobs_sent: int = 0
    bytes_sent: int = 0  # stored in the target after compression
    packs_proven: int = 0  # source packs read whole and found intact (the source's ledger)
    ledger_file: ObjectId | None = None  # the ledger file written in the source (None: none)
    requests: RequestCounts = field(default_factory=RequestCounts)


def _selected(src: Repository, options: CopyOptions) -> list[tuple[ObjectId, SnapshotFile]]:
    """The snapshots to copy, oldest first (parents before children), as tag and rewrite
    select them (ops/selection.py): the ids named, exactly (``latest`` among the filtered),
    else every one the filters match.

    Raises:
        UsageError: an id that is not one, or names no snapshot or several.
        IntegrityError: an id names a snapshot file that cannot be read.
    """
    filt = SnapshotFilter(hosts=options.hosts, tags=options.tags, paths=options.paths)
    return select_snapshots(src, tuple(options.snapshots), filt, command="copy")


def _unreadable(src: Repository) -> list[tuple[str, str]]:
    """Snapshot files of the source that could not be read (each said as it was skipped):
    (id, why). Not copied, so the copy is not whole: exit 13, as for a damaged tree."""
    revoked = src.revoked_objects  # a removed put-only key's late file: nothing to copy
    return [
        (parsed[1], f"its snapshot file cannot be read: {why}")
        for name, why in sorted(src.skipped.items())
        if name not in revoked
        and (parsed := parse_name(name)) is not None
        and parsed[0] is ObjectKind.SNAPSHOTS
    ]


class _Copier:
    def __init__(
        self,
        src: Repository,
        dst: Repository,
        ids: IdMap,
        result: CopyResult,
        clock: Clock,
    ) -> None:
        self.source = SourceIndex(src)
        self.src = src.with_index(self.source.trees)
        self.index_read_at = clock.monotonic()  # before the target's index is listed
        self.stored = StoredBlobs()  # what the target has: ids only, not where
        for pack in dst.read_index_packs(SpillFile(), with_marked=False):
            if pack.sender:  # a put-only writer's pack is not trusted for dedup (design.md §6a,
                continue  # as BlobIndex.reserve): the blob is stored again
            self.stored.add_compact(pack)  # not packs prune has marked
        self.dst, self.ids, self.result = dst, ids, result
        self.writer: BlobWriter = dst.blob_writer(index=self.stored)
        self.id_key = dst.sealer.current.id_key

    def _have(self, btype: BlobType, kind: int, bid: ObjectId) -> ObjectId | None:
        mapped = self.ids.get(kind, bid)
        return mapped if mapped is not None and self.stored.has(btype, mapped) else None

    def _data(self, bid: ObjectId, hasher: ContentHasher | None) -> ObjectId:
        mapped = self._have(BlobType.DATA, DATA, bid)
        if mapped is not None and hasher is None:
            return mapped
        data = self._read(bid)
        self.result.blobs_read += 1
        self.result.bytes_read += len(data)
        if hasher is not None:
            hasher.update(data)
        if mapped is not None:
            return mapped
        new, stored = self.writer.save(BlobType.DATA, data)
        if stored:
            self.result.blobs_sent += 1
        self.ids.put(DATA, bid, new)
        return new

    def _read(self, bid: ObjectId) -> bytes:
        """A data blob from the source, each location in turn (repository/copies.py, the
        rule of every reader); the entry it was read and checked from is noted for the ledger.

        Raises:
            IntegrityError, BackendError: no location reads (the first one's error).
        """
        found = self.source.data_locations(bid)
        data, at = self.src.load_first_copy(BlobType.DATA, bid, [loc for loc, _ in found])
        self.source.opened(found[at][1])
        return data

    def tree(self, root: ObjectId) -> ObjectId:
        """The target id of a source tree, copying what the target lacks: children before
        parents, with an explicit stack (no recursion, whatever the depth).

        Raises:
            IntegrityError, ObjectNotFoundError: a source tree or blob cannot be read.
        """
        made: dict[ObjectId, ObjectId] = {}
        stack: list[tuple[ObjectId, tuple[Node, ...] | None]] = [(root, None)]
        while stack:
            tid, nodes = stack.pop()
            if tid in made:
                continue
            mapped = self._have(BlobType.TREE, TREE, tid)
            if mapped is not None:
                made[tid] = mapped
                continue
            if nodes is None:  # first visit: its subtrees first
                # read around the tree cache: each tree is read once here, and the cache
                # would hold thousands of large trees for nothing
                nodes = Tree.decode(self.src.load_blob(BlobType.TREE, tid)).nodes
                stack.append((tid, nodes))
                stack.extend((n.subtree, None) for n in nodes if n.subtree is not None)
                continue
            made[tid] = self._tree_from(tid, nodes, made)
        return made[root]

    def _tree_from(
        self, tid: ObjectId, old_nodes: tuple[Node, ...], made: dict[ObjectId, ObjectId]
    ) -> ObjectId:
        """Store one tree whose subtrees are copied already (``made``)."""
        nodes = []
        for old in old_nodes:
            node = old
            if node.subtree is not None:
                node = replace(node, subtree=made[node.subtree])
            # an empty file too: its content hash is keyed by the repository (it kept the
            # source's, so every drill of a copied snapshot failed on it: a DR walk-through)
            if node.content or node.content_hash is not None:
                known = self.ids.get(CONTENT, node.content_hash) if node.content_hash else None
                hasher = ContentHasher(self.id_key) if node.content_hash and not known else None
                content = tuple(self._data(bid, hasher) for bid in node.content)
                if hasher is not None and node.content_hash is not None:
                    known = hasher.digest()
                    self.ids.put(CONTENT, node.content_hash, known)
                node = replace(node, content=content, content_hash=known)
            nodes.append(node)
        new, stored = self.writer.save(BlobType.TREE, Tree(nodes=tuple(nodes)).encode())
        if stored:
            self.result.blobs_sent += 1
        self.ids.put(TREE, tid, new)
        return new


def copy(
    src: Repository,
    dst: Repository,
    options: CopyOptions | None = None,
    *,
    cache_dir: Path | None = None,
    clock: Clock | None = None,
    progress: Progress | None = None,
) -> CopyResult:
    """Copy snapshots from ``src`` to ``dst`` (both open; their indexes are loaded here).

    A source snapshot whose trees or data cannot be read is not copied (``failed``, and a
    warning); the others are.

    Audited in the target; the bytes sent and snapshots copied are the run's metrics.

    Raises:
        UsageError: source and target are the same repository.
        BackendError, IntegrityError: storage failed; snapshots copied so far stay.
    """
    with audited(dst, "copy", source=str(src.id), target=dst.location) as note:
        try:
            result = _copy(src, dst, options, cache_dir=cache_dir, clock=clock, progress=progress)
        finally:  # the source's account pays these (ops/cost.py)
            note.details["source_requests"] = dataclasses.asdict(src.requests)
        note.details.update(
            copied=[new for _, new in result.copied],
            bytes_sent=result.bytes_sent,
            source_packs_proven=result.packs_proven,
        )
        if result.failed:
            note.found(
                ExitCode.DAMAGED,
                f"{len(result.failed)} snapshot(s) not copied (damaged, or data archived)",
            )
    measured("copy", bytes_added=result.bytes_sent, snapshots_copied=len(result.copied))
    return result


def _copy(
    src: Repository,
    dst: Repository,
    options: CopyOptions | None,
    *,
    cache_dir: Path | None,
    clock: Clock | None,
    progress: Progress | None,
) -> CopyResult:
    if src.id == dst.id:
        msg = (
            f"copy: the target is the source repository (the same repository id, "
            f"{src.id.hex()[:8]}: the same place, or a copy of it made outside s3vault, "
            "e.g. cp -a or a bucket replica); copy into a repository made with init"
        )
        raise UsageError(msg)
    options = options or CopyOptions()
    clock = clock or SystemClock()
    progress = progress or NullProgress()
    index = frozenset(dst.list_files(ObjectKind.INDEX))  # before the copy reads the target's
    ids = IdMap(cache_dir / src.id.hex() / f"copy-{dst.id.hex()}.map" if cache_dir else None, index)
    started = clock.now()  # the proofs' time: every read came after it
    # the snapshots before the index (design.md §11's read order): a snapshot a backup
    # stores meanwhile is not copied this time, instead of looking damaged (its trees in an
    # index file the copy did not read), which failed the copy with exit 13
    todo = _selected(src, options)
    unreadable = [] if options.snapshots else _unreadable(src)
    try:
        copier = _Copier(src, dst, ids, CopyResult(), clock)
        try:
            result = _copy_all(copier, todo, dst, clock, progress, options.on_copied)
            ids.ended_with(frozenset(dst.list_files(ObjectKind.INDEX)))
            result.failed[:0] = unreadable
            proven = copier.source.proven()
        finally:
            copier.source.close()
    finally:
        ids.close()
    result.packs_proven = len(proven)
    result.ledger_file = _record_proofs(src, proven, started)
    return result


def _record_proofs(
    src: Repository, proven: list[tuple[ObjectId, int]], started: datetime
) -> ObjectId | None:
    """Write the source packs this copy proved to the source's ledger; a store that refuses
    (read-only credentials) is said once, and the copy stands."""
    try:
        return ledgers.record(
            src, proven, operation="copy", hostname=socket.gethostname(), now=started
        )
    except S3VaultError as exc:
        not_written("the source's verification ledger file", str(exc))
        return None


@dataclass(frozen=True, slots=True)
class _Target:
    """What the target holds, as the copy compares snapshots with it."""

    id: str
    snapshots: set[str]  # ids of its readable snapshot files
    unreadable: set[str]  # ids of its snapshot files that do not open (damage, not a forget)
    # its snapshots by what they are: one `prune --reencrypt` sealed again (on either side)
    # has a new id, one copied here through a third repository another origin; a snapshot
    # alike in time, host, user, paths, excludes and content is there already, whatever its
    # tags (each repository's own: tagging copies there must not make the next copy send
    # them again)
    alike: dict[tuple[object, ...], ObjectId]
    versions: set[tuple[object, ...]]  # the same without the content
    done: dict[str, ObjectId]  # original → a snapshot of it (for the parents)

    @classmethod
    def of(cls, dst: Repository) -> _Target:
        held = list_snapshots(dst)
        return cls(
            id=dst.id.hex(),
            snapshots={tid.hex() for tid, _ in held},
            unreadable={oid for oid, _why in _unreadable(dst)},  # (listed just above)
            alike={_alike(s): tid for tid, s in held},
            versions={_alike(s)[:-1] for _, s in held},
            done={s.original: tid for tid, s in held if s.original},
        )


def _known(snap: SnapshotFile, origin: str, target: _Target) -> str | None:
    """ "there" (not copied: it is there), "not back" (a copy of the target's own snapshot of
    which the target holds no version: never copied back, said apart), or None (compare by
    content, then copy)."""
    repo, _, snapshot = origin.partition(":")
    if repo == target.id and snapshot not in target.unreadable:
        # a copy of the target's own snapshot: never copied back (failing back sends only
        # what was written on this side; a forget, or a rewrite that removed a secret, there
        # stays done); one whose file there is damaged comes back from this replica
        there = snapshot in target.snapshots or _alike(snap)[:-1] in target.versions
        return "there" if there else "not back"
    return None  # compared with the target's snapshots by what it is (restic's rule)


def _alike(snap: SnapshotFile) -> tuple[object, ...]:
    """What makes two snapshots one backup: what restic's copy compares but the tags, which
    are each repository's own (in one repository the tree is its content; the tree last)."""
    what = (snap.time, snap.hostname, snap.username, tuple(snap.paths))
    return (*what, tuple(snap.excludes), snap.tree)


def _not_copied(
    src: Repository, sid: ObjectId, exc: S3VaultError, result: CopyResult, progress: Progress
) -> None:
    """A snapshot whose trees or data could not be read is not copied in part; the others
    still are. Said and counted by why: forgotten in the source while the copy ran, damaged,
    or archived.

    Raises:
        BackendError: the store failed (not this snapshot's doing): the copy stops.
    """
    lost = isinstance(exc, IntegrityError | ObjectNotFoundError)  # else: archived, or a failure
    if not lost and ARCHIVED not in str(exc):
        raise exc
    if lost and _forgotten(src, sid):
        # not damage: verify finds none (an attack pass, 2026-12-07)
        result.forgotten.append(sid.hex())
        progress.warned(
            f"snapshot {sid.short}",
            "not copied: it was removed from the source (forget and prune) while the copy ran",
        )
        return
    result.failed.append((sid.hex(), str(exc)))
    if not lost:
        # its data is archived: the first such pack had stopped the whole copy, nothing
        # copied (an attack pass on moto, 2026-12-07)
        progress.warned(
            f"snapshot {sid.short}",
            "not copied: its data is in packs their storage class archived (restore them "
            f"from the archive, then copy again; nothing is known to be lost): {exc}",
        )
    else:
        progress.warned(f"snapshot {sid.short}", f"not copied, it is damaged: {exc}")


def _forgotten(src: Repository, sid: ObjectId) -> bool:
    """Whether the source's snapshot file is gone (a forget while the copy ran)."""
    try:
        src.stat_object(ObjectKind.SNAPSHOTS, sid)
    except ObjectNotFoundError:
        return True
    return False


def _copy_all(
    copier: _Copier,
    todo: list[tuple[ObjectId, SnapshotFile]],
    dst: Repository,
    clock: Clock,
    progress: Progress,
    on_copied: Callable[[str, str], None] | None = None,
) -> CopyResult:
    """Copy the selected snapshots (listed before the source's index was read) through
    ``copier`` (its indexes read)."""
    src = copier.src
    target = _Target.of(dst)
    done, alike = target.done, target.alike
    # a copy records the first repository's snapshot (a copy of a copy too, as restic keeps
    # `Original`): copying C's copy of B's copy of A's snapshot back into A is a copy back
    origins = {sid: s.original or f"{src.id.hex()}:{sid.hex()}" for sid, s in todo}
    result = copier.result
    progress.started("copying", total_files=len(todo))
    for sid, snap in todo:
        origin = origins[sid]
        verdict = _known(snap, origin, target)
        if verdict == "there":
            result.skipped.append(sid.hex())
        elif verdict == "not back":
            result.not_copied_back.append((sid.hex(), origin.partition(":")[2]))
        if verdict is not None:
            progress.advanced(files=1, item=sid.short)
            continue
        try:
            root = copier.tree(snap.tree)
        except (IntegrityError, ObjectNotFoundError, BackendError) as exc:
            _not_copied(src, sid, exc, result, progress)
            progress.advanced(files=1, item=sid.short)
            continue
        if (same := alike.get(_alike(replace(snap, tree=root)))) is not None:
            done[origin] = same
            result.skipped.append(sid.hex())
            progress.advanced(files=1, item=sid.short)
            continue
        parent = None
        if snap.parent:
            parent = done.get(origins.get(snap.parent, f"{src.id.hex()}:{snap.parent.hex()}"))
        fresh = replace(snap, tree=root, parent=parent, original=origin)
        new = commit(dst, copier.writer, fresh, clock=clock, index_read_at=copier.index_read_at)
        copier.ids.save()
        done[origin] = new  # (for the parents of the next ones)
        alike[_alike(fresh)] = new  # a second snapshot alike this one is there now
        result.copied.append((sid.hex(), new.hex()))
        if on_copied is not None:
            on_copied(sid.hex(), new.hex())
        progress.advanced(files=1, item=sid.short)
    copier.writer.flush()  # what a damaged last snapshot stored stays findable (garbage otherwise)
    progress.finished("copying")
    result.bytes_sent = copier.writer.stats.data_added
    result.requests = dst.requests.snapshot()
    return result
