"""Repository: init/open, standalone files, the index, blobs and trees.

Reads follow the read order of design.md §11: snapshots are listed first, then index files, so
any snapshot seen has all its index files present.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from s3vault.backend.accounting import RequestCounts
from s3vault.backend.base import Backend, ObjectInfo
from s3vault.backend.dryrun import DryRunBackend
from s3vault.backend.objectlock import LockingBackend
from s3vault.crypto.hashing import storage_id
from s3vault.crypto.keys import MasterKey
from s3vault.crypto.mac import same
from s3vault.errors import (
    BackendError,
    FormatVersionError,
    IntegrityError,
    NoSuchBucketError,
    NotARepositoryError,
    ObjectExistsError,
    ObjectNotFoundError,
    RepositoryNotFoundError,
    RevokedWriterError,
    S3VaultError,
    restated,
)
from s3vault.format import PUT_ONLY_FORMAT
from s3vault.format.configfile import ConfigFile, ConfigMarker, KeyEpoch
from s3vault.format.dedupview import DedupView
from s3vault.format.envelope import HEAD_READ, EnvelopeHeader, SealedKind
from s3vault.format.indexfile import IndexedPack, IndexFile
from s3vault.format.keyfile import KeyFile, KeyPayload
from s3vault.format.layout import (
    ObjectKind,
    object_name,
    parse_name,
    snapshot_name,
    within_layout,
)
from s3vault.format.packfile import BlobType
from s3vault.format.tree import Tree
from s3vault.ids import ObjectId
from s3vault.repository import configview, keyring, views
from s3vault.repository.cache import (
    CacheWrites,
    FileCache,
    IndexCache,
    TreePackCache,
    TreeReads,
)
from s3vault.repository.compactpack import (
    CompactIndexFile,
    CompactPack,
    SpillFile,
    compact_index_file,
)
from s3vault.repository.copies import PUT_COPIES_TRIED, copy_order
from s3vault.repository.index import BlobIndex, BlobLocation
from s3vault.repository.keyorder import KeyMemory, KeyOrder
from s3vault.repository.marks import Marks, load_marks
from s3vault.repository.names import SnapshotNames, hex_id, id_in_name
from s3vault.repository.sealer import Sealer
from s3vault.repository.senderdisputes import (
    Described,
    Settled,
    one_per_pack,
    record_in_index,
    tell,
)
from s3vault.repository.supersede import live, superseded
from s3vault.repository.writer import CPUS, BlobWriter, Delegation, WriterIndex, sealed_kind_for
from s3vault.repository.writerhost import (
    check_index_writer,
    check_revocation,
    check_snapshot_writer,
)

log = logging.getLogger(__name__)

TREE_CACHE_SIZE = 4096
LOAD_ROUNDS = 50
CONFIG_FIX = (
    " (every object depends on it: put back a copy from a replica, a bucket version or a "
    "backup of the repository, as docs/troubleshooting.md shows)"
)
# What a reader's index is made of: storing or removing one makes an index read before stale
_INDEXING = frozenset({ObjectKind.INDEX, ObjectKind.DELETIONS, ObjectKind.DATA, ObjectKind.TREE})
SHARDED_LISTING_ABOVE = 2000  # packs: list data/ and tree/ shard by shard, in parallel
LISTINGS = 8
LIST_PACKS_AFTER = 4  # disputed packs looked for by HEAD; more: one listing (senderdisputes)
CACHED = frozenset({ObjectKind.SNAPSHOTS, ObjectKind.DELETIONS, ObjectKind.DRILLS})  # immutable


def _nothing_of_a_repository(backend: Backend) -> None:
    """init's check that no repository's objects are there but key files (an init that did
    not finish): a repository whose config was lost had been initialised over, and the
    advice that followed (its snapshots cannot be read: forget them) deleted them (an attack
    pass, 2026-12-07). Nor another repository in one of its folders, at any depth (``keys/``
    of a new one held another's config and packs: they read as key files; one in
    ``state/web/`` lost its config to prune, which took it for a put-only host's garbage).

    Raises:
        S3VaultError: snapshots, index files or packs are there, or another repository.
    """
    others = (k for k in ObjectKind if k is not ObjectKind.CONFIG and k not in _A_REPOSITORYS)
    for kind in (*_A_REPOSITORYS, *others):
        listed = [info.name for info in backend.list(kind.value + "/")]
        nested = [name for name in listed if name.rsplit("/", 1)[-1] == "config"]
        if nested:
            msg = (
                f"{backend.location} holds {nested[0]}: another repository inside its folder "
                f"{kind.value}/ (or a file that is no s3vault repository's): a repository here "
                "would read those objects as its own (and its repairs and prune would delete "
                "them); init in an empty directory or prefix"
            )
            raise S3VaultError(msg)
        if kind is not ObjectKind.KEYS and kind not in _A_REPOSITORYS:
            continue
        foreign = [name for name in listed if id_in_name(kind, name) is None]
        if foreign and (kind is ObjectKind.KEYS or len(foreign) == len(listed)):
            msg = (  # a user's files (keys/id_rsa) were key files its verify said to remove
                f"{backend.location} holds objects that are no s3vault repository's (first: "
                f"{foreign[0]}): a repository here would take them for its own; init in an "
                "empty directory or prefix"
            )
            raise S3VaultError(msg)
        if listed and kind in _A_REPOSITORYS:
            msg = (
                f"{backend.location} holds a repository's {kind.value} but no config: init "
                "does not make a new repository over them (put the config back from a "
                "replica, a bucket version or a backup, as docs/troubleshooting.md shows; or "
                "init somewhere else)"
            )
            raise S3VaultError(msg)


# What only a repository's own run writes: found without a config, a repository lost it
_A_REPOSITORYS = (ObjectKind.SNAPSHOTS, ObjectKind.INDEX, ObjectKind.DATA, ObjectKind.TREE)


def _only_keys(backend: Backend) -> bool:
    """Nothing but key files at the location (an unfinished init: nothing to lose)."""
    return all(info.name.startswith(ObjectKind.KEYS.value + "/") for info in backend.list(""))


def _store_config(backend: Backend, marker: ConfigMarker, key_id: ObjectId) -> None:
    """The init's config, written after its key file ``key_id``: the repository exists.

    Raises:
        S3VaultError: it was not written (the key file taken back where it can be).
    """
    try:
        backend.put(object_name(ObjectKind.CONFIG), marker.encode())
    except ObjectExistsError:  # another init won the race: take this one's key file back
        with contextlib.suppress(S3VaultError):  # (Object Lock may keep it: it opens nothing)
            backend.delete(object_name(ObjectKind.KEYS, key_id))
        msg = (
            f"another init created a repository at {backend.location} at the same time: "
            "this one's key file was removed; open that repository with its password"
        )
        raise S3VaultError(msg) from None
    except S3VaultError as exc:  # a full disk, a refusal: no key file of no repository is left
        if _take_back_key_file(backend, key_id):
            raise
        name = object_name(ObjectKind.KEYS, key_id)
        msg = (
            f"{exc}; the key file {name} it wrote first could not be removed (it opens "
            "no repository: `s3vault init` run again once the store takes writes uses the "
            "place as it is)"
        )
        raise restated(exc, msg) from exc


def _take_back_key_file(backend: Backend, key_id: ObjectId) -> bool:
    """After an init's config write failed: its key file goes (a rerun kept it, listed as a
    key file of another repository), unless the config is there after all (a write whose
    answer was lost: the key file is then the only one that opens it) or cannot be told.
    False when the key file stayed though no config is there (the store refused the
    delete too): the caller says so."""
    try:
        backend.stat(object_name(ObjectKind.CONFIG))
    except ObjectNotFoundError:
        try:
            backend.delete(object_name(ObjectKind.KEYS, key_id))
        except S3VaultError:
            return False
    except S3VaultError:
        pass  # cannot be told: the key file stays, as it may be the one that opens it
    return True


@dataclass(frozen=True, slots=True, kw_only=True)
class RepositorySettings:
    """Choices made at init."""

    pack_size: int = 16 * 1024 * 1024
    compression_level: int = 3
    chunker_min: int = 512 * 1024
    chunker_avg: int = 1024 * 1024
    chunker_max: int = 8 * 1024 * 1024
    kdf_cost: str = "default"
    min_grace: int = 24 * 3600
    store: dict[str, Any] = field(default_factory=dict)  # the S3 capability probe's findings
    object_lock: dict[str, Any] = field(default_factory=dict)  # LockPolicy.to_dict()
    retention: dict[str, Any] = field(default_factory=dict)  # Policy as forget's default


@dataclass(frozen=True, slots=True, kw_only=True)
class StackState:
    """What an opened backend stack hands the repository it opens."""

    requests: RequestCounts | None = None  # the stack's live request counters
    object_lock: LockingBackend | None = None  # the store's Object Lock (used if configured)
    on_skip: Callable[[str, str], None] | None = None  # told of each damaged object passed over


@dataclass(slots=True)
class _Shared:
    """What every view of one opened repository shares: the config and the keys it makes live
    (``save_config`` swaps them, for every view at once), the local caches, the tree cache
    and the record of damaged objects passed over."""

    config: ConfigFile
    sealer: Sealer
    cache_writes: CacheWrites
    index_cache: IndexCache | None
    tree_packs: TreePackCache | None
    files: FileCache | None
    on_skip: Callable[[str, str], None] | None
    skipped: dict[str, str] = field(default_factory=dict)
    doubts: dict[str, int] = field(default_factory=dict)  # what a result may miss → exit code
    foreign: set[str] = field(default_factory=set)  # foreign object names said (once each)
    trees: OrderedDict[ObjectId, Tree] = field(default_factory=OrderedDict)
    trees_lock: threading.Lock = field(default_factory=threading.Lock)
    skip_lock: threading.Lock = field(default_factory=threading.Lock)
    tree_reads: TreeReads = field(default_factory=TreeReads)
    snapshot_names: SnapshotNames = field(default_factory=SnapshotNames)
    writer_hosts: dict[bytes, str | None] = field(default_factory=dict)  # put-only key -> host
    store_times: dict[str, float] = field(default_factory=dict)  # listed name -> store time
    revoked: set[str] = field(default_factory=set)  # names refused as stored after revocation
    unlisted: set[ObjectId] | None = None  # packs the index names, not listed (load_first_copy)
    # blobs whose every copy was in such a pack (forget_missing_packs): "its pack is missing",
    # not "not in the index", when a reader asks for one
    lost_with_packs: set[tuple[BlobType, ObjectId]] = field(default_factory=set)
    # index files, deletion records or packs this process stored or removed through any view
    # (``current``: a handle whose index was read before is stale)
    index_writes: int = 0

    @classmethod
    def build(
        cls,
        config: ConfigFile,
        sealer: Sealer,
        cache_dir: Path | None,
        on_skip: Callable[[str, str], None] | None,
    ) -> _Shared:
        writes = CacheWrites()  # .problem: why the cache could not be written
        return cls(
            config=config,
            sealer=sealer,
            cache_writes=writes,
            index_cache=(
                IndexCache(cache_dir, config.repo_id, sealer.current.cache_key, writes)
                if cache_dir
                else None
            ),
            tree_packs=TreePackCache(cache_dir, config.repo_id, writes) if cache_dir else None,
            files=FileCache(cache_dir, config.repo_id, writes) if cache_dir else None,
            on_skip=on_skip,
        )


RESTIC_KEYS_READ = 16


def _is_restic_key(backend: Backend, name: str) -> bool:
    """A restic key file: plain JSON naming its KDF (scrypt) beside the sealed key; s3vault's
    key files are sealed records. Read only when the config is no s3vault config."""
    try:
        obj = json.loads(backend.get(name))
    except (S3VaultError, ValueError):
        return False
    return isinstance(obj, dict) and obj.get("kdf") == "scrypt" and "data" in obj


class Repository:
    """An open, unlocked repository. Immutable: every attribute is set when it is built
    (``open``, ``create``, or a view of another handle: ``with_index``, ``dry_run``), and
    assigning one raises ``AttributeError``. The repository's config is the one thing that
    changes under a handle (``save_config``, under the maintenance lease), for every view.

    Only ``s3vault.repository`` touches ``backend``: the other layers list, read, write and
    delete objects through the methods below, which name objects by kind and id.
    """

    __slots__ = (
        "_shared",
        "backend",
        "cache_dir",
        "index",
        "key_id",
        "object_lock",
        "requests",
        "store_files",
    )

    backend: Backend
    cache_dir: Path | None
    index: BlobIndex  # the loaded index (empty until a view with ``read_index()`` is made)
    key_id: ObjectId
    requests: RequestCounts  # the stack's live request counters
    object_lock: LockingBackend | None  # Object Lock, when the config asks it
    store_files: bool  # standalone files from the store, never the local cache (verify's view)
    _shared: _Shared

    def __init__(
        self,
        *,
        backend: Backend,
        config: ConfigFile,
        sealer: Sealer,
        key_id: ObjectId,
        cache_dir: Path | None,
        requests: RequestCounts | None = None,
        object_lock: LockingBackend | None = None,
        on_skip: Callable[[str, str], None] | None = None,
    ) -> None:
        self._build(
            backend=backend,
            cache_dir=cache_dir,
            index=BlobIndex(),
            key_id=key_id,
            requests=requests or RequestCounts(),
            object_lock=object_lock if config.object_lock else None,
            shared=_Shared.build(config, sealer, cache_dir, on_skip),
        )

    def _build(
        self,
        *,
        backend: Backend,
        cache_dir: Path | None,
        index: BlobIndex,
        key_id: ObjectId,
        requests: RequestCounts,
        object_lock: LockingBackend | None,
        shared: _Shared,
        store_files: bool = False,
    ) -> None:
        """Set every attribute, once (the only writer besides ``object.__setattr__``)."""
        setattr_ = object.__setattr__
        setattr_(self, "store_files", store_files)
        setattr_(self, "backend", backend)
        setattr_(self, "cache_dir", cache_dir)
        setattr_(self, "index", index)
        setattr_(self, "key_id", key_id)
        setattr_(self, "requests", requests)
        setattr_(self, "object_lock", object_lock)
        setattr_(self, "_shared", shared)

    def __setattr__(self, name: str, value: object) -> None:
        msg = f"Repository is immutable: {name} cannot be assigned (make a view: with_index, ...)"
        raise AttributeError(msg)

    def __delattr__(self, name: str) -> None:
        msg = f"Repository is immutable: {name} cannot be deleted"
        raise AttributeError(msg)

    # Views -----------------------------------------------------------------------------------

    def with_index(self, index: BlobIndex) -> Repository:
        """The same repository read through another index (everything else is shared)."""
        return self._view(index, store_files=self.store_files)

    def current(self, *, ask_the_store: bool = False) -> Repository:
        """This handle, or a view through a freshly read index when this process stored or
        removed index files, deletion records or packs (through any view of this repository)
        since this handle's index was read. A library caller that backs up, prunes or copies
        and then reads through the handle it opened before sees what it wrote: it saw its
        index of before ("tree blob … is not in the index", a drill recorded as failed: an
        attack pass, 2026-12-07). Every read operation starts with it.

        ``ask_the_store``: also when the store's index files are not those the index was
        read from (one listing): another process's backup or prune (a drill through a handle
        opened before a prune elsewhere read packs it had deleted, and stored a failed
        verdict). Restore, restore-test, stats and cat ask; the light reads call
        ``covering`` instead."""
        index = self.index
        if index.generation is None:
            return self
        if index.generation < self._shared.index_writes:
            return self.with_index(self.read_index())
        if ask_the_store and set(self.list_files(ObjectKind.INDEX)) != index.files:
            return self.with_index(self.read_index())
        return self

    def covering(self, *trees: ObjectId) -> Repository:
        """This handle, or a view through a freshly read index when its index (one read from
        the store) lacks a snapshot's root tree: a snapshot another process stored since (a
        cron backup beside a long-lived library handle said "tree blob … is not in the
        index" and stored a failed drill: an attack pass, 2026-12-07). Read operations call
        it with the trees of the snapshots they chose."""
        index = self.index
        if index.generation is None or all(index.has(BlobType.TREE, t) for t in trees):
            return self
        return self.with_index(self.read_index())

    def reading_the_store(self) -> Repository:
        """The same repository with its standalone files (snapshots, deletion records, drill
        records) read from the store, never from the local cache: what ``verify`` checks is
        the store's copy (a cached copy would hide damage the store holds)."""
        return self._view(self.index, store_files=True)

    def _view(self, index: BlobIndex, *, store_files: bool) -> Repository:
        view = object.__new__(Repository)
        view._build(
            backend=self.backend,
            cache_dir=self.cache_dir,
            index=index,
            key_id=self.key_id,
            requests=self.requests,
            object_lock=self.object_lock,
            shared=self._shared,
            store_files=store_files,
        )
        return view

    def dry_run(self) -> Repository:
        """A view that reads from the store and writes nowhere (``DryRunBackend``): no cache,
        its own request counters (a dry run sends no writes), this handle's index."""
        view = object.__new__(Repository)
        view._build(
            backend=DryRunBackend(self.backend),
            cache_dir=None,
            index=self.index,
            key_id=self.key_id,
            requests=RequestCounts(),
            object_lock=None,
            shared=_Shared.build(self.config, self.sealer, None, None),
        )
        return view

    # State -----------------------------------------------------------------------------------

    @property
    def config(self) -> ConfigFile:
        """The repository's config (as this process last read or wrote it)."""
        return self._shared.config

    @property
    def sealer(self) -> Sealer:
        """Seals with the config's current key epoch; opens every live epoch."""
        return self._shared.sealer

    @property
    def cache_writes(self) -> CacheWrites:
        """``.problem``: why the local cache could not be written (None: it could)."""
        return self._shared.cache_writes

    @property
    def tree_reads(self) -> TreeReads:
        """Which tree packs this repository (every view of it) read from the store, not from
        the local tree-pack cache: what a read-back may count as proven (ledger.covered_by)."""
        return self._shared.tree_reads

    @property
    def skipped(self) -> dict[str, str]:
        """Damaged objects readers passed over: name → reason."""
        return self._shared.skipped

    @property
    def id(self) -> ObjectId:
        """The repository id."""
        return self.config.repo_id

    @property
    def location(self) -> str:
        """Where the repository is (the store's location, for messages)."""
        return self.backend.location

    @property
    def remote(self) -> bool:
        """Whether the store is remote (reads are worth grouping into ranges)."""
        return self.backend.remote

    @property
    def revoked_objects(self) -> frozenset[str]:
        """Names of the objects refused so far as stored by a removed put-only key after its
        removal (design.md §6a): known untrusted, not damage whose needs are unknown."""
        return frozenset(self._shared.revoked)

    def server_time(self) -> float:
        """The store's clock (grace periods and locks are judged by it)."""
        return self.backend.server_time()

    @property
    def doubts(self) -> dict[str, int]:
        """What an operation's result may have wrong for the objects it passed over (e.g.
        ``latest`` taken among the snapshot files that open), each with the exit code it
        means: the result stands, said, and the command does not exit 0."""
        return self._shared.doubts

    def doubt(self, what: str, code: int) -> None:
        """Record that the result may be wrong for the objects passed over: ``what`` says how
        (once), ``code`` is the exit code it means (``doubts``)."""
        with self._shared.skip_lock:
            self._shared.doubts.setdefault(what, code)

    def skip(self, name: str, reason: str) -> None:
        """Record a damaged object that a reader passed over (a snapshot file that does not
        open, an index file that fails its check), so that the operation goes on without it and
        the caller can say exactly what was skipped. Each object is told once."""
        shared = self._shared
        with shared.skip_lock:
            if name in shared.skipped:
                return
            shared.skipped[name] = reason
        if shared.on_skip is not None:
            shared.on_skip(name, reason)

    # Creating and opening ----------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        backend: Backend,
        password: bytes,
        settings: RepositorySettings,
        *,
        created: str,
        hostname: str = "",
        username: str = "",
        cache_dir: Path | None = None,
        requests: RequestCounts | None = None,
    ) -> Repository:
        """Initialise a new repository: key file first, config last (config = "it exists").
        ``requests``: the stack's counters (init's audit record reports them).

        Raises:
            S3VaultError: a repository (or something else) already exists there.
        """
        try:
            backend.stat(object_name(ObjectKind.CONFIG))
        except ObjectNotFoundError:
            pass
        else:
            msg = f"a repository already exists at {backend.location}"
            raise S3VaultError(msg)
        _nothing_of_a_repository(backend)
        repo_id = ObjectId(os.urandom(32))
        master = MasterKey.generate(repo_id, 1, os.urandom(32))
        payload = KeyPayload(identity=master.identity, master_keys={1: master.secret})
        keyfile = keyring.wrap_key(
            repo_id=repo_id,
            payload=payload,
            password=password,
            kdf_cost=settings.kdf_cost,
            hostname=hostname,
            username=username,
            created=created,
        )
        keyring.store_key(backend, keyfile, lambda k: keyring.unwrap_key(k, password))
        config = ConfigFile(
            repo_id=repo_id,
            chunker_min=settings.chunker_min,
            chunker_avg=settings.chunker_avg,
            chunker_max=settings.chunker_max,
            pack_size=settings.pack_size,
            compression_level=settings.compression_level,
            min_grace=settings.min_grace,
            store=settings.store,
            object_lock=settings.object_lock,
            retention=settings.retention,
            current_epoch=1,
            epochs=(KeyEpoch(epoch=1, check=master.check_value),),
            created=created,
        )
        sealer = Sealer({master.epoch: master}, master.epoch)
        marker = ConfigMarker(
            version=config.version,
            repo_id=repo_id,
            sealed=sealer.seal_file(SealedKind.CONFIG, config.encode()),
        )
        _store_config(backend, marker, keyfile.id)
        return cls(
            backend=backend,
            config=config,
            sealer=sealer,
            key_id=keyfile.id,
            cache_dir=cache_dir,
            requests=requests,
        )

    @classmethod
    def read_marker(cls, backend: Backend) -> ConfigMarker:
        """The plaintext config marker.

        Raises:
            RepositoryNotFoundError: nothing at the location.
            NotARepositoryError: something there, but no s3vault config.
        """
        try:
            raw = backend.get(object_name(ObjectKind.CONFIG))
        except ObjectNotFoundError:
            if any(True for _ in backend.list(ObjectKind.KEYS.value + "/")):
                if _only_keys(backend):  # init writes its key file first, then the config
                    msg = (
                        f"the repository at {backend.location} has key files but no config "
                        "and nothing else: an `s3vault init` that did not finish; run "
                        "`s3vault init` again"
                    )
                    raise RepositoryNotFoundError(msg) from None
                msg = f"the config object of the repository at {backend.location} is missing"
                msg += CONFIG_FIX
                raise IntegrityError(msg) from None
            if any(True for _ in backend.list("")):
                msg = f"{backend.location} is not an s3vault repository (no config object)"
                raise NotARepositoryError(msg) from None
            msg = f"no repository at {backend.location} (run 's3vault init' to create one)"
            raise RepositoryNotFoundError(msg) from None
        except NoSuchBucketError:
            msg = (
                f"no repository at {backend.location}: its bucket does not exist (create it, "
                "e.g. with 's3vault setup-bucket', then run 's3vault init')"
            )
            raise RepositoryNotFoundError(msg) from None
        try:
            return ConfigMarker.decode(raw)
        except NotARepositoryError:
            keys = [info.name for info in backend.list(ObjectKind.KEYS.value + "/")]
            # restic's only when every key file is (a few read): one planted beside s3vault's
            # key files does not turn a damaged config into "not s3vault" (exit 13, not 10)
            if keys and all(_is_restic_key(backend, name) for name in keys[:RESTIC_KEYS_READ]):
                msg = (
                    f"{backend.location} is a restic repository, not an s3vault one: s3vault "
                    "reads its own format only (docs/migration.md, 'From restic', moves its "
                    "snapshots)"
                )
                raise NotARepositoryError(msg) from None
            if keys:
                msg = f"the config object of the repository at {backend.location} is damaged"
                msg += CONFIG_FIX
                raise IntegrityError(msg) from None
            raise
        except IntegrityError as exc:  # cut off (a write that never finished), or garbled
            msg = f"the config object of the repository at {backend.location} is damaged"
            if str(exc) != "the config object is damaged":
                msg += f" ({exc})"
            raise IntegrityError(msg + CONFIG_FIX) from None

    @classmethod
    def open(
        cls,
        backend: Backend,
        password: bytes,
        *,
        kms: keyring.KeyWrapService | None = None,
        cache_dir: Path | None = None,
        on_key_skip: Callable[[str, str], None] | None = None,
        on_marker: Callable[[ConfigMarker], None] | None = None,
        stack: StackState | None = None,
        key_order: KeyOrder | None = None,
    ) -> Repository:
        """Open and unlock a repository with a password, or (an empty password) through a KMS
        key file that ``kms`` decrypts. ``on_marker`` sees the plaintext config marker before
        any key is tried (and may raise to stop). ``stack``: what the opened backend stack
        gives the repository (ops/session.py ``open_repository`` builds it). ``key_order``:
        which key files the password is tried on first; without a hint in it, the key that
        opened the repository last on this host (repository/keyorder.py).

        Raises:
            RepositoryNotFoundError, NotARepositoryError: nothing usable at the location.
            WrongPasswordError, NoKeyError: the password (or KMS) opens no key file.
            IntegrityError: the config does not authenticate under the key.
        """
        marker = cls.read_marker(backend)
        if on_marker is not None:
            on_marker(marker)
        if password or kms is None:
            memory = KeyMemory(cache_dir, marker.repo_id)
            keyfile, payload = keyring.find_key(
                backend,
                password,
                repo_id=marker.repo_id,
                on_skip=on_key_skip,
                order=memory.order(key_order),
            )
            memory.opened(keyfile.id)
        else:
            keyfile, payload = keyring.find_kms_key(
                backend, kms, repo_id=marker.repo_id, on_skip=on_key_skip
            )
        return cls.unlock(backend, marker, keyfile, payload, cache_dir=cache_dir, stack=stack)

    @classmethod
    def unlock(
        cls,
        backend: Backend,
        marker: ConfigMarker,
        keyfile: KeyFile,
        payload: KeyPayload,
        *,
        cache_dir: Path | None,
        stack: StackState | None = None,
    ) -> Repository:
        """Open the repository with key material already unwrapped.

        Raises:
            IntegrityError: the key belongs to another repository or the config is damaged.
        """
        if keyfile.repo_id != marker.repo_id:
            msg = "the key file belongs to a different repository"
            raise IntegrityError(msg)
        keys = {
            e: MasterKey(secret, marker.repo_id, e, payload.identity)
            for e, secret in payload.master_keys.items()
        }
        sealed_under = EnvelopeHeader.decode(marker.sealed).epoch
        if sealed_under not in keys:
            msg = (
                f"key file {keyfile.id.short} lacks the master key of epoch {sealed_under}, "
                "which the config is sealed under: the master key was rotated and this key "
                "file did not receive the new one (removed before the rotation, or written "
                "during it: open with another key and run `s3vault key sync`)"
            )
            raise IntegrityError(msg)
        try:
            config = ConfigFile.decode(
                Sealer(keys, max(keys)).open_file(SealedKind.CONFIG, marker.sealed)
            )
        except IntegrityError as exc:
            msg = f"the config object of the repository at {backend.location} is damaged: {exc}"
            msg += CONFIG_FIX
            raise IntegrityError(msg) from None
        if config.repo_id != marker.repo_id or config.version != marker.version:
            msg = "the config's repository id or format version does not match its marker"
            raise IntegrityError(msg)
        for epoch in config.epochs:
            key = keys.get(epoch.epoch)
            if key is None:
                msg = (
                    f"key file {keyfile.id.short} lacks the master key of epoch {epoch.epoch} "
                    "(a master-key rotation did not reach it: open the repository with another "
                    "key and run `s3vault key sync`)"
                )
                raise IntegrityError(msg)
            if not same(key.check_value, epoch.check):
                msg = (
                    f"key file {keyfile.id.short} holds a wrong master key for epoch {epoch.epoch}"
                )
                raise IntegrityError(msg)
        live = {e.epoch: keys[e.epoch] for e in config.epochs}
        return cls(
            backend=backend,
            config=config,
            sealer=Sealer(live, config.current_epoch),
            key_id=keyfile.id,
            cache_dir=cache_dir,
            requests=stack.requests if stack else None,
            object_lock=stack.object_lock if stack else None,
            on_skip=stack.on_skip if stack else None,
        )

    def keys_changed(self) -> bool:
        """Whether the stored config names other key epochs than this handle opened with (a
        rotation or an epoch retirement by another process since): a key file written from
        this handle's master keys would then lack the config's, and removing another could
        leave none that opens the repository. Ask it under the maintenance lease."""
        try:
            stored = self.stored_config()
        except IntegrityError:
            return True  # sealed under an epoch this handle does not hold
        mine = self.config
        return (stored.current_epoch, stored.epochs) != (mine.current_epoch, mine.epochs)

    def stored_config(self) -> ConfigFile:
        """The config as the store holds it now (another process may have saved it since this
        handle read it: a change made from ``self.config`` would undo theirs).

        Raises:
            IntegrityError: it does not open with this handle's master keys.
        """
        marker = self.read_marker(self.backend)
        return ConfigFile.decode(self.sealer.open_file(SealedKind.CONFIG, marker.sealed))

    def save_config(self, config: ConfigFile, new_keys: dict[int, MasterKey] | None = None) -> None:
        """Overwrite the config (compare-and-swap), sealed under its current epoch: only key
        rotation (which brings ``new_keys``) and the end of re-encryption change it, under the
        maintenance lease. This handle (and every view of it) then seals with the config's
        current epoch.

        Raises:
            UnsupportedOperationError: the store cannot overwrite conditionally.
            VersionMismatchError: the config changed since it was read.
        """
        name = object_name(ObjectKind.CONFIG)
        version = self.backend.stat(name).version
        keys = {**self.sealer.keys, **(new_keys or {})}
        sealer = Sealer({e.epoch: keys[e.epoch] for e in config.epochs}, config.current_epoch)
        put_only = config.version >= PUT_ONLY_FORMAT  # put-only keys read the view (§6a)
        marker = ConfigMarker(
            version=config.version,
            repo_id=config.repo_id,
            sealed=sealer.seal_file(SealedKind.CONFIG, config.encode()),
            view=configview.seal_view(config, sealer.current) if put_only else b"",
        )
        self.backend.replace(name, marker.encode(), version)
        self._shared.config = config  # every view of this repository seals with it now
        self._shared.sealer = sealer

    # Standalone files --------------------------------------------------------------------------

    def name_of(self, kind: ObjectKind, oid: ObjectId | str) -> str:
        """The stored name of an object of a kind. A snapshot file's name carries its group
        tag: the name this handle listed or saved, else the one a listing of its id shows (an
        untagged name when none does: reading it then finds nothing)."""
        return self._names_of(kind, oid)[0]

    def _names_of(self, kind: ObjectKind, oid: ObjectId | str) -> list[str]:
        if kind is not ObjectKind.SNAPSHOTS:
            return [object_name(kind, oid)]
        text = oid.hex() if isinstance(oid, ObjectId) else oid
        known = self._shared.snapshot_names
        if not known.names(text):
            for info in self.backend.list(snapshot_name(text, None)):
                known.note(info.name)
        return known.names(text) or [snapshot_name(text, None)]

    def save_file(
        self,
        kind: ObjectKind,
        plaintext: bytes,
        *,
        tag: str | None = None,
        proven: Collection[ObjectId] = (),
        view: bool = True,
    ) -> ObjectId:
        """Seal and store a standalone file under the hash of its sealed bytes (a snapshot
        file with its group tag in its name, design.md §2). An index file's endorsed view
        names the put-only writers' packs in ``proven`` too; ``view=False`` stores none (for
        put-only packs not proven yet: maintenance/endorse.py)."""
        sealed = self.sealer.seal_file(sealed_kind_for(kind), plaintext)
        oid = storage_id(sealed)
        name = snapshot_name(oid, tag) if kind is ObjectKind.SNAPSHOTS else object_name(kind, oid)
        try:
            self.backend.put(name, sealed)
        except ObjectExistsError:
            # The name is the content's hash: a retried PUT whose first attempt had succeeded.
            if self.backend.stat(name).size != len(sealed):
                raise
        self._shared.snapshot_names.note(name)
        if kind in _INDEXING:
            self._shared.index_writes += 1
        if kind is ObjectKind.INDEX and view and self.config.version >= PUT_ONLY_FORMAT:
            views.store_endorsed(self.backend, self.sealer.current, oid, plaintext, proven=proven)
        return oid

    def endorse_index(self, oid: ObjectId, proven: Collection[ObjectId] = ()) -> None:
        """Store the endorsed dedup view of an index file: one written before the repository
        was at format version 2 (design.md §6a: the switch endorses every index file), or one
        of a put-only writer whose packs ``proven`` a read-back proved (maintenance/endorse.py).

        Raises:
            ObjectNotFoundError: the index file is gone.
            IntegrityError, FormatVersionError: it does not open.
            BackendError: the store refused the view.
        """
        plaintext = self.load_file(ObjectKind.INDEX, oid)
        views.store_endorsed(self.backend, self.sealer.current, oid, plaintext, proven=proven)

    def load_view(self, oid: ObjectId) -> DedupView:
        """The endorsed dedup view of index file ``oid``, opened with this key.

        Raises:
            ObjectNotFoundError: there is none.
            IntegrityError, FormatVersionError: it does not open, or is not signed for it.
        """
        sealed = self.backend.get(object_name(ObjectKind.VIEWS, oid))
        return views.open_endorsed_by(sealed, self.sealer.keys, oid)

    def load_file(self, kind: ObjectKind, oid: ObjectId) -> bytes:
        """Load, check against its name, and open a standalone file.

        Raises:
            ObjectNotFoundError: missing.
            IntegrityError: the content does not match its name or fails authentication.
        """
        files = self._shared.files
        cached = (
            files.read(kind.value, oid)
            if files and kind in CACHED and not self.store_files
            else None
        )
        if cached is not None:
            if storage_id(cached) == oid:
                try:
                    return self._opened(kind, cached, lambda: self.name_of(kind, oid))
                except RevokedWriterError as exc:
                    msg = f"{self.name_of(kind, oid)}: {exc}"
                    raise RevokedWriterError(msg) from None
                except IntegrityError:
                    pass
            assert self._shared.files is not None
            self._shared.files.drop(kind.value, oid)  # damaged copy: fetch the original
        name = self.name_of(kind, oid)
        sealed = self.backend.get(name)
        if storage_id(sealed) != oid:  # damaged on its way? read once more before saying so
            sealed = self.backend.get(name)
        if storage_id(sealed) != oid:
            msg = f"{name}: content does not match its name (damaged or replaced)"
            raise IntegrityError(msg)
        try:
            plaintext = self._opened(kind, sealed, lambda: name)
        except IntegrityError as exc:
            msg = f"{name}: {exc}"
            if isinstance(exc, RevokedWriterError):
                raise RevokedWriterError(msg) from None
            raise IntegrityError(msg) from None
        if self._shared.files is not None and kind in CACHED:
            self._shared.files.store(kind.value, oid, sealed)
        return plaintext

    def _opened(self, kind: ObjectKind, sealed: bytes, name: Callable[[], str]) -> bytes:
        """Open a standalone file (stored under ``name()``); a snapshot a put-only key wrote
        must name its host, an index file it wrote may only add its own packs, and neither
        may be stored after that key's removal (repository/writerhost.py).

        Raises:
            RevokedWriterError: stored by a removed put-only key after its removal.
            IntegrityError: it does not open, or its writer may not have written it.
        """
        plaintext = self.sealer.open_file(sealed_kind_for(kind), sealed)
        shared = self._shared
        if kind in (ObjectKind.SNAPSHOTS, ObjectKind.INDEX):
            what = "a snapshot" if kind is ObjectKind.SNAPSHOTS else "an index file"
            stored = partial(self._store_time, name)
            try:
                check_revocation(shared.sealer, shared.config, sealed, stored, what)
            except RevokedWriterError:
                shared.revoked.add(name())
                raise
        if kind is ObjectKind.SNAPSHOTS:
            check_snapshot_writer(
                self.backend, shared.sealer, shared.config, shared.writer_hosts, sealed, plaintext
            )
        elif kind is ObjectKind.INDEX:
            check_index_writer(self._shared.sealer, sealed, plaintext)
        return plaintext

    def _store_time(self, name: Callable[[], str]) -> float:
        """When the store took the object ``name()``: from the listing that named it (no
        request), else a HEAD.

        Raises:
            BackendError: the HEAD failed (ObjectNotFoundError: the object is gone).
        """
        text = name()
        known = self._shared.store_times.get(text)
        return known if known is not None else self.backend.stat(text).modified

    def file_epoch(self, kind: ObjectKind, oid: ObjectId) -> int:
        """The key epoch a standalone file is sealed under (from its plaintext header).

        Raises:
            ObjectNotFoundError: missing.
            IntegrityError: not a sealed object.
        """
        files = self._shared.files
        cached = files.read(kind.value, oid) if files and kind in CACHED else None
        head = (
            cached
            if cached is not None
            else self.backend.get(self.name_of(kind, oid), 0, HEAD_READ)
        )
        return EnvelopeHeader.decode(head).epoch

    def list_files(self, kind: ObjectKind) -> list[ObjectId]:
        """Ids of every file of a kind (a listing error raises; it is never read as empty)."""
        out = []
        listed = self.list_objects(kind)
        if kind is ObjectKind.SNAPSHOTS:
            self._shared.snapshot_names.replace_listing([info.name for info in listed])
        times = self._shared.store_times
        for info in listed:
            times[info.name] = info.modified  # revocation by store time (writerhost.py)
            parsed = parse_name(info.name)
            if parsed is None or parsed[0] is not kind:
                continue
            oid = hex_id(parsed[1])
            if oid is None:
                # a name's odd bytes (a lone surrogate from the file system) shown escaped:
                # a log record must survive any handler's encoding
                shown = info.name.encode("utf-8", "backslashreplace").decode()
                with self._shared.skip_lock:  # once a command: verify lists index/ twice
                    told = shown in self._shared.foreign
                    self._shared.foreign.add(shown)
                if not told:
                    log.warning("ignoring foreign object %s", shown)
                continue
            out.append(oid)
        if self._shared.files is not None and kind in CACHED:
            self._shared.files.retain(kind.value, set(out))
        return out

    # Objects by kind and id ------------------------------------------------------------------
    # An id is an ObjectId, or the id text of a name a listing showed (a key file under a
    # foreign name is still listed, read and removed by that name).

    def list_objects(self, kind: ObjectKind) -> list[ObjectInfo]:
        """Every object stored under a kind's prefix, foreign names included, but for names
        nested deeper than the kind's layout (``layout.within_layout``: not ours); a listing
        error raises, it is never read as empty."""
        return [i for i in self.backend.list(kind.value + "/") if within_layout(kind, i.name)]

    def list_ids(self, *kinds: ObjectKind) -> dict[ObjectId, ObjectInfo]:
        """The objects of these kinds whose names are ids of their kind, by id (names s3vault
        did not write are passed over; with several kinds, a later kind's object wins)."""
        out: dict[ObjectId, ObjectInfo] = {}
        for kind in kinds:
            for info in self.list_objects(kind):
                oid = id_in_name(kind, info.name)
                if oid is not None:
                    out[oid] = info
        return out

    def list_packs(self) -> dict[ObjectId, ObjectInfo]:
        """The stored packs (``data/`` and ``tree/``), by id."""
        return self.list_ids(ObjectKind.DATA, ObjectKind.TREE)

    def list_everything(self) -> list[ObjectInfo]:
        """Every object of the repository, whatever its kind (the cost estimate weighs them)."""
        return list(self.backend.list(""))

    def read_object(
        self, kind: ObjectKind, oid: ObjectId | str, offset: int = 0, length: int | None = None
    ) -> bytes:
        """The stored bytes of one object (or a range), as they are: nothing is checked or
        opened (``load_file`` and ``load_blob`` do that), no cache is consulted.

        Raises:
            ObjectNotFoundError: missing.
        """
        return self.backend.get(self.name_of(kind, oid), offset, length)

    def read_listed(self, info: ObjectInfo, offset: int = 0, length: int | None = None) -> bytes:
        """The stored bytes of an object a listing of this repository named (whatever its
        name: a key file under a foreign name is read to be reported)."""
        return self.backend.get(info.name, offset, length)

    def stat_object(self, kind: ObjectKind, oid: ObjectId | str) -> ObjectInfo:
        """Size, time and version of one object.

        Raises:
            ObjectNotFoundError: missing.
        """
        return self.backend.stat(self.name_of(kind, oid))

    def cached_copy(self, kind: ObjectKind, oid: ObjectId) -> bytes | None:
        """This host's cached copy of a standalone file, as stored, when it is intact (it
        matches its name and opens); else None."""
        files = self._shared.files
        if files is None or kind not in CACHED:
            return None
        cached = files.read(kind.value, oid)
        if cached is None or storage_id(cached) != oid:
            return None
        try:
            self._opened(kind, cached, lambda: self.name_of(kind, oid))
        except S3VaultError:
            return None
        return cached

    def write_again(self, kind: ObjectKind, oid: ObjectId, sealed: bytes) -> None:
        """Replace a stored file that is damaged with its intact copy ``sealed`` (the same
        bytes: its name is their hash). Stores are create-only: the damaged object is removed
        first; a kill between the two leaves the file missing, as a removal would have.

        Raises:
            IntegrityError: ``sealed`` is not the file ``oid`` names.
        """
        if storage_id(sealed) != oid:
            raise IntegrityError(f"{self.name_of(kind, oid)}: the copy is not that file")
        name = self.name_of(kind, oid)
        with contextlib.suppress(ObjectNotFoundError):
            self.backend.delete(name)
        self.backend.put(name, sealed)

    def delete_object(self, kind: ObjectKind, oid: ObjectId | str) -> None:
        """Remove one object.

        Raises:
            ObjectNotFoundError: it is not there (stores that can tell).
        """
        names = self._names_of(kind, oid)
        for name in names:  # a snapshot stored under two tags: every name
            self.backend.delete(name)
        if kind is ObjectKind.SNAPSHOTS:
            self._shared.snapshot_names.forget(oid.hex() if isinstance(oid, ObjectId) else oid)

    def delete_objects(self, objects: Iterable[tuple[ObjectKind, ObjectId]]) -> None:
        """Remove objects in as few requests as the store allows (gone already is fine)."""
        objects = list(objects)
        self._shared.index_writes += any(kind in _INDEXING for kind, _oid in objects)
        self.backend.delete_many(
            [name for kind, oid in objects for name in self._names_of(kind, oid)]
        )

    def delete_listed(self, names: Sequence[str]) -> None:
        """Remove objects a listing of this repository named, whatever their names (a host's
        states, ``state/<host tag>/<seq>-<id>``), in as few requests as the store allows
        (gone already is fine)."""
        self._shared.index_writes += any(n.partition("/")[0] in _INDEXING for n in names)
        self.backend.delete_many(list(names))

    def replace_listed(self, info: ObjectInfo, data: bytes) -> None:
        """Overwrite an object a listing named, if it is still the version listed.

        Raises:
            VersionMismatchError: it changed since it was listed.
            UnsupportedOperationError: the store cannot overwrite conditionally.
        """
        self.backend.replace(info.name, data, info.version)

    def list_temporaries(self) -> list[ObjectInfo]:
        """What interrupted writes left beside the objects (never objects, design.md §2)."""
        return list(self.backend.temporaries())

    def delete_temporary(self, info: ObjectInfo) -> None:
        """Remove a leftover ``list_temporaries`` returned (gone already is fine)."""
        self.backend.delete_temporary(info.name)

    def store_key_file(self, keyfile: KeyFile, opener: Callable[[KeyFile], object]) -> None:
        """Write a key file, then read it back and open it with ``opener`` before reporting
        success (``keyring.store_key``).

        Raises:
            IntegrityError: the stored key file does not open as written.
        """
        keyring.store_key(self.backend, keyfile, opener)

    def reseal_key_files(
        self, payload: KeyPayload, *, on_skip: Callable[[str, str], None] | None = None
    ) -> int:
        """Give every authentic key file ``payload`` (``keyring.reseal_all``); returns how many
        were re-sealed.

        Raises:
            UnsupportedOperationError: the store cannot overwrite conditionally.
        """
        return keyring.reseal_all(self.backend, payload, self.id, on_skip=on_skip)

    # Index ---------------------------------------------------------------------------------

    def read_index(self, *, with_marked: bool = True) -> BlobIndex:
        """Build an in-memory index from the cache plus any index files it does not cover,
        ignoring index files a newer one supersedes. ``with_marked`` adds the packs prune has
        marked for deletion (readers want them; backups must not deduplicate against them).
        This handle is not changed: read through it with ``repo.with_index(...)``.

        A prune running beside may replace index files while they are read. It writes the
        replacement before deleting what it replaces, so a file found gone must be superseded
        by a file a fresh listing shows: the load follows the listing until every file that
        vanished is accounted for, and never starts over (a slow reader would never finish
        beside a busy pruner).

        An index file that fails its check is skipped (``skip``: told to the caller), never
        cached as covered: its blobs count as absent, so a backup stores them again, and the
        next ``repair index`` reads its packs' headers.

        Raises:
            ObjectNotFoundError: an index file vanished with no replacement.
        """
        generation = self._shared.index_writes  # what this index knows of (``current``)
        ids = set(self.list_files(ObjectKind.INDEX))
        listed = frozenset(ids)
        cached = self._shared.index_cache.load() if self._shared.index_cache else None
        hit = cached is not None and cached[0] <= ids
        covered, index = cached if cached is not None and hit else (set(), BlobIndex())
        files = self._read_index_files(ids - covered, known=covered)
        if superseded(files.values()) & covered:  # the cache holds packs of replaced files
            hit, covered, index = False, set(), BlobIndex()
            listed = frozenset(self.list_files(ObjectKind.INDEX))
            files.update(self._read_index_files(set(listed) - set(files)))
        described = ((oid, p) for oid, ifile in live(files) for p in ifile.packs)
        settled = record_in_index(index, described, self._pack_headers)
        if settled:  # index files that disagree on a pack (design.md §6a)
            self._tell_disputes(settled, files)
        log.info(
            "index: %d blobs in %d packs (%d index files read, cache %s)",
            len(index),
            index.pack_count,
            len(files),
            "hit" if hit else "rebuilt",
        )
        if files and self._shared.index_cache is not None:
            self._shared.index_cache.save(covered | set(files), index)
        if with_marked:  # deletion records describe packs too: settled the same way
            marked = [(None, CompactPack.of(p)) for p, _since in self._load_marks().packs.values()]
            settled = record_in_index(index, marked, self._pack_headers)
            if settled:
                self._tell_disputes(settled, {})
        index.generation, index.files = generation, listed
        return index

    def read_index_packs(self, spill: SpillFile, *, with_marked: bool = True) -> list[CompactPack]:
        """The packs ``read_index`` would index, their entries kept in ``spill`` (on disk),
        for a caller that keeps its own per-blob record instead of a BlobIndex (copy, on 10^7
        blobs). Reads every index file (the local index cache holds a BlobIndex image); a pack
        two index files describe comes once. Damaged files and a prune beside: as read_index.

        Raises:
            ObjectNotFoundError: an index file vanished with no replacement.
        """
        files = self._read_index_files(set(self.list_files(ObjectKind.INDEX)), spill)
        marks = self._load_marks().packs.values() if with_marked else ()
        marked = [(None, CompactPack.of(p)) for p, _since in marks]
        return list(self.packs_described(files, marked).values())

    def packs_described(
        self,
        files: Mapping[ObjectId, CompactIndexFile],
        more: Described = (),
        *,
        told: Callable[[str, str], None] | None = None,
    ) -> dict[ObjectId, CompactPack]:
        """One description per pack of the live index files among ``files`` (then of ``more``:
        deletion records' packs, with no index file): the first, unless
        index files disagree on it (a put-only writer's index file can name any pack under
        its own sender, or place its own pack's blobs anywhere): then a description without a
        sender (a full key's) or the one the pack's header confirms; every description that
        lost is told as forged, once per index file, to ``told`` (name, reason) or else as a
        skipped object (``skip``) (repository/senderdisputes.py, design.md §6a).

        Raises:
            BackendError: a pack's header could not be read (the pack gone or damaged is no
                error: the first description stays).
        """
        described = itertools.chain(
            ((oid, p) for oid, ifile in live(files) for p in ifile.packs), more
        )
        packs, settled = one_per_pack(described, self._pack_headers)
        if settled:
            self._tell_disputes(settled, files, told)
        return packs

    def _pack_headers(self, packs: Sequence[CompactPack]) -> dict[ObjectId, CompactPack | str]:
        """The headers of disputed packs, each as the description of the pack it gives
        (authenticated: opened under its sender's key), or why it cannot be read; to settle
        index files that disagree on a pack (repository/senderdisputes.py). A few packs are
        looked for by HEAD under both kinds (the description that named one may be made up);
        more than LIST_PACKS_AFTER are looked for in one listing of the packs, so a made-up
        pack id, of which a writer can name any number, costs no request.

        Raises:
            BackendError: a pack could not be read (gone or damaged is no error: its reason).
        """
        listed = self.list_packs() if len(packs) > LIST_PACKS_AFTER else None
        out: dict[ObjectId, CompactPack | str] = {}
        for pack in packs:
            try:
                out[pack.id] = CompactPack.of(self._pack_header(pack, listed))
            except ObjectNotFoundError:
                out[pack.id] = f"pack {pack.id.short} is not stored"
            except (IntegrityError, FormatVersionError) as exc:
                out[pack.id] = str(exc)
        return out

    def _pack_header(
        self, pack: CompactPack, listed: Mapping[ObjectId, ObjectInfo] | None
    ) -> IndexedPack:
        """One pack's header (``_pack_headers``), found in ``listed`` if given, else by HEAD.

        Raises:
            ObjectNotFoundError: the pack is not stored.
            IntegrityError, FormatVersionError: its header does not open.
        """
        from s3vault.repository.packheader import read_pack_header  # it builds on this module

        if listed is not None:
            info = listed.get(pack.id)
            if info is None:
                raise ObjectNotFoundError(f"pack {pack.id.short} is not stored")
            return read_pack_header(self, info.name, info.size)
        for kind in dict.fromkeys((pack.kind, ObjectKind.TREE, ObjectKind.DATA)):
            name = object_name(kind, pack.id)
            try:
                size = self.backend.stat(name).size
            except ObjectNotFoundError:
                continue
            return read_pack_header(self, name, size)
        msg = f"pack {pack.id.short} is not stored"
        raise ObjectNotFoundError(msg)

    def _tell_disputes(
        self,
        settled: list[Settled],
        files: Mapping[ObjectId, CompactIndexFile],
        told: Callable[[str, str], None] | None = None,
    ) -> None:
        """Tell every description that lost its dispute (to ``told``, else ``skip``:
        senderdisputes.tell)."""
        tell(settled, dict(live(files)), told or self.skip, self.sealer.put_key)

    def follow_index_listing(
        self,
        todo: set[ObjectId],
        read_one: Callable[[ObjectId], None],
        *,
        known: set[ObjectId] | frozenset[ObjectId] = frozenset(),
    ) -> None:
        """Call ``read_one`` for each index file of ``todo``, then for each file a new listing
        of ``index/`` names that was neither read nor ``known``, until a listing names none
        (at most LOAD_ROUNDS listings). The one home of the rule of design.md §11: a listing
        taken while a prune swaps its index file for the next (writes the new one, then
        deletes the old) may miss both (a directory read while one name is linked and
        another unlinked; a paged S3 listing); an index read without them reads as damage
        (seen: `verify` beside a looping prune reported every snapshot's root tree "in no
        index")."""
        done: set[ObjectId] = set(known)
        for _ in range(LOAD_ROUNDS):
            for oid in sorted(todo):
                read_one(oid)
            done |= todo
            todo = set(self.list_files(ObjectKind.INDEX)) - done
            if not todo:
                return
            log.info("index files were replaced while they were read: following the listing")

    def _read_index_files(
        self,
        wanted: set[ObjectId],
        spill: SpillFile | None = None,
        *,
        known: set[ObjectId] | frozenset[ObjectId] = frozenset(),
    ) -> dict[ObjectId, CompactIndexFile]:
        """Read index files (their entries in ``spill`` if given; ``known``: listed files the
        caller holds already), following the listing (``follow_index_listing``).

        Raises:
            ObjectNotFoundError: a file vanished and no file a later listing names replaces it.
        """
        files: dict[ObjectId, CompactIndexFile] = {}  # compact: no PackEntry per blob
        gone: set[ObjectId] = set()
        damaged: set[ObjectId] = set()

        def read_one(oid: ObjectId) -> None:
            try:
                files[oid] = compact_index_file(self.load_file(ObjectKind.INDEX, oid), spill)
            except ObjectNotFoundError:
                gone.add(oid)
            except (IntegrityError, FormatVersionError) as exc:
                # One damaged index file must not stop every reader: its packs are still
                # stored, and their headers say what they hold.
                name = object_name(ObjectKind.INDEX, oid)
                reason = str(exc).removeprefix(name + ": ")
                self.skip(
                    name,
                    f"index file skipped: {reason}; the blobs it lists are treated as "
                    "absent (`s3vault repair index` indexes its packs again)",
                )
                damaged.add(oid)

        self.follow_index_listing(set(wanted), read_one, known=known)
        lost = sorted(gone - superseded(files.values()))
        if lost:
            msg = f"index file {lost[0].hex()} vanished and no index file replaces it"
            raise ObjectNotFoundError(msg)
        return files

    def _load_marks(self) -> Marks:
        """The deletion records (retried: a prune may replace one while it is read)."""
        for attempt in range(LOAD_ROUNDS):
            try:
                return load_marks(self)
            except ObjectNotFoundError:
                if attempt == LOAD_ROUNDS - 1:
                    raise
        raise AssertionError  # unreachable

    def save_index(self, ifile: IndexFile) -> ObjectId:
        """Store an index file."""
        return self.save_file(ObjectKind.INDEX, ifile.encode())

    # Blobs and trees -------------------------------------------------------------------------

    def copy_writer(self, index: BlobIndex) -> BlobWriter:
        """A writer for blobs this repository already holds, written again (repack, a
        backup's revalidation, repaired trees) into fresh packs under the current key epoch:
        ``index`` is its own reservation table (what it wrote, and what it must not write
        twice). Flush it before writing anything that references them."""
        return BlobWriter(
            backend=self.backend,
            sealer=self.sealer,
            index=index,
            save_index=self.save_index,
            pack_size=self.config.pack_size,
            compression_level=self.config.compression_level,
        )

    def blob_writer(
        self,
        *,
        verify: bool = True,
        delegate: Delegation | None = None,
        index: WriterIndex | None = None,
    ) -> BlobWriter:
        """A writer for new blobs; flush it before writing anything that references them.
        ``delegate``: the writer of a backup worker process (repository/writer.py).
        ``index``: what it deduplicates against and records into (default: this handle's)."""
        return BlobWriter(
            backend=self.backend,
            sealer=self.sealer,
            index=self.index if index is None else index,
            save_index=self.save_index,
            pack_size=self.config.pack_size,
            compression_level=self.config.compression_level,
            verify=verify,
            on_tree_pack=self._shared.tree_packs.store if self._shared.tree_packs else None,
            max_unindexed_age=self.config.min_grace / 2,
            delegate=delegate,
            threads=1 if delegate is not None else CPUS,
        )

    def _read_tree_blob(self, name: str, loc: BlobLocation) -> tuple[bytes, bool]:
        """A tree blob's bytes and whether they came from the local tree-pack cache; else the
        whole pack is fetched once (checked against its name) and cached. A view reading the
        store (``store_files``: verify's) takes the cache's copy of a pack only once this
        process has fetched that pack from the store and found it whole (and cached it anew):
        a good copy in the cache must not hide a pack the store holds damaged."""
        assert self._shared.tree_packs is not None
        fresh = not self.store_files or self._shared.tree_reads.was_read(loc.pack_id)
        cached = (
            self._shared.tree_packs.read(loc.pack_id, loc.offset, loc.length) if fresh else None
        )
        if cached is not None:
            return cached, True
        pack = self.backend.get(name)
        if storage_id(pack) == loc.pack_id:
            self._shared.tree_packs.store(loc.pack_id, pack)
            self._shared.tree_reads.read(loc.pack_id)  # every byte of it, checked whole
        else:  # as stored, not as named: its other blobs by range (_load_blob_at), not whole
            self._shared.tree_reads.failed(loc.pack_id)  # again for each (an attack pass:
            # 2,011 downloads of one 686 KB pack, 1.37 GB, in a verify through S3)
        return pack[loc.offset : loc.offset + loc.length], False

    def load_blob(self, btype: BlobType, bid: ObjectId) -> bytes:
        """Fetch, authenticate, decompress and check one blob. A blob stored in several packs
        is read from the next copy when one is missing or damaged.

        Raises:
            IntegrityError: not in the index, or damaged (the message names the pack).
            ObjectNotFoundError: its pack is missing (and no other copy exists).
        """
        return self.load_blob_from(btype, bid, self.index.locations(btype, bid))

    def load_blob_from(
        self, btype: BlobType, bid: ObjectId, locations: list[BlobLocation]
    ) -> bytes:
        """``load_blob`` from these locations, the first first (for a caller that keeps blob
        locations outside a BlobIndex: copy).

        Raises:
            IntegrityError: no location, or damaged (the message names the pack).
            ObjectNotFoundError: its pack is missing (and no other copy exists).
        """
        return self.load_first_copy(btype, bid, locations)[0]

    def load_first_copy(
        self, btype: BlobType, bid: ObjectId, locations: Sequence[BlobLocation]
    ) -> tuple[bytes, int]:
        """THE rule of every reader of a blob with several copies (repository/copies.py):
        the blob from the first copy that reads, opens and matches its id, and that copy's
        position in ``locations``. The copies tried, each once, are ``copy_order``'s: every
        full key's copy in order, then at most ``PUT_COPIES_TRIED`` in put-only writers' packs
        (one per writer first), none in a pack the store does not list. That listing (one, kept
        for the run) is made only for a blob with more put-only copies than the bound (a writer
        that named it in made-up packs); else a pack already known missing is left out. A pack
        whose copy failed is marked for this run (``tree_reads.failed``: a read-back proves
        nothing of it).

        Raises:
            IntegrityError: no location, or every copy tried damaged (the first one's error,
                saying how many copies were left untried).
            BackendError: the first copy's pack could not be read, nor any other copy
                (ObjectNotFoundError: every copy's pack is missing).
        """
        if not locations:
            msg = f"{btype.value} blob {bid.short} is not in the index"
            raise IntegrityError(msg)
        shared = self._shared
        if shared.unlisted is None and sum(1 for x in locations if x.sender) > PUT_COPIES_TRIED:
            with suppress(BackendError):  # unlisted, the copies are tried as they come
                shared.unlisted = self.missing_packs()

        def writer(loc: BlobLocation) -> bytes:
            try:
                return self.sealer.put_key(loc.epoch, loc.sender)[0]
            except IntegrityError:
                return loc.sender  # opens for no writer: tried with the writer's own, if at all

        order = copy_order(locations, shared.unlisted or (), writer)
        first: IntegrityError | BackendError | None = None
        bad_bytes: int | None = None  # the first copy read whole that failed its check
        for at in order.tried:
            loc = locations[at]
            try:
                return self._load_blob_at(btype, bid, loc), at
            except (IntegrityError, BackendError) as exc:
                shared.tree_reads.failed(loc.pack_id)
                first = first or exc
                if bad_bytes is None and isinstance(exc, IntegrityError):
                    bad_bytes = at
        if bad_bytes is not None:  # every copy failed: was the first one damaged on its way
            # (a flipped bit in transit, which a ranged GET carries no checksum for)? One
            # more read of it from the store; only a copy the store gives wrong twice is
            # damage. Never more: an attacker's garbage copies cost one read each.
            with suppress(IntegrityError, BackendError):
                return self._load_blob_at(btype, bid, locations[bad_bytes], again=True), bad_bytes
        note = order.note()
        if first is None:
            msg = f"{btype.value} blob {bid.short}: no copy is in a pack the store lists"
            raise ObjectNotFoundError(f"{msg} ({note})")
        if note:
            raise type(first)(f"{first}; {note}") from None
        raise first

    def _load_blob_at(
        self, btype: BlobType, bid: ObjectId, loc: BlobLocation, *, again: bool = False
    ) -> bytes:
        name = object_name(
            ObjectKind.DATA if btype is BlobType.DATA else ObjectKind.TREE, loc.pack_id
        )
        cached = (
            btype is BlobType.TREE
            and self._shared.tree_packs is not None
            and not again
            and not self._shared.tree_reads.has_failed(loc.pack_id)  # read by range
        )
        # the cache's copy (if any), then the store's range (``again``: the store's only,
        # load_first_copy's second read of a copy that failed its check)
        tries = ("cache", "store") if cached else ("store",)
        for source in tries:
            if source == "cache":
                sealed, local = self._read_tree_blob(name, loc)
            else:  # the store's range
                sealed, local = self.backend.get(name, loc.offset, loc.length), False
            try:
                blob = self.sealer.open_blob(
                    btype, bid, sealed, loc.raw_length, loc.epoch, loc.sender
                )
            except IntegrityError as exc:
                if local:  # the host's copy (a flipped bit, a file a power loss zeroed) is no
                    # evidence about the repository: the store's copy decides
                    assert self._shared.tree_packs is not None
                    self._shared.tree_packs.drop(loc.pack_id)  # never trust a copy that failed
                    log.warning("%s: the local cache's copy failed its check; read again", name)
                    continue
                self._shared.tree_reads.failed(loc.pack_id)  # this run proves nothing of it
                msg = f"pack {name}: {exc}"
                raise IntegrityError(msg) from None
            if btype is BlobType.TREE and source != "cache":  # (_read_tree_blob says its own)
                self._shared.tree_reads.read(loc.pack_id)  # read from the store, opened
            return blob
        raise AssertionError("unreachable: the last read raises or returns")  # pragma: no cover

    def missing_packs(self, *, truncated: bool = False) -> set[ObjectId]:
        """Packs the loaded index names that the store does not list (one listing of
        ``data/`` and ``tree/``); with ``truncated``, also those it lists at another size than
        the index says, for a writer: a truncated pack lost blobs as a deleted one did (the
        next backups reused them and their snapshots lost the same files: an attack pass,
        2026-12-07), while a reader still gets what its intact part holds. Listings are never
        evidence for deleting anything: the answer only makes readers use other copies and
        writers store blobs again.

        Raises:
            BackendError: the store could not be listed.
        """
        prefixes = [f"{kind.value}/" for kind in (ObjectKind.DATA, ObjectKind.TREE)]
        if self.index.pack_count > SHARDED_LISTING_ABOVE:  # one listing per shard, in parallel
            prefixes = [f"{p}{shard:02x}/" for p in prefixes for shard in range(256)]
        listed: dict[str, int] = {}
        with ThreadPoolExecutor(LISTINGS, thread_name_prefix="s3v-list") as pool:
            for infos in pool.map(lambda prefix: list(self.backend.list(prefix)), prefixes):
                listed.update((info.name, info.size) for info in infos)
        missing = set()
        for pack_id, size in self.index.packs():
            sizes = {
                listed.get(object_name(ObjectKind.DATA, pack_id)),
                listed.get(object_name(ObjectKind.TREE, pack_id)),
            }
            if size not in sizes if truncated else sizes == {None}:
                missing.add(pack_id)
        return missing

    def forget_missing_packs(
        self, *, truncated: bool = False
    ) -> tuple[set[ObjectId], set[tuple[BlobType, ObjectId]]]:
        """Drop the packs the store no longer has (``truncated``: see missing_packs) from
        the in-memory index (never from index files): readers then use other copies, and a
        backup stores again whatever it needs from them. Returns (the missing packs, the
        blobs left with no copy).

        Raises:
            BackendError: the store could not be listed.
        """
        missing = self.missing_packs(truncated=truncated)
        self._shared.unlisted = missing  # the listing at hand: load_first_copy needs no other
        lost = self.index.drop_packs(missing) if missing else set()
        self._shared.lost_with_packs |= lost
        if missing:
            log.info("%d pack(s) named by the index are missing from the store", len(missing))
        return missing, lost

    def lost_with_a_pack(self, btype: BlobType, bid: ObjectId) -> bool:
        """Whether the blob is not in the index because every pack that held it is missing
        from the store (dropped by ``forget_missing_packs``)."""
        return (btype, bid) in self._shared.lost_with_packs

    def load_tree(self, tid: ObjectId) -> Tree:
        """A tree, through a small LRU cache."""
        with self._shared.trees_lock:
            tree = self._shared.trees.get(tid)
            if tree is not None:
                self._shared.trees.move_to_end(tid)
                return tree
        tree = Tree.decode(self.load_blob(BlobType.TREE, tid))
        with self._shared.trees_lock:
            self._shared.trees[tid] = tree
            if len(self._shared.trees) > TREE_CACHE_SIZE:
                self._shared.trees.popitem(last=False)
        return tree

    def walk_files(self, kind: ObjectKind) -> Iterator[tuple[ObjectId, bytes]]:
        """Every file of a kind, loaded and opened."""
        for oid in self.list_files(kind):
            yield oid, self.load_file(kind, oid)
