"""Fetch blobs pack by pack: coalesced ranged reads, each blob authenticated and checked
against its id before a single byte of it is handed on.

Reading and opening are separate steps so that the restorer can keep more reads in flight
(network latency) than it runs decoders (CPU, bounded by the interpreter lock)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from s3vault.errors import IntegrityError
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from s3vault.repository.index import BlobLocation
from s3vault.repository.repository import Repository

MAX_GAP = 1 << 20  # read through gaps smaller than this rather than issue another request


LOCAL_RANGE = 4 << 20  # a local read costs no round trip: small ranges keep memory low


def max_range(pack_size: int, *, remote: bool = True) -> int:
    """The longest read. Remote (S3): a whole pack in the usual case (one request per pack, each
    a round trip), including a pack that its last blob took past the target size. Local: 4 MiB
    (as fast, and a third of the memory). Memory stays bounded: reads in flight × this."""
    return pack_size + (pack_size >> 1) if remote else LOCAL_RANGE


@dataclass(frozen=True, slots=True)
class PackRange:
    """One ranged read of a pack and the blobs it covers, sorted by offset."""

    pack_id: ObjectId
    start: int
    end: int
    blobs: tuple[tuple[ObjectId, BlobLocation], ...]

    @property
    def name(self) -> str:
        return object_name(ObjectKind.DATA, self.pack_id)


def coalesce(
    pack_id: ObjectId, blobs: list[tuple[ObjectId, BlobLocation]], limit: int
) -> list[PackRange]:
    """Group a pack's wanted blobs into read ranges of at most ``limit`` bytes (a blob longer
    than that gets a range of its own)."""
    groups: list[tuple[int, int, list[tuple[ObjectId, BlobLocation]]]] = []
    for bid, loc in sorted(blobs, key=lambda b: b[1].offset):
        end = loc.offset + loc.length
        if groups:
            start, last_end, group = groups[-1]
            if loc.offset - last_end <= MAX_GAP and end - start <= limit:
                group.append((bid, loc))
                groups[-1] = (start, max(end, last_end), group)
                continue
        groups.append((loc.offset, end, [(bid, loc)]))
    return [PackRange(pack_id, start, end, tuple(group)) for start, end, group in groups]


def read_range(repo: Repository, r: PackRange) -> bytes:
    """The bytes of one range.

    Raises:
        ObjectNotFoundError, BackendError: the pack cannot be read.
    """
    return repo.read_object(ObjectKind.DATA, r.pack_id, r.start, r.end - r.start)


def open_range(
    repo: Repository, r: PackRange, data: bytes
) -> Iterator[tuple[ObjectId, bytes | IntegrityError]]:
    """Yield (blob id, plaintext) for each blob of a range read, or (blob id, error) for a
    damaged one (including one cut off by a truncated pack)."""
    view = memoryview(data)
    for bid, loc in r.blobs:
        sealed = view[loc.offset - r.start : loc.offset - r.start + loc.length]
        try:
            if len(sealed) != loc.length:
                msg = f"pack {r.name} is truncated"
                raise IntegrityError(msg)
            yield (
                bid,
                repo.sealer.open_blob(
                    BlobType.DATA, bid, sealed, loc.raw_length, loc.epoch, loc.sender
                ),
            )
        except IntegrityError as exc:
            yield bid, IntegrityError(f"pack {r.name}: {exc}")
