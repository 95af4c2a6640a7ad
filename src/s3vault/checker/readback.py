"""Read-back: download packs, check each against its name, its header against the index, and
every blob against its id (decrypt, decompress, re-hash). One pack in memory per worker."""

from __future__ import annotations

from dataclasses import dataclass, field

from s3vault.crypto.hashing import storage_id
from s3vault.errors import (
    STORE_REFUSALS,
    BackendError,
    IntegrityError,
    NoSuchBucketError,
    S3VaultError,
)
from s3vault.format.envelope import EnvelopeHeader, SealedKind
from s3vault.format.indexfile import IndexedPack
from s3vault.format.layout import ObjectKind
from s3vault.format.packfile import BlobType, decode_header, split_trailer
from s3vault.ids import ObjectId
from s3vault.repository.names import pack_kind
from s3vault.repository.repository import Repository
from s3vault.repository.sealer import PACK_HEADER_BINDING

HEADER_DISAGREES = "pack header disagrees with the index"  # checker.py words the repair


@dataclass(slots=True)
class PackReading:
    """The outcome of reading one pack."""

    name: str
    problem: str = ""  # what is wrong with the pack as a whole
    unreadable: bool = False  # it could not be fetched at all: every blob in it is lost
    # the store refused it or did not answer (not: it is gone): no evidence of damage
    refused: BackendError | None = None
    bad_blobs: dict[tuple[BlobType, bytes], str] = field(default_factory=dict)
    blobs: int = 0
    size: int = 0


def fetch_pack(repo: Repository, kind: ObjectKind, pack_id: ObjectId) -> bytes:
    """A pack's bytes (the download; ``check_pack`` is the CPU's part).

    Raises:
        BackendError: it cannot be read.
    """
    return repo.read_object(kind, pack_id)


def unreadable(name: str, exc: BackendError) -> PackReading:
    """The reading of a pack that could not be fetched at all: gone or not served as stored
    (damage), or refused by a store that would not give it or did not answer (``refused``:
    the pack was not checked; errors.STORE_REFUSALS).

    Raises:
        NoSuchBucketError: ``exc`` is one: no repository there any more, nothing is damaged,
            and the check stops (exit 10) instead of reading every other pack.
    """
    if isinstance(exc, NoSuchBucketError):
        raise exc
    refused = exc if isinstance(exc, STORE_REFUSALS) else None
    return PackReading(
        name=name, problem=f"cannot read the pack: {exc}", unreadable=True, refused=refused
    )


def read_pack(repo: Repository, name: str, pack: IndexedPack, *, again: bool = True) -> PackReading:
    """Read and check one pack completely. Never raises for damage; reports it. With
    ``again``, a pack that fails its checks is read once more and that reading stands: bytes
    damaged on their way (a flipped bit in transit, which not every store's GET carries a
    checksum for) read right the second time; only a pack read wrong twice is damage."""
    reading = _read(repo, name, pack)
    if again and damaged(reading):
        reading = _read(repo, name, pack)
    return reading


def damaged(reading: PackReading) -> bool:
    """The pack was read and failed a check (not: it could not be read)."""
    return not reading.unreadable and bool(reading.problem or reading.bad_blobs)


def _read(repo: Repository, name: str, pack: IndexedPack) -> PackReading:
    try:
        data = fetch_pack(repo, pack_kind(pack), pack.id)
    except BackendError as exc:
        return unreadable(name, exc)
    return check_pack(repo, name, pack, data)


def check_pack(repo: Repository, name: str, pack: IndexedPack, data: bytes) -> PackReading:
    """Check a pack's bytes against its name, its header against the index, and every blob
    against its id. Never raises for damage; reports it.

    A pack whose content does not match its name, whose header is damaged or which is shorter
    than indexed is still read blob by blob at the places the index gives: only the blobs that
    fail are lost, and the findings say exactly which.
    """
    out = PackReading(name=name)
    out.size = len(data)
    notes = []
    if storage_id(data) != pack.id:
        notes.append("pack content does not match its name (damaged or replaced)")
    entries = list(pack.entries)
    sender = pack.sender  # a put-only writer's pack (design.md §6a): also in its header
    try:
        hlen = split_trailer(data)
        sealed = data[len(data) - 4 - hlen : len(data) - 4]
        envelope = EnvelopeHeader.decode(sealed)
        if hlen > len(data) - 4 or envelope.epoch != pack.epoch:
            msg = "unreadable"
            raise IntegrityError(msg)
        sender = sender or envelope.sender
        header = decode_header(
            repo.sealer.open(SealedKind.PACK_HEADER, sealed, PACK_HEADER_BINDING)
        )
        if sorted(header, key=lambda e: e.offset) != sorted(entries, key=lambda e: e.offset):
            notes.append(HEADER_DISAGREES)
    except S3VaultError as exc:
        notes.append(f"pack header is damaged ({exc})")
    view = memoryview(data)
    for e in entries:
        out.blobs += 1
        try:
            piece = view[e.offset : e.offset + e.length]
            if len(piece) != e.length:
                msg = "pack is too short for this blob"
                raise IntegrityError(msg)
            repo.sealer.open_blob(e.type, e.id, piece, e.raw_length, pack.epoch, sender)
        except IntegrityError as exc:
            out.bad_blobs[(e.type, bytes(e.id))] = str(exc)
    out.problem = "; ".join(notes)
    return out
