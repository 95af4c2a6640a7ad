"""Local cache of the repository index, so "is this blob stored?" needs no network round trip.

One file per repository, ``<cache dir>/<repo id>/index``, sealed with the cache subkey (XAES) and
bound to the repository id: a corrupt, truncated or foreign file fails authentication and is
rebuilt from the index files. It records which index files it covers; if any of them has
vanished (prune replaced it) the cache is rebuilt, if new ones appeared only those are read.
Deleting the cache costs time, never data. Files are mode 0600 in a 0700 directory.
"""

from __future__ import annotations

import logging
import os
import secrets
import struct
from pathlib import Path

from s3vault.crypto import aead
from s3vault.errors import IntegrityError
from s3vault.ids import ObjectId
from s3vault.repository.index import BlobIndex

log = logging.getLogger(__name__)

_AAD = b"s3vault-cache-index-v1"


class IndexCache:
    """The cached index of one repository."""

    def __init__(self, root: Path, repo_id: ObjectId, cache_key: bytes) -> None:
        self._dir = root / repo_id.hex()
        self._repo_id = repo_id
        self._key = cache_key

    @property
    def path(self) -> Path:
        """The cache file."""
        return self._dir / "index"

    def load(self) -> tuple[set[ObjectId], BlobIndex] | None:
        """The cached (covered index ids, index), or None when missing or unusable."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cannot read index cache %s: %s", self.path, exc)
            return None
        try:
            plain = aead.open_(self._key, data[:24], data[24:], _AAD + self._repo_id)
            (count,) = struct.unpack_from("<I", plain)
            ids = {ObjectId(plain[4 + 32 * i : 36 + 32 * i]) for i in range(count)}
            index = BlobIndex.load(plain[4 + 32 * count :])
        except (IntegrityError, ValueError, struct.error) as exc:
            log.warning("index cache %s is damaged (%s); rebuilding it", self.path, exc)
            return None
        return ids, index

    def save(self, covered: set[ObjectId], index: BlobIndex) -> None:
        """Replace the cache atomically; failures only cost the next run time."""
        plain = b"".join([struct.pack("<I", len(covered)), *sorted(covered), index.dump()])
        nonce = aead.new_nonce()
        data = nonce + aead.seal(self._key, nonce, plain, _AAD + self._repo_id)
        try:
            self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = self._dir / f".index-{secrets.token_hex(6)}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            tmp.replace(self.path)
        except OSError as exc:
            log.warning("cannot write index cache in %s: %s", self._dir, exc)
