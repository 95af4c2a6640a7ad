"""Read-back: download packs, check each against its name, its header against the index, and
every blob against its id (decrypt, decompress, re-hash). One pack in memory per worker."""

from __future__ import annotations

from dataclasses import dataclass, field

from s3vault.crypto.hashing import storage_id
from s3vault.errors import BackendError, IntegrityError, S3VaultError
from s3vault.format.envelope import EnvelopeHeader, SealedKind
from s3vault.format.indexfile import IndexedPack
from s3vault.format.packfile import BlobType, decode_header, split_trailer
from s3vault.repository.repository import Repository
from s3vault.repository.sealer import PACK_HEADER_BINDING


@dataclass(slots=True)
class PackReading:
    """The outcome of reading one pack."""

    name: str
    problem: str = ""  # the whole pack is unusable
    bad_blobs: dict[tuple[BlobType, bytes], str] = field(default_factory=dict)
    blobs: int = 0
    size: int = 0


def read_pack(repo: Repository, name: str, pack: IndexedPack) -> PackReading:
    """Read and check one pack completely. Never raises for damage; reports it."""
    out = PackReading(name=name)
    try:
        data = repo.backend.get(name)
    except BackendError as exc:
        out.problem = f"cannot read the pack: {exc}"
        return out
    out.size = len(data)
    if storage_id(data) != pack.id:
        out.problem = "pack content does not match its name (damaged or replaced)"
        return out
    try:
        hlen = split_trailer(data)
        sealed = data[len(data) - 4 - hlen : len(data) - 4]
        if hlen > len(data) - 4 or EnvelopeHeader.decode(sealed).epoch != pack.epoch:
            msg = "pack header is unreadable"
            raise IntegrityError(msg)
        header = decode_header(
            repo.sealer.open(SealedKind.PACK_HEADER, sealed, PACK_HEADER_BINDING)
        )
    except S3VaultError as exc:
        out.problem = f"pack header is damaged: {exc}"
        return out
    if sorted(header, key=lambda e: e.offset) != sorted(pack.entries, key=lambda e: e.offset):
        out.problem = "pack header disagrees with the index"
        return out
    view = memoryview(data)
    for e in header:
        out.blobs += 1
        try:
            repo.sealer.open_blob(
                e.type, e.id, view[e.offset : e.offset + e.length], e.raw_length, pack.epoch
            )
        except IntegrityError as exc:
            out.bad_blobs[(e.type, bytes(e.id))] = str(exc)
    return out
