"""Reading a pack's own description of itself (design.md §4: the sealed header at its end)."""

from __future__ import annotations

from s3vault.format.envelope import EnvelopeHeader, SealedKind
from s3vault.format.indexfile import IndexedPack
from s3vault.format.layout import parse_name
from s3vault.format.packfile import decode_header, split_trailer
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository
from s3vault.repository.sealer import PACK_HEADER_BINDING

TAIL = 64 * 1024  # one ranged read usually holds the trailer and the whole header


def read_pack_header(repo: Repository, name: str, size: int) -> IndexedPack:
    """A pack's own description of itself, from a ranged read of its tail.

    Raises:
        S3VaultError: the pack or its header cannot be read or authenticated.
    """
    tail = repo.backend.get(name, max(0, size - TAIL))
    hlen = split_trailer(tail)
    if hlen + 4 > len(tail):
        tail = repo.backend.get(name, max(0, size - hlen - 4))
    sealed = tail[len(tail) - 4 - hlen : len(tail) - 4]
    epoch = EnvelopeHeader.decode(sealed).epoch
    entries = decode_header(repo.sealer.open(SealedKind.PACK_HEADER, sealed, PACK_HEADER_BINDING))
    parsed = parse_name(name)
    assert parsed is not None
    return IndexedPack(
        id=ObjectId.from_hex(parsed[1]), size=size, epoch=epoch, entries=tuple(entries)
    )
