"""dump: one file of a snapshot as its bytes, or a directory as a tar or zip archive, written
to a binary stream (the CLI's stdout), as restic's ``dump``.

Streaming in constant memory: a file's blobs are read a few at a time ahead of the writer
(``READ_AHEAD`` blobs, each at most the chunker's maximum), so a 10 GB file costs what a 10 KB
one does. Every file's bytes are checked against its content hash as they stream; a file that
does not match, or a blob that cannot be read, raises once the bytes before it are written (a
stream cannot take back what it sent: the exit code says the output is not to be trusted).
Archives stream too: tar as a pax stream (``tarfile`` mode ``w|``), zip with data descriptors
(``zipfile`` writes to a non-seekable stream) and ZIP64 for big files.
"""

from __future__ import annotations

import logging
import os
import tarfile
import time
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO

from s3vault.crypto.hashing import ContentHasher
from s3vault.errors import IntegrityError, UsageError
from s3vault.format.packfile import BlobType
from s3vault.format.tree import TYPE_BITS, Node, NodeType
from s3vault.ids import ObjectId
from s3vault.ops.ls import LsEntry, clean_path, ls
from s3vault.ops.snapshots import SnapshotFilter
from s3vault.progress import NullProgress, Progress
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import load_snapshot
from s3vault.restorer.plan import unsafe_name

READ_AHEAD = 4
ARCHIVES = ("tar", "zip")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class DumpOptions:
    """What to dump: ``path`` in ``snapshot`` (an id prefix, latest or latest~N); a directory
    (or ``/``) as an ``archive`` (tar or zip)."""

    snapshot: str
    path: str
    archive: str = "tar"
    select: SnapshotFilter = field(default_factory=SnapshotFilter)  # which snapshots latest counts


@dataclass(frozen=True, slots=True, kw_only=True)
class DumpResult:
    """What was written: a file's bytes, or an archive of ``files`` entries."""

    snapshot_id: ObjectId
    archive: str | None  # None: one file's bytes
    files: int
    bytes: int


def dump(
    repo: Repository,
    options: DumpOptions,
    out: BinaryIO,
    *,
    on_error: Callable[[str, str], None] | None = None,
    progress: Progress | None = None,
) -> DumpResult:
    """Write ``options.path`` of the snapshot to ``out``; ``progress`` hears a "dump" phase
    (a file's size is its total; an archive's total is unknown) and the bytes as they go.

    Raises:
        UsageError: unknown snapshot, a path not in it, an unknown archive format, or a path
            that is neither a file nor a directory.
        IntegrityError, ObjectNotFoundError: a blob or a tree cannot be read, or a file's bytes
            do not match its content hash (the bytes before it were written).
    """
    repo = repo.current(ask_the_store=True)  # what was stored since its index was read
    if options.archive not in ARCHIVES:
        msg = f"--archive {options.archive}: use tar or zip"
        raise UsageError(msg)
    path = clean_path(options.path)
    sid, entries = ls(repo, options.snapshot, path, on_error=on_error, select=options.select)
    repo = repo.covering(load_snapshot(repo, sid).tree)  # as ls's: stored since the index read
    progress = progress or NullProgress()
    first = next(entries, None)
    # the path itself, not an entry below it (ls found it as given or as a listing shows it)
    named = first is not None and first.raw.count(b"/") == path.count("/") and path != "/"
    if first is not None and named and first.node.type is not NodeType.DIR:
        if first.node.type is not NodeType.FILE:
            msg = f"{path} is a {first.node.type.value}, not a file: dump its directory"
            raise UsageError(msg)
        progress.started("dump", total_files=1, total_bytes=first.node.size)
        written = _write_file(repo, first.node, out.write, path, progress)
        progress.advanced(files=1, item=path)
        progress.finished("dump")
        return DumpResult(snapshot_id=sid, archive=None, files=1, bytes=written)
    listed = _safe(entries if first is None else _chain([first], entries), path, on_error)
    writer = _write_tar if options.archive == "tar" else _write_zip
    progress.started("dump")
    files, written = writer(repo, listed, out, progress)
    progress.finished("dump")
    return DumpResult(snapshot_id=sid, archive=options.archive, files=files, bytes=written)


def _safe(
    entries: Iterator[LsEntry], top: str, on_error: Callable[[str, str], None] | None
) -> Iterator[LsEntry]:
    """The entries below the dumped path whose names can be a path's part, as restore takes
    them (restorer.plan.unsafe_name): a forged snapshot's ``..`` or ``a/../b`` became an
    archive member that ``tar -P`` extracted outside its directory. Each refused one is said
    (``on_error``), and what is below it is left out with it."""
    refused: list[bytes] = []
    named = os.fsencode(top)  # the dumped directory itself ("/": the root, with no name)
    for entry in entries:
        if any(entry.raw.startswith(prefix) for prefix in refused):
            continue
        why = "" if entry.raw == named else unsafe_name(entry.node.name)
        if why:
            if entry.node.type is NodeType.DIR:
                refused.append(entry.raw + b"/")
            if on_error is not None:
                on_error(entry.path, f"{why}: left out of the archive")
            continue
        yield entry


def _chain(head: list[LsEntry], rest: Iterator[LsEntry]) -> Iterator[LsEntry]:
    yield from head
    yield from rest


def _blobs(repo: Repository, ids: Iterable[ObjectId]) -> Iterator[bytes]:
    """The blobs of ``ids`` in order, READ_AHEAD of them fetched ahead."""
    todo = iter(ids)
    with ThreadPoolExecutor(READ_AHEAD, thread_name_prefix="s3v-dump") as pool:
        ahead: deque[Future[bytes]] = deque()
        try:
            for bid in todo:
                ahead.append(pool.submit(repo.load_blob, BlobType.DATA, bid))
                if len(ahead) >= READ_AHEAD:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()
        finally:
            for fut in ahead:
                fut.cancel()


def _write_file(
    repo: Repository,
    node: Node,
    write: Callable[[bytes], object],
    path: str,
    progress: Progress,
) -> int:
    """Stream one file's bytes through ``write``, checking its content hash; returns its size.

    Raises:
        IntegrityError: the bytes do not match the file's content hash.
    """
    hasher = ContentHasher(repo.sealer.current.id_key)
    size = 0
    for data in _blobs(repo, node.content):
        hasher.update(data)
        write(data)
        size += len(data)
        progress.advanced(bytes_=len(data))
    if node.content_hash is not None and hasher.digest() != node.content_hash:
        msg = f"{path}: the bytes read do not match the file's content hash (damaged)"
        raise IntegrityError(msg)
    if size != node.size:
        msg = f"{path}: the file's data is {size} bytes, its size says {node.size} (damaged)"
        raise IntegrityError(msg)
    return size


class _BlobReader:
    """A file's bytes as a readable stream (what tarfile.addfile reads from)."""

    def __init__(self, repo: Repository, node: Node, path: str, progress: Progress) -> None:
        self._hasher = ContentHasher(repo.sealer.current.id_key)
        self._blobs = _blobs(repo, node.content)
        self._node, self._path = node, path
        self._progress = progress
        self._buffer = memoryview(b"")
        self.delivered = 0

    def read(self, n: int = -1) -> bytes:
        out = bytearray()
        while n < 0 or len(out) < n:
            if not self._buffer:
                data = next(self._blobs, None)
                if data is None:
                    self._check()
                    break
                self._hasher.update(data)
                self._progress.advanced(bytes_=len(data))
                self._buffer = memoryview(data)
            take = len(self._buffer) if n < 0 else min(n - len(out), len(self._buffer))
            out += self._buffer[:take]
            self._buffer = self._buffer[take:]
        self.delivered += len(out)
        return bytes(out)

    def finish(self) -> None:
        """tarfile reads exactly the node's size and never to the end, where ``read`` checks
        the content hash: read what is left (nothing, or the file is damaged) and check.

        Raises:
            IntegrityError: more bytes than the size, or a content hash that does not match.
        """
        if self.read(-1):
            msg = f"{self._path}: the file's data is longer than its size (damaged)"
            raise IntegrityError(msg)

    def _check(self) -> None:
        expected = self._node.content_hash
        if expected is not None and self._hasher.digest() != expected:
            msg = f"{self._path}: the bytes read do not match the file's content hash (damaged)"
            raise IntegrityError(msg)


def _member(entry: LsEntry) -> str:
    """The archive name of an entry: its path in the snapshot without the leading "/" (as GNU
    tar stores absolute paths), so extracting never writes outside the current directory; the
    stored bytes (odd bytes pass as surrogates, written back as they were)."""
    return os.fsdecode(entry.raw).lstrip("/")


class _ZipMember(zipfile.ZipInfo):
    """A zip entry named by its stored bytes, as restic's zip names it: UTF-8 (and flagged so)
    when they are, else the bytes as they are (read as CP437, zip's other encoding). zipfile
    writes any name that is not ASCII as UTF-8, so two names that differ in a byte that is no
    UTF-8 (f\\xe9 stored, and a file literally named "f\\xe9") became one member twice, and
    extracting kept one of them. By its bytes, each member's name is its own."""

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:  # (zipfile's own name for it)
        raw = os.fsencode(self.filename)
        try:
            raw.decode()
        except UnicodeDecodeError:
            return raw, self.flag_bits & ~_ZIP_UTF8
        return raw, self.flag_bits | (_ZIP_UTF8 if not raw.isascii() else 0)


_ZIP_UTF8 = 0x800  # general purpose flag bit 11: the name is UTF-8


def _xattr_headers(entry: LsEntry) -> dict[str, str]:
    """The entry's extended attributes as pax records. A pax keyword is UTF-8 text: a name
    that is no UTF-8 cannot be one, and is said (it was left out without a word, and names
    that are UTF-8 but not ASCII with it: an attack pass, 2026-12-07)."""
    headers = {}
    for key, value in entry.node.xattrs:
        try:
            headers["SCHILY.xattr." + key.decode()] = os.fsdecode(value)
        except UnicodeDecodeError:
            log.warning(
                "%s: extended attribute %s left out of the tar: its name is no UTF-8, which "
                "a tar header cannot hold (restore and mount keep it)",
                entry.path,
                key.decode("utf-8", "backslashreplace"),
            )
    return headers


def _tar_info(entry: LsEntry, name: str) -> tarfile.TarInfo:
    node = entry.node
    info = tarfile.TarInfo(name)
    info.mode = node.mode & 0o7777
    info.uid, info.gid = node.uid, node.gid
    info.uname, info.gname = node.user, node.group
    info.mtime = node.mtime_ns // 1_000_000_000
    kinds = {
        NodeType.DIR: tarfile.DIRTYPE,
        NodeType.SYMLINK: tarfile.SYMTYPE,
        NodeType.FIFO: tarfile.FIFOTYPE,
        NodeType.CHARDEV: tarfile.CHRTYPE,
        NodeType.BLOCKDEV: tarfile.BLKTYPE,
    }
    info.type = kinds.get(node.type, tarfile.REGTYPE)
    # extended attributes as GNU tar and restic write them (tar --xattrs reads them)
    info.pax_headers = _xattr_headers(entry)
    if node.type is NodeType.FILE:
        info.size = node.size
    elif node.type is NodeType.SYMLINK:
        info.linkname = os.fsdecode(node.link_target or b"")
    elif node.type in (NodeType.CHARDEV, NodeType.BLOCKDEV):
        fits = 0 <= node.rdev < 1 << 64  # a dev_t; no Linux device has more than 20-bit parts
        if fits:
            info.devmajor, info.devminor = os.major(node.rdev), os.minor(node.rdev)
        if not fits or max(info.devmajor, info.devminor) > TAR_DEVICE_MAX:
            msg = f"{entry.path}: device number {node.rdev:#x} does not fit a tar header"
            raise IntegrityError(msg)
    return info


TAR_DEVICE_MAX = 0o7777777  # a tar header's major and minor fields (7 octal digits)


def _write_tar(
    repo: Repository, entries: Iterable[LsEntry], out: BinaryIO, progress: Progress
) -> tuple[int, int]:
    files = written = 0
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            if entry.node.type is NodeType.SOCKET:
                continue  # tar has no sockets (restic leaves them out too)
            info = _tar_info(entry, _member(entry))
            if entry.node.type is NodeType.FILE:
                reader = _BlobReader(repo, entry.node, entry.path, progress)
                try:
                    tar.addfile(info, reader)
                except OSError:
                    if reader.delivered < entry.node.size:  # tarfile: "unexpected end of data"
                        msg = f"{entry.path}: the file's data is shorter than its size (damaged)"
                        raise IntegrityError(msg) from None
                    raise
                reader.finish()
                written += entry.node.size
            else:
                tar.addfile(info)
            files += 1
            progress.advanced(files=1, item=entry.path)
    return files, written


def _write_zip(
    repo: Repository, entries: Iterable[LsEntry], out: BinaryIO, progress: Progress
) -> tuple[int, int]:
    files = written = 0
    sink = _Severable(out)
    with (
        zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf,
        sink.cut_on_error(),
    ):
        for entry in entries:
            node = entry.node
            name = _member(entry) + ("/" if node.type is NodeType.DIR else "")
            info = _ZipMember(name, _zip_time(node.mtime_ns))
            kind = TYPE_BITS[node.type]  # a FIFO, device or socket too, as restic's zip
            info.external_attr = (kind | node.mode & 0o7777) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            if node.type not in (NodeType.FILE, NodeType.SYMLINK):
                zf.writestr(info, b"")  # a directory, FIFO, device or socket: its mode says which
            elif node.type is NodeType.SYMLINK:
                zf.writestr(info, node.link_target or b"")
            else:
                with (
                    zf.open(info, mode="w", force_zip64=node.size >= 1 << 31) as member,
                    sink.cut_on_error(),
                ):
                    written += _write_file(repo, node, member.write, entry.path, progress)
            files += 1
            progress.advanced(files=1, item=entry.path)
    return files, written


class _Severable:
    """A zip's output, cut at an error: writes after it go nowhere. Closing a member and the
    archive on the way out of an error writes the member's end and the central directory,
    which made a zip cut short by damage test whole (`unzip -t`: "No errors detected"), its
    damaged file short and the files after it missing (an attack pass, 2026-12-08)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._cut = False

    @contextmanager
    def cut_on_error(self) -> Iterator[None]:
        """Cut the output if the block raises (entered after what it must cut)."""
        try:
            yield
        except BaseException:
            self._cut = True
            raise

    def write(self, data: bytes) -> int:
        if self._cut:
            return len(data)
        return self._out.write(data)

    def tell(self) -> int:
        return self._out.tell()

    def seekable(self) -> bool:
        return self._out.seekable()

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._out.seek(offset, whence)

    def flush(self) -> None:
        if not self._cut:
            self._out.flush()

    def close(self) -> None:
        """The output stays open: its owner closes it (a ZipFile never closes a stream it
        was given)."""


def _zip_time(mtime_ns: int) -> tuple[int, int, int, int, int, int]:
    """A zip entry's local time (zip cannot say years before 1980 or after 2107)."""
    try:
        t = time.localtime(mtime_ns // 1_000_000_000)
    except (OverflowError, OSError, ValueError):  # a forged or damaged node's time
        return (1980, 1, 1, 0, 0, 0)
    if t.tm_year < 1980:
        return (1980, 1, 1, 0, 0, 0)
    if t.tm_year > 2107:
        return (2107, 12, 31, 23, 59, 58)
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)
