"""Reading a pack's own description of itself (design.md §4: the sealed header at its end),
and, when that description is lost, checking blobs where another description places them."""

from __future__ import annotations

from collections.abc import Iterable

from s3vault.errors import IntegrityError
from s3vault.format.envelope import EnvelopeHeader, SealedKind
from s3vault.format.indexfile import IndexedPack
from s3vault.format.layout import parse_name
from s3vault.format.packfile import PackEntry, decode_header, split_trailer
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository
from s3vault.repository.sealer import PACK_HEADER_BINDING

TAIL = 64 * 1024  # one ranged read usually holds the trailer and the whole header


def read_pack_header(repo: Repository, name: str, size: int) -> IndexedPack:
    """A pack's own description of itself, from a ranged read of its tail.

    Raises:
        IntegrityError: the header cannot be read or authenticated (damaged, truncated).
        FormatVersionError: the header was written by a newer s3vault.
        BackendError: the pack could not be read (ObjectNotFoundError: it is gone).
    """
    tail = repo.backend.get(name, max(0, size - TAIL))
    hlen = split_trailer(tail)
    if hlen + 4 > size:
        msg = f"the trailer gives a header of {hlen} bytes in a pack of {size}"
        raise IntegrityError(msg)
    if hlen + 4 > len(tail):
        tail = repo.backend.get(name, max(0, size - hlen - 4))
    return pack_header(repo, name, tail, size)


def pack_header(repo: Repository, name: str, tail: bytes, size: int) -> IndexedPack:
    """The header of pack ``name`` (``size`` bytes) from ``tail``, its last bytes (the whole
    pack will do).

    Raises:
        IntegrityError: the header cannot be read or authenticated (damaged, truncated).
        FormatVersionError: the header was written by a newer s3vault.
    """
    hlen = split_trailer(tail)
    if hlen + 4 > min(size, len(tail)):
        msg = f"the trailer gives a header of {hlen} bytes in a pack of {size}"
        raise IntegrityError(msg)
    sealed = tail[len(tail) - 4 - hlen : len(tail) - 4]
    envelope = EnvelopeHeader.decode(sealed)
    entries = decode_header(repo.sealer.open(SealedKind.PACK_HEADER, sealed, PACK_HEADER_BINDING))
    parsed = parse_name(name)
    assert parsed is not None
    return IndexedPack(
        id=ObjectId.from_hex(parsed[1]),
        size=size,
        epoch=envelope.epoch,
        entries=tuple(entries),
        sender=envelope.sender,  # a put-only writer's pack (design.md §6a)
    )


def check_blobs(
    repo: Repository, name: str, entries: Iterable[PackEntry], epoch: int, sender: bytes = b""
) -> dict[PackEntry, str]:
    """Read the pack once and open every blob where ``entries`` place it (decrypt, decompress,
    compare the id). Returns the entries whose blob does not open, with the reason; a blob
    that opens is proven intact whatever the rest of the pack looks like.

    Raises:
        BackendError: the pack could not be read (ObjectNotFoundError: it is gone).
    """
    data = memoryview(repo.backend.get(name))
    bad: dict[PackEntry, str] = {}
    for e in entries:
        piece = data[e.offset : e.offset + e.length]
        if len(piece) != e.length:
            bad[e] = f"the pack ends at byte {len(data)}, before this blob's end"
            continue
        try:
            repo.sealer.open_blob(e.type, e.id, piece, e.raw_length, epoch, sender)
        except IntegrityError as exc:
            bad[e] = str(exc)
    return bad
