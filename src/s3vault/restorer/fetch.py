"""Fetch blobs pack by pack: coalesced ranged reads, each blob authenticated and checked
against its id before a single byte of it is handed on."""

from __future__ import annotations

from collections.abc import Iterator

from s3vault.errors import IntegrityError
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from s3vault.repository.index import BlobLocation
from s3vault.repository.repository import Repository

MAX_GAP = 1 << 20  # read through gaps smaller than this rather than issue another request
# One request per pack in the usual case (16 MiB packs): on S3 each request costs a round trip
# and, on the test server, per-request CPU; measured 12 % faster restores than 4 MiB ranges
# through moto. Memory stays bounded: workers × MAX_RANGE.
MAX_RANGE = 16 << 20


def coalesce(
    blobs: list[tuple[ObjectId, BlobLocation]],
) -> list[tuple[int, int, list[tuple[ObjectId, BlobLocation]]]]:
    """Group blobs (sorted by offset) into (start, end, blobs) read ranges."""
    ranges: list[tuple[int, int, list[tuple[ObjectId, BlobLocation]]]] = []
    for bid, loc in sorted(blobs, key=lambda b: b[1].offset):
        end = loc.offset + loc.length
        if ranges:
            start, last_end, group = ranges[-1]
            if loc.offset - last_end <= MAX_GAP and end - start <= MAX_RANGE:
                group.append((bid, loc))
                ranges[-1] = (start, max(end, last_end), group)
                continue
        ranges.append((loc.offset, end, [(bid, loc)]))
    return ranges


def fetch_pack(
    repo: Repository, pack_id: ObjectId, blobs: list[tuple[ObjectId, BlobLocation]]
) -> Iterator[tuple[ObjectId, bytes | IntegrityError]]:
    """Yield (blob id, plaintext) for each wanted blob, or (blob id, error) for a damaged one.

    Raises:
        ObjectNotFoundError, BackendError: the pack cannot be read at all.
    """
    name = object_name(ObjectKind.DATA, pack_id)
    for start, end, group in coalesce(blobs):
        data = repo.backend.get(name, start, end - start)
        view = memoryview(data)
        for bid, loc in group:
            sealed = view[loc.offset - start : loc.offset - start + loc.length]
            try:
                if len(sealed) != loc.length:
                    msg = f"pack {name} is truncated"
                    raise IntegrityError(msg)
                yield (
                    bid,
                    repo.sealer.open_blob(BlobType.DATA, bid, sealed, loc.raw_length, loc.epoch),
                )
            except IntegrityError as exc:
                yield bid, IntegrityError(f"pack {name}: {exc}")
