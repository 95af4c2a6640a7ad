"""Local cache of the repository index, so "is this blob stored?" needs no network round trip.

One file per repository, ``<cache dir>/<repo id>/index``: nonce | XAES-256-GCM ciphertext | tag,
under the cache subkey and bound to the repository id, written and read as a stream so a large
index is never held twice: a corrupt, truncated or foreign file fails authentication and is
rebuilt from the index files. It records which index files it covers; if any of them has
vanished (prune replaced it) the cache is rebuilt, if new ones appeared only those are read.
Deleting the cache costs time, never data. Files are mode 0600 in a 0700 directory.

A cache that cannot be written (a read-only home, a ``--cache-dir`` this user may not write)
costs time too, never the command: the first failed write is kept in ``CacheWrites`` (the
command says it once) and the session writes nothing more; reads go on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import threading
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import AEADDecryptionContext

from s3vault.crypto import aead
from s3vault.ids import ObjectId
from s3vault.repository.index import BlobIndex

log = logging.getLogger(__name__)

_AAD = b"s3vault-cache-index-v2"  # v2: the image counts further copies of blobs
_BLOCK = 1 << 20


class _DecryptingReader:
    """read(n) over a file of XAES-GCM ciphertext, decrypting as it goes."""

    def __init__(self, f: BinaryIO, dec: AEADDecryptionContext, length: int) -> None:
        self._f, self._dec, self._left = f, dec, length
        self._buf = bytearray()

    def read(self, n: int) -> bytes:
        while len(self._buf) < n and self._left > 0:
            block = self._f.read(min(_BLOCK, self._left))
            if not block:
                break
            self._left -= len(block)
            self._buf += self._dec.update(block)
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def finish(self) -> None:
        """Authenticate everything read (raises InvalidTag) and insist nothing is left."""
        if self._buf or self._left:
            raise ValueError("index cache has trailing bytes")
        self._dec.finalize()


class CacheWrites:
    """Whether this session still writes the cache. The first failure is kept, for the
    command to say once; every later write is skipped (it would fail the same way, each
    costing a system call and a warning)."""

    def __init__(self) -> None:
        self.problem: str | None = None

    @property
    def usable(self) -> bool:
        """No write has failed yet."""
        return self.problem is None

    def failed(self, where: Path, exc: OSError) -> None:
        """Keep the first failure (later ones are the same story)."""
        if self.problem is None:
            self.problem = f"{where}: {exc.strerror or exc}"
            log.info("the cache cannot be written (%s): going on without it", self.problem)


def _discard(path: Path) -> None:
    """Remove a file if it is there; never raises (a read-only cache raises EROFS even for a
    file that was never made)."""
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


class IndexCache:
    """The cached index of one repository."""

    def __init__(
        self, root: Path, repo_id: ObjectId, cache_key: bytes, writes: CacheWrites | None = None
    ) -> None:
        self._dir = root / repo_id.hex()
        self._repo_id = repo_id
        self._key = cache_key
        self._writes = writes or CacheWrites()

    @property
    def path(self) -> Path:
        """The cache file."""
        return self._dir / "index"

    def load(self) -> tuple[set[ObjectId], BlobIndex] | None:
        """The cached (covered index ids, index), or None when missing or unusable."""
        try:
            f = self.path.open("rb")
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.info("cannot read index cache %s: %s", self.path, exc)
            return None
        with f:
            try:
                size = os.fstat(f.fileno()).st_size
                if size < aead.NONCE_SIZE + aead.TAG_SIZE:
                    raise ValueError("index cache too short")
                nonce = f.read(aead.NONCE_SIZE)
                f.seek(size - aead.TAG_SIZE)
                tag = f.read(aead.TAG_SIZE)
                f.seek(aead.NONCE_SIZE)
                dec = aead.stream_decryptor(self._key, nonce, _AAD + self._repo_id, tag)
                reader = _DecryptingReader(f, dec, size - aead.NONCE_SIZE - aead.TAG_SIZE)
                (count,) = struct.unpack("<I", reader.read(4))
                raw = reader.read(32 * count)
                ids = {ObjectId(raw[32 * i : 32 * (i + 1)]) for i in range(count)}
                index = BlobIndex.load_from(reader.read)
                reader.finish()  # nothing built above is used unless this authenticates
            except OSError as exc:
                log.warning("index cache %s cannot be read (%s); rebuilding it", self.path, exc)
                return None
            except (InvalidTag, ValueError, struct.error):  # what is parsed before the tag is
                # checked fails on damage too: one reason for both (InvalidTag says nothing)
                log.warning(
                    "index cache %s does not authenticate (damaged, another repository's, or "
                    "sealed under a master key since rotated by `key rotate-master`, which is "
                    "no damage); rebuilding it",
                    self.path,
                )
                return None
        return ids, index

    def save(self, covered: set[ObjectId], index: BlobIndex) -> None:
        """Replace the cache atomically; failures only cost the next run time."""
        if not self._writes.usable:
            return
        nonce = aead.new_nonce()
        enc = aead.stream_encryptor(self._key, nonce, _AAD + self._repo_id)
        tmp = self._dir / f".index-{os.urandom(6).hex()}"
        try:
            self._dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(nonce)
                f.write(enc.update(struct.pack("<I", len(covered))))
                f.write(enc.update(b"".join(sorted(covered))))
                for piece in index.dump_pieces():
                    f.write(enc.update(piece))
                f.write(enc.finalize())
                f.write(enc.tag)
            tmp.replace(self.path)
        except OSError as exc:
            self._writes.failed(self._dir, exc)
            _discard(tmp)


def write_private(path: Path, data: bytes | memoryview) -> None:
    """Write a private (0600) file under a temporary name, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.parent / f".{path.name}-{os.urandom(4).hex()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        tmp.replace(path)
    finally:
        _discard(tmp)


class TreePackCache:
    """Tree packs kept on local disk: directory listings are needed by every incremental backup,
    restore and verify, and one GET per directory is what makes remote repositories slow.

    Packs are stored whole, checked against their storage id when stored; blobs read from them
    are authenticated as always, so a damaged file is noticed, dropped and fetched again.
    """

    def __init__(self, root: Path, repo_id: ObjectId, writes: CacheWrites | None = None) -> None:
        self._dir = root / repo_id.hex() / "tree"
        self._writes = writes or CacheWrites()

    def _path(self, pack_id: ObjectId) -> Path:
        text = pack_id.hex()
        return self._dir / text[:2] / text

    def read(self, pack_id: ObjectId, offset: int, length: int) -> bytes | None:
        """A byte range of a cached pack, or None when it is not cached."""
        try:
            with self._path(pack_id).open("rb", buffering=0) as f:
                data = os.pread(f.fileno(), length, offset)
        except OSError:
            return None
        return data if len(data) == length else None

    def store(self, pack_id: ObjectId, data: bytes | memoryview) -> None:
        """Keep a pack (atomically; a failure only costs a later download)."""
        path = self._path(pack_id)
        if not self._writes.usable or path.exists():
            return
        try:
            write_private(path, data)
        except OSError as exc:
            self._writes.failed(self._dir, exc)

    def drop(self, pack_id: ObjectId) -> None:
        """Forget a cached pack (it failed authentication)."""
        _discard(self._path(pack_id))


class TreeReads:
    """Which tree packs one opened repository read from the STORE (not from its tree-pack
    cache), in the order it read them: a read-back proves a tree pack only when its bytes came
    from the store during that run (design.md §8c), and a cache filled at backup time proves
    nothing. ``mark()`` at a run's start, ``since(mark)`` at its end: the packs read between,
    less those in which a tree blob failed to open (a reader that went on to another copy
    must not prove the damaged one). Thread-safe; a forked worker's reads are its own (the
    parent's walks are what count)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._packs: dict[ObjectId, int] = {}  # pack → the count at its latest read
        self._failed: dict[ObjectId, int] = {}  # pack → the count at its latest failed blob

    def read(self, pack_id: ObjectId) -> None:
        """``pack_id``'s bytes came from the store now (and were checked: whole against its
        name, or the blob read from it authenticated)."""
        with self._lock:
            self._count += 1
            self._packs[pack_id] = self._count

    def has_failed(self, pack_id: ObjectId) -> bool:
        """Whether a blob of ``pack_id`` failed to open, or the pack did not match its name,
        since the repository was opened."""
        with self._lock:
            return pack_id in self._failed

    def was_read(self, pack_id: ObjectId) -> bool:
        """Whether ``pack_id`` came from the store (checked) since the repository was opened."""
        with self._lock:
            return pack_id in self._packs

    def failed(self, pack_id: ObjectId) -> None:
        """A blob of ``pack_id`` (tree or data) did not open now (from the store or the
        cache): whatever else of it was read, this run proves nothing of it."""
        with self._lock:
            self._count += 1
            self._failed[pack_id] = self._count

    def mark(self) -> int:
        """Where a run starts."""
        with self._lock:
            return self._count

    def failed_since(self, mark: int) -> set[ObjectId]:
        """The packs (tree or data) in which a blob failed to open after ``mark``."""
        with self._lock:
            return {pack for pack, at in self._failed.items() if at > mark}

    def since(self, mark: int) -> set[ObjectId]:
        """The tree packs read from the store after ``mark`` (0: since the repository was
        opened) in which no blob failed to open after it."""
        with self._lock:
            return {
                pack
                for pack, at in self._packs.items()
                if at > mark and self._failed.get(pack, 0) <= mark
            }


class FileCache:
    """Immutable standalone files (snapshots, deletion records) kept on local disk as the
    sealed bytes the repository holds: every backup lists the snapshots to find its parent,
    and a fleet's repository holds thousands. A cached file is checked against its name (its
    storage id) and opened with the repository key exactly like a downloaded one; a damaged
    one is dropped and fetched again."""

    def __init__(self, root: Path, repo_id: ObjectId, writes: CacheWrites | None = None) -> None:
        self._dir = root / repo_id.hex() / "files"
        self._writes = writes or CacheWrites()

    def _path(self, kind: str, oid: ObjectId) -> Path:
        return self._dir / kind / oid.hex()

    def read(self, kind: str, oid: ObjectId) -> bytes | None:
        """The cached sealed bytes, or None."""
        try:
            return self._path(kind, oid).read_bytes()
        except OSError:
            return None

    def store(self, kind: str, oid: ObjectId, sealed: bytes) -> None:
        """Keep a file (atomically; a failure only costs a later download)."""
        if not self._writes.usable:
            return
        try:
            write_private(self._path(kind, oid), sealed)
        except OSError as exc:
            self._writes.failed(self._dir, exc)

    def drop(self, kind: str, oid: ObjectId) -> None:
        """Forget a cached file."""
        _discard(self._path(kind, oid))

    def retain(self, kind: str, ids: set[ObjectId]) -> None:
        """Drop cached files the repository no longer lists (forgotten snapshots)."""
        try:
            names = os.listdir(self._dir / kind)
        except OSError:
            return
        keep = {oid.hex() for oid in ids}
        for name in names:
            if not name.startswith(".") and name not in keep:
                _discard(self._dir / kind / name)
