"""A put-only host's state in the store and its view of the repository for the archiver
(design.md §6a, "The host's own state").

``state/<host tag>/<seq>-<state id>``: the host tag is its audit host tag (the payload holds
it), seq counts the host's states 1, 2, 3... (10 digits, so a LIST sorts them), the id is the
storage id of the sealed bytes. The newest state that opens with this key's writer secret is
the parent of the next backup; a state of another key file of the same host (a re-installed
host) does not open and is passed over. A state is sealed to its place (host tag and seq:
repository/hoststate.py), so one renamed to a higher seq does not open. A state is not
trusted, and the next backup reads every file again, when its snapshot is gone (forgotten) or
the object under the snapshot's name is not that snapshot, or when it is older than the
highest seq this host's cache remembers (repository/putcache.py: a store rolled back, or its
newer states deleted).

``PutArchiveView`` is what the archiver sees (archiver/pipeline.py ``ArchiveRepository``):
the settings from the config's view, the chunker seed and id key from the payload, an index
of the blob ids the state's trees name (the host's own blobs, which its snapshot keeps
stored) to which ``endorsed_blobs`` adds the view digests of what full keys' endorsed views
name (repository/putdedup.py: never an id), and the parent's trees from the state. It reads
nothing else from the store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from s3vault.crypto.hashing import blob_id, storage_id
from s3vault.errors import FormatVersionError, IntegrityError, ObjectNotFoundError, UsageError
from s3vault.format.auditfile import AuditRecord
from s3vault.format.configfile import ConfigFile
from s3vault.format.dedupview import DedupView
from s3vault.format.envelope import SealedKind
from s3vault.format.hoststatefile import HostStateFile, OwnPack
from s3vault.format.layout import ObjectKind, within_layout
from s3vault.format.packfile import BlobType
from s3vault.format.tree import Tree
from s3vault.ids import ObjectId
from s3vault.repository import hoststate, views
from s3vault.repository.cache import FileCache
from s3vault.repository.index import BlobIndex
from s3vault.repository.putcache import SEQ_DIGITS, HostCache
from s3vault.repository.putdedup import PutDedupIndex
from s3vault.repository.putrepo import PutOnlyRepository

PREFIX = ObjectKind.STATE.value + "/"
_OWN_PACK = ObjectId(b"\0" * 32)  # the index's stand-in for "stored by this host earlier"


def host_cache(put: PutOnlyRepository) -> HostCache:
    """The host's cache of views and of its state (repository/putcache.py); none without a
    cache directory."""
    return HostCache(FileCache(put.cache_dir, put.id) if put.cache_dir is not None else None)


def _prefix(put: PutOnlyRepository) -> str:
    return f"{PREFIX}{put.payload.audit_tag}/"


ROLLED_BACK = (
    "the newest state of this host in the store (seq {seq}) is older than the newest it stored "
    "or used (seq {mark}): the store was rolled back or its newer states deleted; no state is "
    "trusted, every file is read and stored again"
)


def state_seq(name: str) -> int | None:
    """The seq of a state's name ``.../<seq>-<id>``: 1 to ``SEQ_DIGITS`` ASCII digits, not 0;
    None for any other name (not a state: a full key's prune deletes it after the grace)."""
    seq, dash, _ = name.rsplit("/", 1)[-1].partition("-")
    if not (dash and 0 < len(seq) <= SEQ_DIGITS and seq.isascii() and seq.isdigit()):
        return None
    return int(seq) or None


def save_state(put: PutOnlyRepository, state: HostStateFile, *, after: int | None = None) -> str:
    """Store the host's state after the newest of its chain, sealed to its place; returns its
    name. The newest of its chain: ``after`` (the seq of the newest state of this key that
    ``load_state_seq`` opened), else the newest listed state that opens with this key, and at
    least the cache's high-water mark. A name that does not open (garbage, another key file's
    state) is not counted: planted names cannot push the seq past ``SEQ_DIGITS``.

    Raises:
        BackendError: the store refused it (the backup's snapshot stands; the next backup
            then reads every file again).
        IntegrityError: the seq would need more than ``SEQ_DIGITS`` digits.
    """
    prefix = _prefix(put)
    cache = host_cache(put)
    if after is None:
        after = _newest_opening(put, cache)
    seq = max(after, cache.high_water(put.keyfile.id), 0) + 1
    if seq >= 10**SEQ_DIGITS:  # the mark left no seq: one this host never wrote (forged)
        seq = after + 1
    if seq >= 10**SEQ_DIGITS:
        msg = f"this host's states are numbered up to {10**SEQ_DIGITS - 1}: no seq is left"
        raise IntegrityError(msg)
    sealed = hoststate.seal_state(
        put.payload.writer,
        put.id,
        put.keyfile.id,
        state.encode(),
        host_tag=put.payload.audit_tag,
        seq=seq,
    )
    name = f"{prefix}{seq:010d}-{storage_id(sealed).hex()}"
    put.backend.put(name, sealed)
    cache.keep_state(storage_id(sealed), sealed)
    cache.raise_high_water(put.keyfile.id, seq, lower=True)
    return name


def load_state(
    put: PutOnlyRepository, *, on_skip: Callable[[str, str], None] | None = None
) -> HostStateFile | None:
    """The parent for the next backup: the newest state (by its seq, which its sealing binds)
    that opens with this key's writer secret, if it is at least as new as the cache's
    high-water mark and the object under its snapshot's name is that snapshot (its bytes hash
    to the id); None otherwise (every file is read again, no blob of a state trusted).
    """
    return load_state_seq(put, on_skip=on_skip)[0]


def load_state_seq(
    put: PutOnlyRepository, *, on_skip: Callable[[str, str], None] | None = None
) -> tuple[HostStateFile | None, int]:
    """``load_state``, and the seq of the newest state that opened with this key (trusted or
    not; 0 if none did): what ``save_state(after=...)`` numbers past."""
    cache = host_cache(put)
    mark = cache.high_water(put.keyfile.id)
    listed = _listed(put)
    cache.keep_passed(name for _, name in listed)
    opened = 0  # the newest seq that opened, decoded or not
    for seq, name in listed:
        if cache.passed_over(name):
            continue  # not this key's: told when first found
        try:
            sealed = cache.state(put.backend, name)
        except ObjectNotFoundError:
            continue
        try:
            plain = _unseal(put, sealed, seq)
        except IntegrityError as exc:
            _skip(on_skip, name, str(exc))
            cache.pass_over(name, sealed)
            continue
        opened = max(opened, seq)
        try:
            state = HostStateFile.decode(plain)
        except (IntegrityError, FormatVersionError) as exc:
            _skip(on_skip, name, str(exc))
            continue
        if seq < mark:
            _skip(on_skip, name, ROLLED_BACK.format(seq=seq, mark=mark))
            return None, opened
        problem = _snapshot_problem(put, state)
        if problem is not None:
            _skip(on_skip, name, f"{problem}: files are read again")
            return None, opened
        cache.keep_state(name, sealed)
        cache.raise_high_water(put.keyfile.id, seq)
        return state, opened
    if mark:
        why = f"no state of this host opens, though it stored or used seq {mark}"
        _skip(on_skip, _prefix(put), f"{why}: every file is read and stored again")
    return None, opened


def _listed(put: PutOnlyRepository) -> list[tuple[int, str]]:
    """The state names under this host's tag, newest seq first (other names left out)."""
    return sorted(
        ((seq, i.name) for i in put.backend.list(_prefix(put)) if (seq := state_seq(i.name))),
        reverse=True,
    )


def _unseal(put: PutOnlyRepository, sealed: bytes, seq: int) -> bytes:
    """The plaintext of state ``sealed`` found at ``seq`` under this host's tag.

    Raises:
        IntegrityError: not this key's state for this place, or damaged.
    """
    return hoststate.open_state(
        put.payload.writer,
        put.id,
        put.keyfile.id,
        sealed,
        host_tag=put.payload.audit_tag,
        seq=seq,
    )


def _newest_opening(put: PutOnlyRepository, cache: HostCache) -> int:
    """The seq of the newest listed state that opens with this key; 0 if none does."""
    for seq, name in _listed(put):
        if cache.passed_over(name):
            continue
        try:
            _unseal(put, cache.state(put.backend, name), seq)
        except (ObjectNotFoundError, IntegrityError):
            continue
        return seq
    return 0


def _skip(on_skip: Callable[[str, str], None] | None, name: str, reason: str) -> None:
    if on_skip is not None:
        on_skip(name, reason)


def _snapshot_problem(put: PutOnlyRepository, state: HostStateFile) -> str | None:
    """Why the state's snapshot cannot keep its blobs alive, or None: it must be listed, and
    the object under its name must be that snapshot (its id is the storage id of its sealed
    bytes), not anything put under a forgotten snapshot's name."""
    wanted = state.snapshot.hex()
    names = [
        i.name
        for i in put.backend.list(ObjectKind.SNAPSHOTS.value + "/")
        if i.name.rsplit("/", 1)[-1].partition(".")[0] == wanted
    ]
    if not names:
        return f"its snapshot {state.snapshot.short} is gone"
    for name in names:
        try:
            if storage_id(put.backend.get(name)) == state.snapshot:
                return None
        except ObjectNotFoundError:
            continue
    return f"the object under its snapshot's name is not snapshot {state.snapshot.short}"


@dataclass(frozen=True, slots=True)
class _Keys:
    chunker_seed: int
    id_key: bytes


@dataclass(frozen=True, slots=True)
class _KeySource:
    current: _Keys


def endorsed_blobs(
    put: PutOnlyRepository,
    index: PutDedupIndex,
    on_skip: Callable[[str, str], None] | None = None,
    packs: Mapping[str, int] | None = None,
) -> int:
    """Add to ``index`` the blobs (their view digests) that endorsed dedup views (signed by a
    full key for the index file they are stored under, design.md §6a) place in packs the store
    still lists, for live index files only; returns how many views were used. A view that does
    not open, is not signed with σ for its name's index file or is of another version is passed
    over (its blobs are stored again), never trusted; views skipped for their version are
    reported once per reason, not once each. ``packs``: the store's packs (``listed_packs``),
    listed now if not given.
    """
    listed = put.backend.list(ObjectKind.INDEX.value + "/")
    listed_ids = {
        i.name.rsplit("/", 1)[-1] for i in listed if within_layout(ObjectKind.INDEX, i.name)
    }
    cache = host_cache(put)
    if packs is None:
        packs = listed_packs(put)
    view_keys = {e: keys.view for e, keys in put.payload.epochs.items()}
    used = 0
    versions: Counter[str] = Counter()  # views of another version, by reason
    for info in put.backend.list(ObjectKind.VIEWS.value + "/"):
        if not within_layout(ObjectKind.VIEWS, info.name):
            continue  # views/sub/…: not ours
        index_id = info.name.rsplit("/", 1)[-1]
        oid = _index_oid(index_id)
        if index_id not in listed_ids or oid is None:
            continue  # its index file was superseded and removed
        try:
            view = _open_view(put, cache, info.name, oid, view_keys)
        except ObjectNotFoundError:
            continue
        except FormatVersionError as exc:
            versions[str(exc)] += 1
            continue
        except IntegrityError as exc:
            if on_skip is not None:
                on_skip(info.name, str(exc))
            continue
        for pack in view.packs:
            if pack.id.hex() in packs:  # a pack prune deleted is no copy
                index.add_view_pack(pack)
        used += 1
    if on_skip is not None:
        for reason, count in versions.items():
            on_skip(ObjectKind.VIEWS.value + "/", f"{count} view(s): {reason}")
    cache.keep_views(o for i in listed_ids if (o := _index_oid(i)) is not None)
    return used


def _open_view(
    put: PutOnlyRepository, cache: HostCache, name: str, oid: ObjectId, keys: dict[int, bytes]
) -> DedupView:
    """The endorsed view of index file ``oid``, from the cache or the store; a cached copy
    that does not open is dropped and the store's opened instead.

    Raises:
        ObjectNotFoundError, IntegrityError, FormatVersionError: as ``views.open_endorsed``.
    """

    def opened(sealed: bytes) -> DedupView:
        return views.open_endorsed(
            sealed,
            repo_id=put.id,
            view_keys=keys,
            signing_public=put.signing_public,
            index_id=oid,
        )

    sealed, cached = cache.view(put.backend, name, oid)
    if cached:
        try:
            return opened(sealed)
        except (IntegrityError, FormatVersionError):
            cache.drop_view(oid)  # damaged on this disk: the store's copy instead
            sealed, _ = cache.view(put.backend, name, oid)
    try:
        return opened(sealed)
    except (IntegrityError, FormatVersionError):
        cache.drop_view(oid)
        raise


def _index_oid(text: str) -> ObjectId | None:
    try:
        return ObjectId.from_hex(text)
    except UsageError:
        return None


def listed_packs(put: PutOnlyRepository) -> dict[str, int]:
    """Every pack the store lists: id hex → size (one LIST of ``data/`` and ``tree/``)."""
    return {
        i.name.rsplit("/", 1)[-1]: i.size
        for kind in (ObjectKind.DATA, ObjectKind.TREE)
        for i in put.backend.list(kind.value + "/")
    }


def lost_packs(state: HostStateFile, listed: Mapping[str, int]) -> dict[ObjectId, str]:
    """The host's own packs its state names that the store does not list with the size the
    state gives: pack id → what is wrong (none for a state that names no packs)."""
    lost: dict[ObjectId, str] = {}
    for pack, own in (state.packs or {}).items():
        size = listed.get(pack.hex())
        if size is None:
            lost[pack] = "is missing"
        elif size != own.size:
            lost[pack] = f"has {size} bytes, its state says {own.size}"
    return lost


LOST_PACK = (
    "pack {pack} of this host's last backup {why} ({blobs} blob(s) of its state): they are "
    "stored again; snapshots that name them stay damaged until a full key's `s3vault verify` "
    "and `repair` deal with them"
)


class PutArchiveView:
    """The repository as the archiver sees it on a put-only host (see the module docstring).

    With ``listed`` (the store's packs, ``listed_packs``), a blob of the state counts as the
    host's own only while a pack the state names for it is listed with the size the state
    gives; the others are stored again (``on_lost`` is told each lost pack). A state that
    names no packs (written before they were recorded) is trusted whole, as it was."""

    def __init__(
        self,
        put: PutOnlyRepository,
        state: HostStateFile | None,
        listed: Mapping[str, int] | None = None,
        on_lost: Callable[[str, str], None] | None = None,
    ) -> None:
        self.config: ConfigFile = put.config
        self.sealer = _KeySource(_Keys(put.payload.chunker_seed, put.payload.id_key))
        self.index = PutDedupIndex(put.id)
        self._trees = dict(state.trees) if state is not None else {}
        if state is None:
            return
        if state.packs is None:
            self._trust_whole()
            return
        lost = lost_packs(state, listed) if listed is not None else {}
        for pack, own in state.packs.items():
            if pack in lost:
                why = LOST_PACK.format(pack=pack.short, why=lost[pack], blobs=len(own.blobs))
                _skip(on_lost, f"{PREFIX}{put.payload.audit_tag}/", why)
                continue
            self.index.add_pack(pack, own.size, [(t, bytes(b), 0, 0, 0) for t, b in own.blobs])

    def _trust_whole(self) -> None:
        """A state that names no packs: every blob its trees name counts as the host's own."""
        entries: list[tuple[BlobType, bytes, int, int, int]] = []
        for tid, blob in self._trees.items():
            entries.append((BlobType.TREE, bytes(tid), 0, 0, 0))
            try:
                nodes = Tree.decode(blob).nodes
            except (IntegrityError, FormatVersionError):
                continue  # a tree it cannot parse is no parent: its files are read again
            entries += [(BlobType.DATA, bytes(c), 0, 0, 0) for n in nodes for c in n.content]
        if entries:
            self.index.add_pack(_OWN_PACK, 0, entries)

    def load_tree(self, tid: ObjectId) -> Tree:
        """A tree of the parent snapshot, from the state.

        Raises:
            ObjectNotFoundError: the state does not hold it.
            IntegrityError: it does not parse.
        """
        return Tree.decode(self.load_blob(BlobType.TREE, tid))

    def load_blob(self, btype: BlobType, bid: ObjectId) -> bytes:
        """A tree blob of the parent snapshot, from the state (data blobs: never).

        Raises:
            ObjectNotFoundError: not a tree the state holds.
        """
        blob = self._trees.get(bid) if btype is BlobType.TREE else None
        if blob is None:
            msg = f"{btype.value} blob {bid.short} is not in this host's state"
            raise ObjectNotFoundError(msg)
        return blob


def snapshot_trees(root: ObjectId, known: dict[ObjectId, bytes]) -> dict[ObjectId, bytes]:
    """Every tree blob under ``root`` (the new snapshot's), from ``known`` (the trees the
    backup stored or took over from the parent's state).

    Raises:
        IntegrityError: a tree of the snapshot is in neither.
    """
    found: dict[ObjectId, bytes] = {}
    stack = [root]
    while stack:
        tid = stack.pop()
        if tid in found:
            continue
        blob = known.get(tid)
        if blob is None:
            msg = f"tree {tid.short} of the new snapshot is missing from the host's state"
            raise IntegrityError(msg)
        found[tid] = blob
        stack += [n.subtree for n in Tree.decode(blob).nodes if n.subtree is not None]
    return found


def own_packs(index: BlobIndex, blobs: Iterable[tuple[BlobType, bytes]]) -> dict[ObjectId, OwnPack]:
    """The record a new state keeps of the host's own packs: for each of the snapshot's
    ``blobs`` (``putlocks.state_blobs``), the first of the host's own packs in ``index`` (the
    run's view: packs it stored, and the packs of its state it still trusts) that holds it. A
    blob only an endorsed view's pack holds, or only the stand-in of a state that named no
    packs, is named by none (the next run stores it again unless a view names it)."""
    sizes = {p: size for p, size in index.packs() if p != _OWN_PACK}
    held: dict[ObjectId, list[tuple[BlobType, ObjectId]]] = {}
    for btype, bid in dict.fromkeys(blobs):
        pack = next(
            (loc.pack_id for loc in index.locations(btype, bid) if loc.pack_id in sizes), None
        )
        if pack is not None:
            held.setdefault(pack, []).append((btype, ObjectId(bid)))
    return {p: OwnPack(size=sizes[p], blobs=tuple(b)) for p, b in held.items()}


def append_audit(put: PutOnlyRepository, record: AuditRecord) -> str:
    """Add a record (``seq`` and ``prev`` filled in from the names a LIST of its host's
    prefix shows: the host cannot read the records) to the host's audit chain (design.md §8b),
    sealed as a version 2 envelope; returns its name. The host tag and the record id are
    what a full key computes (the payload's audit tag, K_id), so ``s3vault audit`` verifies
    the chain as any other.

    Raises:
        BackendError: the store refused it.
    """
    prefix = f"{ObjectKind.AUDIT.value}/{put.payload.audit_tag}/"
    end: tuple[int, ObjectId] | None = None
    for info in put.backend.list(prefix):
        seq, dash, hexid = info.name.rsplit("/", 1)[-1].partition("-")
        if dash and seq.isdigit() and (end is None or int(seq) > end[0]):
            try:
                end = (int(seq), ObjectId.from_hex(hexid))
            except UsageError:
                continue
    full = replace(record, seq=end[0] + 1 if end else 1, prev=end[1] if end else None)
    plain = full.encode()
    name = f"{prefix}{full.seq:010d}-{blob_id(put.payload.id_key, plain).hex()}"
    put.backend.put(name, put.sealer().seal_file(SealedKind.AUDIT, plain))
    return name
