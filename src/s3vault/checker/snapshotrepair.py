"""Snapshot repair (restic's `repair snapshots`): a damaged snapshot is rewritten without what
is lost. Plan, then execute.

What counts as lost:

- a tree that does not load (its blob is in no index, its pack is gone, or it fails
  authentication or parsing): the directory stays, with its metadata, as an empty directory;
  a snapshot whose root tree does not load has nothing left to keep;
- a file with any data blob that is in no index, whose pack the store does not have (asked by
  name: a listing alone is no evidence of absence), that does not read back from a pack of
  the wrong size, or (``read_data``) that fails authentication when every data pack is read:
  the file is left out. Its content is not what was backed up, and every node carries the
  hash of its whole content, which a restore proves: a file with holes cut out or zeros
  put in would be a damaged file under its own name (restic keeps the readable parts of such
  a file under its name; the readable parts stay restorable from the original snapshot
  until it is forgotten).

The walk is iterative (an explicit stack; trees may nest 10,000 levels deep) and visits each
distinct tree once for all snapshots. A tree nothing below it is lost keeps its id; the trees
above a loss are rewritten, and only those are stored (execute). Paths are put together only
for what is dropped, when the report is made.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from s3vault.checker.findings import LISTED_PATHS
from s3vault.checker.readback import read_pack
from s3vault.crypto.hashing import storage_id
from s3vault.errors import (
    BackendError,
    FormatVersionError,
    IntegrityError,
    NotAnObjectError,
    ObjectNotFoundError,
)
from s3vault.format.envelope import SealedKind
from s3vault.format.indexfile import IndexedPack
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import BlobType, PackEntry
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.format.tree import Node, NodeType, Tree
from s3vault.ids import ObjectId
from s3vault.progress import NullProgress, Progress
from s3vault.repository.index import BlobIndex
from s3vault.repository.names import pack_kind, pack_name
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import save_snapshot

# Errors that mean "this object is lost" (anything else, such as storage being unreachable
# or an object written by a newer s3vault, stops the repair: nothing is decided from it).
LOST = (IntegrityError, ObjectNotFoundError)


@dataclass(frozen=True, slots=True, kw_only=True)
class Dropped:
    """One thing a repaired snapshot leaves out."""

    path: str  # absolute path in the snapshot
    kind: str  # "file": left out; "dir": its tree is unreadable, now an empty directory
    reason: str


@dataclass(frozen=True, slots=True)
class _Fix:
    """A tree that needed rewriting: its new id and what changed right in it."""

    tree: ObjectId | None  # the repaired tree; None: this tree itself does not load
    reason: str = ""  # why it does not load
    dropped: tuple[tuple[str, str, str], ...] = ()  # (name, kind, reason) of its own nodes
    below: tuple[tuple[str, ObjectId], ...] = ()  # (name, original subtree) with losses below


def _kind(btype: BlobType) -> ObjectKind:
    return ObjectKind.TREE if btype is BlobType.TREE else ObjectKind.DATA


class Blobs:
    """Whether a blob can be read back from the repository (not from a local cache), decided
    once per blob and once per pack."""

    def __init__(self, repo: Repository, *, read_data: bool, workers: int = 4) -> None:
        self._repo = repo
        self._sizes = dict(repo.index.packs())
        self._listed = {
            info.name: info.size
            for kind in (ObjectKind.DATA, ObjectKind.TREE)
            for info in repo.list_objects(kind)
        }
        self._pack_state: dict[ObjectId, str | None] = {}  # None: fine; "": read each blob
        self._blob_state: dict[tuple[BlobType, ObjectId], str] = {}
        self._bad: dict[tuple[BlobType, bytes], str] | None = None
        if read_data:
            self._bad = self._read_all(workers)

    def _read_all(self, workers: int) -> dict[tuple[BlobType, bytes], str]:
        """Read every pack once (as verify --read-data does); the blobs that fail."""
        packs: dict[ObjectId, list[PackEntry]] = {}
        for btype, bid, loc in self._repo.index.entries():
            packs.setdefault(loc.pack_id, []).append(
                PackEntry(
                    type=btype,
                    id=bid,
                    offset=loc.offset,
                    length=loc.length,
                    raw_length=loc.raw_length,
                )
            )
        epochs = {pid: epoch for pid, _size, epoch in self._repo.index.pack_epochs()}
        todo = [
            IndexedPack(id=pid, size=self._sizes[pid], epoch=epochs[pid], entries=tuple(entries))
            for pid, entries in packs.items()
        ]
        bad: dict[tuple[BlobType, bytes], str] = {}
        with ThreadPoolExecutor(max(1, workers), thread_name_prefix="s3v-repair") as pool:
            for pack, reading in zip(
                todo, pool.map(lambda p: read_pack(self._repo, pack_name(p), p), todo), strict=True
            ):
                if reading.unreadable:
                    self._pack_state[pack.id] = self._gone(pack, reading.problem)
                bad.update(reading.bad_blobs)
        return bad

    def _gone(self, pack: IndexedPack, problem: str) -> str:
        """A pack that could not be read: lost if the store says it does not exist.

        Raises:
            BackendError: it exists but cannot be read (storage trouble decides nothing).
        """
        name = pack_name(pack)
        try:
            self._repo.stat_object(pack_kind(pack), pack.id)
        except ObjectNotFoundError:
            return f"pack {name} is missing"
        msg = f"{name}: {problem}"
        raise BackendError(msg)

    def _pack(self, kind: ObjectKind, pack_id: ObjectId) -> str | None:
        """Why every blob of this pack is lost; "" when blobs must be read one by one."""
        if pack_id in self._pack_state:
            return self._pack_state[pack_id]
        name = object_name(kind, pack_id)
        size = self._listed.get(name)
        state: str | None = None
        if size is None:
            try:
                size = self._repo.stat_object(kind, pack_id).size  # the listing was short
            except ObjectNotFoundError:
                state = f"pack {name} is missing"
        if state is None and size != self._sizes.get(pack_id):
            state = ""  # truncated or replaced: each blob is read to see whether it survived
        self._pack_state[pack_id] = state
        return state

    def lost(self, btype: BlobType, bid: ObjectId) -> str | None:
        """Why this blob cannot be read back from the repository, or None when it can."""
        known = self._blob_state.get((btype, bid))
        if known is not None:
            return known or None
        reason = self._check(btype, bid)
        self._blob_state[(btype, bid)] = reason or ""
        return reason

    def _check(self, btype: BlobType, bid: ObjectId) -> str | None:
        loc = self._repo.index.lookup(btype, bid)
        if loc is None:
            return f"{btype.value} blob {bid.short} is in no index"
        name = object_name(_kind(btype), loc.pack_id)
        state = self._pack(_kind(btype), loc.pack_id)
        if state:
            return state
        if self._bad is not None and (btype, bytes(bid)) in self._bad:
            return f"{btype.value} blob {bid.short} in {name}: {self._bad[(btype, bytes(bid))]}"
        if state == "":
            try:
                sealed = self._repo.read_object(_kind(btype), loc.pack_id, loc.offset, loc.length)
            except NotAnObjectError as exc:  # a FIFO where the pack is: lost, said (it was
                return f"{btype.value} blob {bid.short}: {exc}"  # Fatal: an attack pass)
            if len(sealed) != loc.length:
                return f"{btype.value} blob {bid.short}: {name} ends before it"
            try:
                self._repo.sealer.open_blob(btype, bid, sealed, loc.raw_length, loc.epoch)
            except IntegrityError as exc:
                return f"{btype.value} blob {bid.short} in {name}: {exc}"
        return None


class TreeRepairer:
    """Rewrites trees without what is lost; each distinct tree is looked at once."""

    def __init__(self, repo: Repository, blobs: Blobs) -> None:
        self._repo = repo
        self._blobs = blobs
        self._memo: dict[ObjectId, _Fix | None] = {}  # None: nothing below is lost
        # the files each tree holds once repaired, at any depth, and their bytes
        self._totals: dict[ObjectId, tuple[int, int]] = {}
        self.new_trees: dict[ObjectId, bytes] = {}
        empty = Tree().encode()
        self.empty = repo.sealer.blob_id(empty)
        self._empty_bytes = empty

    def repair(self, root: ObjectId) -> _Fix | None:
        """The fix of a tree (None: nothing below it is lost). Iterative post-order."""
        stack = [root]
        loaded: dict[ObjectId, Tree] = {}
        while stack:
            tid = stack[-1]
            if tid in self._memo:
                stack.pop()
                continue
            tree = loaded.get(tid)
            if tree is None:
                try:
                    tree = self._load(tid)
                except LOST as exc:
                    self._memo[tid] = _Fix(tree=None, reason=str(exc))
                    self._totals[tid] = (0, 0)
                    stack.pop()
                    continue
                loaded[tid] = tree
                todo = [s for s in _subtrees(tree) if s not in self._memo and s not in loaded]
                if todo:
                    stack.extend(todo)
                    continue
            self._memo[tid] = self._fix(tree)
            self._totals[tid] = self._count(tree)
            del loaded[tid]
            stack.pop()
        return self._memo[root]

    def totals(self, root: ObjectId) -> tuple[int, int]:
        """The files the repaired tree ``root`` holds and their bytes (repaired before): a
        repaired snapshot's summary counts them (`snapshots` showed the lost files' size)."""
        return self._totals[root]

    def _count(self, tree: Tree) -> tuple[int, int]:
        """What a tree whose subtrees are all decided holds once repaired."""
        files = size = 0
        for node in tree.nodes:
            if node.type is NodeType.FILE and not any(
                self._blobs.lost(BlobType.DATA, bid) for bid in node.content
            ):
                files, size = files + 1, size + node.size
            elif node.type is NodeType.DIR and node.subtree is not None:
                below = self._totals.get(node.subtree, (0, 0))
                files, size = files + below[0], size + below[1]
        return files, size

    def _load(self, tid: ObjectId) -> Tree:
        """A tree, once the repository is known to hold it (a copy in the local cache of a
        tree the repository lost does not count).

        Raises:
            IntegrityError, ObjectNotFoundError: it is lost.
        """
        reason = self._blobs.lost(BlobType.TREE, tid)
        if reason is not None:
            raise IntegrityError(reason)
        return self._repo.load_tree(tid)

    def _fix(self, tree: Tree) -> _Fix | None:
        """Rewrite one tree whose subtrees are all decided."""
        nodes: list[Node] = []
        dropped: list[tuple[str, str, str]] = []
        below: list[tuple[str, ObjectId]] = []
        for node in tree.nodes:
            name = node.display_name
            if node.type is NodeType.FILE:
                reason = next(
                    (r for bid in node.content if (r := self._blobs.lost(BlobType.DATA, bid))),
                    None,
                )
                if reason is not None:
                    dropped.append((name, "file", reason))
                    continue
            elif node.type is NodeType.DIR and (subtree := node.subtree) is not None:
                # A subtree still open here would be a cycle (content addressing rules it
                # out): it is kept as it is.
                sub = self._memo.get(subtree)
                if sub is not None and sub.tree is None:
                    dropped.append((name, "dir", sub.reason))
                    self.new_trees.setdefault(self.empty, self._empty_bytes)
                    node = replace(node, subtree=self.empty)  # noqa: PLW2901
                elif sub is not None:
                    below.append((name, subtree))
                    node = replace(node, subtree=sub.tree)  # noqa: PLW2901
            nodes.append(node)
        if not dropped and not below:
            return None
        data = Tree(nodes=tuple(nodes)).encode()
        new_id = self._repo.sealer.blob_id(data)
        self.new_trees[new_id] = data
        return _Fix(tree=new_id, dropped=tuple(dropped), below=tuple(below))

    def dropped(self, root: ObjectId, prefix: str = "") -> list[Dropped]:
        """Everything left out below ``root`` (repaired before), with absolute paths: at most
        LISTED_PATHS of them (a tree many directories share is left out through each)."""
        out: list[Dropped] = []
        stack = [(root, prefix)]
        while stack and len(out) < LISTED_PATHS:
            tid, path = stack.pop()
            fix = self._memo.get(tid)
            if fix is None:
                continue
            out.extend(Dropped(path=f"{path}/{n}", kind=k, reason=r) for n, k, r in fix.dropped)
            stack.extend((sub, f"{path}/{n}") for n, sub in fix.below)
        del out[LISTED_PATHS:]
        out.sort(key=lambda d: d.path)
        return out


def _subtrees(tree: Tree) -> list[ObjectId]:
    return [n.subtree for n in tree.nodes if n.type is NodeType.DIR and n.subtree is not None]


@dataclass(slots=True)
class SnapshotFix:
    """One damaged snapshot and what repair does about it."""

    id: ObjectId
    snapshot: SnapshotFile | None  # None: the snapshot file itself cannot be read
    problem: str = ""  # why the file, or its root tree, cannot be read
    dropped: list[Dropped] = field(default_factory=list)
    new_tree: ObjectId | None = None  # the repaired root; None: nothing can be kept
    totals: tuple[int, int] = (0, 0)  # the files the repaired root holds, and their bytes
    new_id: ObjectId | None = None  # set by execute


@dataclass(slots=True)
class SnapshotRepairPlan:
    """The damaged snapshots among those looked at, and the trees their repair needs."""

    checked: int = 0
    fixes: list[SnapshotFix] = field(default_factory=list)
    new_trees: dict[ObjectId, bytes] = field(default_factory=dict)
    trees_written: int = 0  # set by execute

    def execute(
        self, repo: Repository, *, tag: str, stored: list[tuple[ObjectId, SnapshotFile]]
    ) -> None:
        """Store the rewritten trees (a pack and its index file), then one new snapshot per
        repairable snapshot: the original's time, host, paths and tags, plus ``tag`` (one
        already among ``stored``, the snapshots read for the plan, is not stored again). The
        originals are not touched here.

        Raises:
            BackendError: storage failed (nothing references what was stored so far).
        """
        fixes = [f for f in self.fixes if f.snapshot is not None and f.new_tree is not None]
        if not fixes:
            return
        # A fresh reservation table: a tree is stored unless an intact copy is (a damaged
        # copy in the index must not count as stored).
        writer = repo.copy_writer(BlobIndex())
        for tid, data in sorted(self.new_trees.items()):
            if _readable_tree(repo, tid):
                continue
            writer.save(BlobType.TREE, data, tid)
            self.trees_written += 1
        writer.flush()
        for fix in fixes:
            assert fix.snapshot is not None and fix.new_tree is not None
            snap = fix.snapshot
            tags = snap.tags if tag in snap.tags else (*snap.tags, tag)
            # a snapshot of its own beside the damaged one (forget --keep-tag repaired chooses
            # between them), stored once: a rerun after a kill finds the copy it stored
            files, size = fix.totals  # what it holds now, as a rewrite counts it
            summary = replace(snap.summary, total_files_processed=files, total_bytes_processed=size)
            new = replace(snap, tree=fix.new_tree, tags=tags, summary=summary)
            # the summary aside: an earlier s3vault's repair kept the original's counts
            again = next(
                (sid for sid, known in stored if replace(known, summary=summary) == new), None
            )
            fix.new_id = again if again is not None else save_snapshot(repo, new)


def _readable_tree(repo: Repository, tid: ObjectId) -> bool:
    """Whether the repository (not a local cache) holds an intact copy of this tree blob."""
    loc = repo.index.lookup(BlobType.TREE, tid)
    if loc is None:
        return False
    try:
        sealed = repo.read_object(ObjectKind.TREE, loc.pack_id, loc.offset, loc.length)
        repo.sealer.open_blob(BlobType.TREE, tid, sealed, loc.raw_length, loc.epoch)
    except LOST:
        return False
    return True


def plan_snapshot_repair(
    repo: Repository,
    snapshots: list[tuple[ObjectId, SnapshotFile]],
    unreadable: list[tuple[ObjectId, str]],
    *,
    read_data: bool = False,
    workers: int = 4,
    progress: Progress | None = None,
) -> SnapshotRepairPlan:
    """Walk the snapshots' trees and decide, for each damaged one, what its repaired copy
    leaves out. Snapshot files that cannot be read are carried into the plan as they are.
    The repository's index must be loaded.

    Raises:
        BackendError: storage failed (nothing is decided from a failure).
        FormatVersionError: a tree was written by a newer s3vault.
    """
    progress = progress or NullProgress()
    plan = SnapshotRepairPlan(checked=len(snapshots) + len(unreadable))
    plan.fixes.extend(SnapshotFix(id=sid, snapshot=None, problem=why) for sid, why in unreadable)
    blobs = Blobs(repo, read_data=read_data, workers=workers)
    trees = TreeRepairer(repo, blobs)
    progress.started("repair snapshots", total_files=len(snapshots))
    for sid, snap in snapshots:
        fix = trees.repair(snap.tree)
        progress.advanced(files=1, item=sid.short)
        if fix is None:
            continue
        found = SnapshotFix(id=sid, snapshot=snap)
        if fix.tree is None:
            found.problem = f"its root tree does not load: {fix.reason}"
        else:
            found.new_tree = fix.tree
            found.dropped = trees.dropped(snap.tree)
            found.totals = trees.totals(snap.tree)
        plan.fixes.append(found)
    progress.finished("repair snapshots")
    plan.new_trees = trees.new_trees
    return plan


@dataclass(slots=True)
class SnapshotFiles:
    """Every snapshot file, sorted into those that read and those that do not."""

    readable: list[tuple[ObjectId, SnapshotFile]] = field(default_factory=list)
    unreadable: list[tuple[ObjectId, str]] = field(default_factory=list)  # damaged: why
    newer: list[tuple[ObjectId, str]] = field(default_factory=list)  # a newer s3vault's


def _load_stored_snapshot(repo: Repository, sid: ObjectId) -> SnapshotFile:
    """A snapshot as the repository stores it (a good copy in the local cache of a file the
    repository holds damaged does not count)."""
    name = repo.name_of(ObjectKind.SNAPSHOTS, sid)
    sealed = repo.read_object(ObjectKind.SNAPSHOTS, sid)
    if storage_id(sealed) != sid:  # damaged on its way? read once more: an unreadable file is
        sealed = repo.read_object(ObjectKind.SNAPSHOTS, sid)  # removed, a good one must not be
    if storage_id(sealed) != sid:
        msg = f"{name}: content does not match its name (damaged or replaced)"
        raise IntegrityError(msg)
    return SnapshotFile.decode(repo.sealer.open_file(SealedKind.SNAPSHOT, sealed))


def read_snapshot_files(repo: Repository) -> SnapshotFiles:
    """Load every snapshot file. One that does not match its name, fails authentication or
    does not parse is unreadable (nothing can be rewritten from it); one written by a newer
    s3vault is set apart, never called damaged.

    Raises:
        BackendError: storage failed.
    """
    files = SnapshotFiles()
    for sid in repo.list_files(ObjectKind.SNAPSHOTS):
        try:
            files.readable.append((sid, _load_stored_snapshot(repo, sid)))
        except ObjectNotFoundError:
            continue  # forgotten since the listing
        except FormatVersionError as exc:
            files.newer.append((sid, str(exc)))
        except (IntegrityError, ValueError, TypeError) as exc:
            files.unreadable.append((sid, str(exc)))
    files.readable.sort(key=lambda item: (item[1].time, item[0]))
    return files
