"""The verification ledger (design.md §8c): record which packs a read-back proved; read the
newest proof of every pack; compact the ledger under the maintenance lease.

Each read-back writes one new file (its own name: concurrent hosts never conflict). Reading
takes the newest proof per pack across the live files (superseded ones are ignored,
``repository/supersede.py``); a file that does not open is skipped and named, never fatal: the
ledger only ever says "proven at least this recently". Compaction (prune) writes one file with
the newest proof of every pack it did not delete, superseding every file it read, then removes
those (what Object Lock still keeps stays, superseded).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from s3vault.clock import SystemClock
from s3vault.crashpoint import crash_point
from s3vault.errors import FormatVersionError, IntegrityError, ObjectNotFoundError
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.ledgerfile import LedgerFile, Proof
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from s3vault.repository.references import References
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import FUTURE_SLACK
from s3vault.repository.supersede import live

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LastProof:
    """The newest proof of one pack."""

    time: float  # Unix seconds
    host: str
    size: int


@dataclass(slots=True)
class Ledger:
    """The newest proof of every pack the live ledger files name."""

    proofs: dict[ObjectId, LastProof] = field(default_factory=dict)
    files: list[ObjectId] = field(default_factory=list)  # every file listed (live or not)
    unreadable: dict[str, str] = field(default_factory=dict)  # name → why it was skipped
    times: dict[ObjectId, list[float]] = field(default_factory=dict)  # every proof still kept

    def add(self, pack: ObjectId, proof: LastProof) -> None:
        """Keep the newer of two proofs (and every proof's time)."""
        self.times.setdefault(pack, []).append(proof.time)
        known = self.proofs.get(pack)
        if known is None or proof.time > known.time:
            self.proofs[pack] = proof


def record(
    repo: Repository,
    proven: Iterable[tuple[ObjectId, int]],
    *,
    operation: str,
    hostname: str,
    now: datetime,
) -> ObjectId | None:
    """Store one ledger file for the packs ``proven`` (id, bytes) now; None when there is none.

    Raises:
        BackendError: the store refused the write (a read-only credential: the caller says so
            and goes on; the read-back itself stands).
    """
    stamp = now.timestamp()
    proofs = tuple(Proof(pack=p, size=size, time=stamp, host=0) for p, size in proven)
    if not proofs:
        return None
    ledger = LedgerFile(
        time=now, hostname=hostname, operation=operation, hosts=(hostname,), proofs=proofs
    )
    return repo.save_file(ObjectKind.LEDGER, ledger.encode())


def load(repo: Repository, *, now: float | None = None) -> Ledger:
    """The newest proof of every pack (files that do not open are skipped and named).

    A proof dated more than FUTURE_SLACK after ``now`` (this host's clock, Unix seconds;
    default: SystemClock's) was made on a host whose clock was ahead: taken as it is, it would
    count its pack as proven until that date, and coverage would never choose the pack again.
    Such proofs are left out (their packs count as not proven by them) and said in one
    warning line.

    Raises:
        BackendError: storage could not be listed or read.
    """
    out = Ledger(files=sorted(repo.list_files(ObjectKind.LEDGER)))
    files: dict[ObjectId, LedgerFile] = {}
    for oid in out.files:
        try:
            files[oid] = LedgerFile.decode(repo.load_file(ObjectKind.LEDGER, oid))
        except ObjectNotFoundError:
            continue  # removed by a compaction since the listing: its proofs are in the new file
        except (IntegrityError, FormatVersionError) as exc:
            out.unreadable[object_name(ObjectKind.LEDGER, oid)] = str(exc)
    limit = (SystemClock().now().timestamp() if now is None else now) + FUTURE_SLACK
    ahead: dict[str, int] = {}
    for _oid, ledger in live(files):
        for p in ledger.proofs:
            if p.time > limit:
                ahead[ledger.hosts[p.host]] = ahead.get(ledger.hosts[p.host], 0) + 1
                continue
            out.add(p.pack, LastProof(time=p.time, host=ledger.hosts[p.host], size=p.size))
    if ahead:
        log.warning(
            "%d proofs in the verification ledger are dated ahead of this host's clock (by %s, "
            "whose clock was ahead): their packs count as not proven by them",
            sum(ahead.values()),
            ", ".join(sorted(ahead)),
        )
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Compaction:
    """What a compaction did."""

    written: ObjectId | None
    removed: int
    kept_locked: int


def compact(
    repo: Repository,
    gone: set[ObjectId],
    *,
    hostname: str,
    now: datetime,
    check_lease: Callable[[], None],
) -> Compaction:
    """Replace every ledger file by one holding the newest proof of each pack not in ``gone``
    (the packs deleted), sealed under the current key epoch. Nothing is written when the
    ledger is already one readable file of the current epoch naming no pack in ``gone``.
    Called under the maintenance lease (``check_lease`` raises once it is no longer certainly
    held).

    Raises:
        BackendError: storage failed (what was done so far is consistent).
        LeaseLostError: from check_lease, before anything is removed.
    """
    ledger = load(repo, now=math.inf)  # every proof kept, those dated ahead too: they only
    if not ledger.files or (  # do not count (load's readers), they are not thrown away
        len(ledger.files) == 1
        and not ledger.unreadable
        and not gone & set(ledger.proofs)
        and repo.file_epoch(ObjectKind.LEDGER, ledger.files[0]) == repo.config.current_epoch
    ):
        return Compaction(written=None, removed=0, kept_locked=0)
    kept = {pack: p for pack, p in ledger.proofs.items() if pack not in gone}
    hosts = sorted({p.host for p in kept.values()})
    number = {h: i for i, h in enumerate(hosts)}
    proofs = tuple(
        Proof(pack=pack, size=p.size, time=p.time, host=number[p.host])
        for pack, p in sorted(kept.items())
    )
    new = LedgerFile(
        time=now,
        hostname=hostname,
        operation="compaction",
        hosts=tuple(hosts),
        proofs=proofs,
        supersedes=tuple(ledger.files),
    )
    written = repo.save_file(ObjectKind.LEDGER, new.encode())
    crash_point("ledger-after-compaction")
    check_lease()
    old = [oid for oid in ledger.files if oid != written]
    names = [object_name(ObjectKind.LEDGER, oid) for oid in old]
    locked = repo.object_lock.retained_until(names) if repo.object_lock and names else {}
    removed = 0
    for oid, name in zip(old, names, strict=True):
        if name in locked:
            continue
        with contextlib.suppress(ObjectNotFoundError):
            repo.delete_object(ObjectKind.LEDGER, oid)
        removed += 1
    return Compaction(written=written, removed=removed, kept_locked=len(old) - removed)


def covered_by(
    repo: Repository, roots: Iterable[ObjectId], *, since: int = 0
) -> list[tuple[ObjectId, int]]:
    """The packs (id, size) whose every blob the trees under ``roots`` reference: a read-back
    that opened every blob of those trees (a full restore drill that passed) proved each of
    these packs whole, blob by blob. A tree blob counts only where its pack was read from the
    STORE since ``since`` (``repo.tree_reads.mark()`` at the run's start; 0: since the
    repository was opened), never from the local tree-pack cache alone: a cache filled at
    backup time proves nothing of what the store holds. Only a blob's first copy counts (the
    one readers open), and no pack in which a blob failed to open since ``since`` (a reader
    that went on to another copy proved nothing of the damaged one). One walk of the trees
    (its own reads from the store count) and one pass over the index.

    Raises:
        BackendError, IntegrityError: a tree could not be read (nothing is recorded then).
    """
    refs = References(cache_trees=False)
    refs.add_snapshots_trees(repo, roots)
    from_store = repo.tree_reads.since(since)
    failed = repo.tree_reads.failed_since(since)

    def opened(btype: BlobType, bid: ObjectId, pack: ObjectId) -> bool:
        if pack in failed or (btype is BlobType.TREE and pack not in from_store):
            return False
        if bid not in refs.blobs(btype):
            return False
        # only the copy a reader opens (the first, BlobIndex.lookup): a further copy of the
        # blob in another pack was never read
        first = repo.index.lookup(btype, bid)
        return first is not None and first.pack_id == pack

    entries = ((loc.pack_id, opened(t, bid, loc.pack_id)) for t, bid, loc in repo.index.entries())
    return whole_packs(repo.index.packs(), entries)


def whole_packs(
    packs: Iterable[tuple[ObjectId, int]], entries: Iterable[tuple[ObjectId, bool]]
) -> list[tuple[ObjectId, int]]:
    """THE rule of every read-back that opens blobs one by one (restore --verify,
    restore-test, copy): a pack is proven only when every blob in it was read and verified.
    ``entries``: (pack, whether this run opened and checked that blob) for every blob entry
    the index names; ``packs``: (id, size) of the packs to judge. A pack with no entry
    among ``entries`` is not proven (nothing of it was read). "Opened" means from bytes read
    from the store in that run: a tree blob read from the local tree-pack cache alone is not
    (``covered_by``)."""
    partly: set[ObjectId] = set()
    seen: set[ObjectId] = set()
    for pack, opened in entries:
        seen.add(pack)
        if not opened:
            partly.add(pack)
    return [(pack, size) for pack, size in packs if pack in seen and pack not in partly]


def record_covered(
    repo: Repository,
    roots: Iterable[ObjectId],
    *,
    operation: str,
    hostname: str,
    now: datetime,
    since: int = 0,
) -> ObjectId | None:
    """Record the packs ``covered_by`` these trees: for a read-back that opened every blob of
    them (a full drill or a full restore with --verify that passed, nothing skipped), which
    started at ``since`` (``repo.tree_reads.mark()``: its tree packs count only when it read
    them from the store).

    Raises:
        BackendError: the store refused the write; IntegrityError: a tree does not read.
    """
    proven = covered_by(repo, roots, since=since)
    return record(repo, proven, operation=operation, hostname=hostname, now=now)
