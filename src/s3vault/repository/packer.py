"""PackWriter: gathers sealed blobs of one type into a pack (design.md §4)."""

from __future__ import annotations

from s3vault.crypto.hashing import storage_id
from s3vault.format.envelope import SealedKind
from s3vault.format.packfile import TRAILER, BlobType, PackEntry, encode_header
from s3vault.ids import ObjectId
from s3vault.repository.sealer import PACK_HEADER_BINDING, Sealer


class PackWriter:
    """An open pack. Not thread-safe: the BlobWriter serialises access."""

    def __init__(self, btype: BlobType, sealer: Sealer) -> None:
        self.type = btype
        self._sealer = sealer
        self.epoch = sealer.epoch
        self._buf = bytearray()
        self.entries: list[PackEntry] = []

    @property
    def size(self) -> int:
        """Bytes of blobs so far."""
        return len(self._buf)

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, bid: ObjectId, sealed: bytes, raw_length: int) -> None:
        """Append a sealed blob."""
        self.entries.append(
            PackEntry(
                type=self.type,
                id=bid,
                offset=len(self._buf),
                length=len(sealed),
                raw_length=raw_length,
            )
        )
        self._buf += sealed

    def finish(self) -> tuple[ObjectId, bytes]:
        """Seal the header, append it and the trailer; returns (pack id, pack bytes)."""
        header = self._sealer.seal(
            SealedKind.PACK_HEADER, encode_header(self.entries), PACK_HEADER_BINDING
        )
        self._buf += header
        self._buf += TRAILER.pack(len(header))
        data = bytes(self._buf)
        self._buf = bytearray()
        return storage_id(data), data
