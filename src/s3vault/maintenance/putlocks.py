"""Object Lock for a put-only host's backups (docs/immutability.md, design.md §6a): the same
retain-until dates a full-key backup gives, from a host that cannot read the index.

- Every object the run creates (packs, index files, the snapshot, the state, the audit record)
  is locked at creation for the config's period plus margin: the store does it once the
  policy of the config's view is adopted (``adopt``).
- After the snapshot, the older packs it needs stay locked at least now + period, as
  ``immutability.protect`` does for a full key: the packs of endorsed views that hold its
  blobs (their ids are in the views), the packs of the host's own earlier runs (below), the
  config and the key files.
- The host cannot read which of its earlier packs holds a blob of its state, so it keeps that
  in its cache: ``put-packs-<key id>`` under ``<cache dir>/<repo id>/``, the own packs of its
  last snapshot and the blobs each holds. A run whose state names a blob that neither an
  endorsed view nor that record places in a pack the store lists (the cache was lost, the
  repository's first locked run after an upgrade) trusts no blob of the state, as
  ``backup --force``: it reads every file and stores everything again, under fresh locks. A
  damaged record is no record; a planted one can only make the host extend the wrong packs'
  locks or trust its state, which a process on the host can do anyway.

Record (little-endian): ``"S3VP" | version (u8) = 1 | per pack: pack id (32) | blob count
(u32) | per blob: type (u8: 1 data, 2 tree) | blob id (32)``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from s3vault.backend.objectlock import LockingBackend, LockPolicy
from s3vault.errors import FormatVersionError, IntegrityError
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import BlobType
from s3vault.format.tree import Tree
from s3vault.ids import ObjectId
from s3vault.maintenance.immutability import load_known, save_known_at
from s3vault.repository.index import BlobIndex
from s3vault.repository.putrepo import PutOnlyRepository

log = logging.getLogger(__name__)

MAGIC = b"S3VP\x01"
_TYPES = {BlobType.DATA: 1, BlobType.TREE: 2}
_BY_CODE = {code: btype for btype, code in _TYPES.items()}
PACK_KINDS = (ObjectKind.DATA, ObjectKind.TREE)

Blob = tuple[BlobType, bytes]


def encode_own_packs(own: dict[Blob, ObjectId]) -> bytes:
    """The record of the module docstring."""
    by_pack: dict[ObjectId, list[Blob]] = {}
    for blob, pack in own.items():
        by_pack.setdefault(pack, []).append(blob)
    out = [MAGIC]
    for pack, blobs in sorted(by_pack.items(), key=lambda p: bytes(p[0])):
        out += [bytes(pack), struct.pack("<I", len(blobs))]
        out += [bytes([_TYPES[t]]) + bid for t, bid in sorted(blobs, key=lambda b: b[1])]
    return b"".join(out)


def decode_own_packs(data: bytes) -> dict[Blob, ObjectId]:
    """The record, or an empty one when it is damaged (no record: the state is not trusted)."""
    own: dict[Blob, ObjectId] = {}
    if not data.startswith(MAGIC):
        return {}
    pos = len(MAGIC)
    try:
        while pos < len(data):
            pack = ObjectId(data[pos : pos + 32])
            (count,) = struct.unpack_from("<I", data, pos + 32)
            pos += 36
            for _ in range(count):
                btype = _BY_CODE[data[pos]]
                bid = data[pos + 1 : pos + 33]
                if len(bid) != 32:  # a blob id (the record ends early)
                    return {}
                own[btype, bid] = pack
                pos += 33
    except (struct.error, KeyError, IndexError, ValueError, IntegrityError):
        return {}
    return own


def state_blobs(trees: dict[ObjectId, bytes]) -> Iterator[Blob]:
    """The blobs a snapshot's trees name: every tree, and the data blobs of their files (a
    tree that does not parse names none, as ``PutArchiveView`` takes it)."""
    for tid, blob in trees.items():
        yield BlobType.TREE, bytes(tid)
        try:
            nodes = Tree.decode(blob).nodes
        except (IntegrityError, FormatVersionError):
            continue
        for node in nodes:
            for cid in node.content:
                yield BlobType.DATA, bytes(cid)


@dataclass(slots=True)
class PutLocks:
    """One put-only run's Object Lock (see the module docstring)."""

    store: LockingBackend
    policy: LockPolicy
    cache: Path | None  # <cache dir>/<repo id>, or None without a cache
    key_id: str
    own: dict[Blob, ObjectId] = field(default_factory=dict)
    listed: set[str] = field(default_factory=set)  # pack ids (hex) the store lists at the start

    @property
    def own_path(self) -> Path | None:
        """Where the record of the host's own packs is kept (None without a cache)."""
        return self.cache / f"put-packs-{self.key_id}" if self.cache else None

    @property
    def known_path(self) -> Path | None:
        """Where the retain-until times this host learnt are kept (as a full key's)."""
        return self.cache / "object-locks.json" if self.cache else None

    def list_packs(self, put: PutOnlyRepository) -> None:
        """List the packs the store holds (before the run stores any)."""
        self.listed = {
            info.name.rsplit("/", 1)[-1]
            for kind in PACK_KINDS
            for info in put.backend.list(kind.value + "/")
        }

    def covers(self, blobs: Iterable[Blob], index: BlobIndex) -> bool:
        """Can the host name a listed pack for every one of these blobs (its state's): an
        endorsed view's, or its own by its record?"""
        for btype, bid in blobs:
            if any(loc.pack_id.hex() in self.listed for loc in index.locations(btype, bid)):
                continue
            pack = self.own.get((btype, bid))
            if pack is None or pack.hex() not in self.listed:
                return False
        return True

    def protect(
        self,
        put: PutOnlyRepository,
        snapshot_id: ObjectId,
        trees: dict[ObjectId, bytes],
        index: BlobIndex,
        new_packs: set[ObjectId],
    ) -> int:
        """After the snapshot is stored: the older packs it needs, its file, the config and
        the key files stay locked at least now + period; the record of the host's own packs
        becomes the new snapshot's. Returns how many objects had their lock extended.

        Raises:
            BackendError: the store refused an extension (the snapshot stands, with the locks
                it was stored with).
        """
        names = {object_name(ObjectKind.SNAPSHOTS, snapshot_id), object_name(ObjectKind.CONFIG)}
        names.update(info.name for info in put.backend.list(ObjectKind.KEYS.value + "/"))
        own: dict[Blob, ObjectId] = {}
        for btype, bid in state_blobs(trees):
            kind = ObjectKind.TREE if btype is BlobType.TREE else ObjectKind.DATA
            packs = [loc.pack_id for loc in index.locations(btype, bid)]
            endorsed = [p for p in packs if p.hex() in self.listed]
            fresh = [p for p in packs if p in new_packs]
            if endorsed:  # a full key's pack: where a restore reads it first
                names.add(object_name(kind, endorsed[0]))
            elif fresh:  # stored by this run: locked at creation
                own[btype, bid] = fresh[0]
            elif (mine := self.own.get((btype, bid))) is not None and mine.hex() in self.listed:
                names.add(object_name(kind, mine))
                own[btype, bid] = mine
        now = put.backend.server_time()
        extended = self.store.extend_locks(sorted(names), now + self.policy.period)
        self.own = own
        self._save(now)
        return extended

    def _save(self, now: float) -> None:
        """Keep the record and the retain-until times for the next run (best effort)."""
        save_known_at(self.known_path, self.store, now)
        path = self.own_path
        if path is None:
            return
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(encode_own_packs(self.own))
            tmp.replace(path)
        except OSError as exc:
            log.info("cannot keep the host's own packs in %s: %s", path, exc)
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


def adopt(put: PutOnlyRepository) -> PutLocks | None:
    """With Object Lock in the config's view and a store that locks: lock every object the
    host creates from now on, and load what earlier runs on this host learnt. None otherwise
    (nothing changes, no request is made).

    Raises:
        IntegrityError: the view's lock policy is malformed.
    """
    store = put.backend.capabilities.object_lock
    if not put.config.object_lock or store is None:
        return None
    try:
        policy = LockPolicy.from_dict(put.config.object_lock)
    except (KeyError, TypeError, ValueError) as exc:
        msg = f"the config's view has a malformed Object Lock policy: {exc}"
        raise IntegrityError(msg) from None
    store.adopt_lock(policy)
    cache = put.cache_dir / put.id.hex() if put.cache_dir is not None else None
    locks = PutLocks(store=store, policy=policy, cache=cache, key_id=put.keyfile.id.hex())
    store.remember_locks(load_known(locks.known_path))
    own_path = locks.own_path
    if own_path is not None:
        with contextlib.suppress(OSError):
            locks.own = decode_own_packs(own_path.read_bytes())
    return locks
