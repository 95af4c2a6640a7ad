"""repair packs: salvage the intact blobs of named packs into new packs, then take those packs
out of the index and out of the store. Plan, then execute.

    1. each named pack is read whole. Its blobs are those its own header lists and those any
       index file places there (a damaged header leaves the index files' word, as in repair
       index); each is opened (decrypt, decompress, compare its id)
    2. a blob that opens is written again into a new pack under the current key epoch, unless
       another pack already holds it; a blob that does not open is lost unless another pack
       holds it (that copy is then the one readers use)
    3. the new packs and their index file are stored first; then every live index file that
       names a repaired pack is superseded by one without it; only then is the pack deleted
       (unless Object Lock still keeps it: it stays unindexed, and prune deletes it later)

A kill at any point leaves a consistent repository: before step 3's index files, the index
names both the old and the new copies (readers take either; the old one is still there);
after them, the old pack is an unindexed leftover that prune deletes. A pack only a deletion
record names is left to prune, which already removes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from s3vault.checker.repair import Descriptions
from s3vault.crashpoint import crash_point
from s3vault.crypto.hashing import storage_id
from s3vault.errors import FormatVersionError, IntegrityError, ObjectNotFoundError
from s3vault.format.layout import ObjectKind, object_name, parse_name
from s3vault.format.packfile import BlobType, PackEntry
from s3vault.ids import ObjectId
from s3vault.progress import NullProgress, Progress
from s3vault.repository.compactpack import CompactIndexFile, compact_index_file, encode_compact
from s3vault.repository.index import BlobIndex
from s3vault.repository.packheader import pack_header
from s3vault.repository.repository import Repository
from s3vault.repository.supersede import live
from s3vault.repository.writer import BlobWriter

BlobKey = tuple[BlobType, ObjectId]


@dataclass(frozen=True, slots=True, kw_only=True)
class PackTarget:
    """A pack to repair: its name, id and size (size -1: the store does not have it)."""

    name: str
    id: ObjectId
    size: int


@dataclass(slots=True, kw_only=True)
class PackSalvage:
    """One repaired pack and what became of its blobs."""

    name: str
    problem: str  # what is wrong with it ("" when every blob read back)
    blobs: int = 0  # blobs it holds, by its header and the index files
    rewritten: int = 0  # read back intact, written into a new pack
    copies: int = 0  # another pack holds them: nothing to write
    lost: tuple[BlobKey, ...] = ()  # neither intact here nor stored anywhere else
    deleted: bool = False
    locked_until: float = 0.0  # Object Lock keeps the old pack until then


def _entries(
    repo: Repository, target: PackTarget, data: bytes | None, known: Descriptions
) -> tuple[list[PackEntry], int | None, str]:
    """The pack's entries (its header's and the index files'), the epoch they are sealed
    under, and what is wrong with its header ("" when it reads)."""
    described = known.entries(target.id)
    epoch = known.described[target.id][0].epoch if described else None
    if data is None:
        return described, epoch, "pack is missing"
    try:
        header = pack_header(repo, target.name, data, len(data))
    except (IntegrityError, FormatVersionError) as exc:
        if isinstance(exc, FormatVersionError) and storage_id(data) == target.id:
            raise  # the pack as written, by a newer s3vault: left alone
        # (a "newer version" in a pack whose bytes changed is damage)
        if not described:
            return [], None, f"pack header unreadable ({exc}) and no index file describes it"
        return described, epoch, f"pack header unreadable ({exc})"
    listed = set(header.entries)
    return [*header.entries, *(e for e in described if e not in listed)], header.epoch, ""


def salvage(
    repo: Repository,
    target: PackTarget,
    known: Descriptions,
    writer: BlobWriter | None,
    keep: Callable[[str, bytes], None] | None = None,
) -> PackSalvage:
    """Read one pack and open each of its blobs; ``writer`` (None: a dry run) stores each
    intact blob that no other pack holds; ``keep`` gets the pack's bytes as read (a copy for
    the operator). ``repo.index`` is the current index.

    Raises:
        FormatVersionError: the pack was written by a newer s3vault (nothing is decided).
        BackendError: the pack could not be read (a missing pack is not an error).
    """
    data: bytes | None = None
    if target.size >= 0:
        try:
            parsed = parse_name(target.name)
            assert parsed is not None
            data = repo.read_object(parsed[0], target.id)
        except ObjectNotFoundError:
            data = None
    if data is not None and keep is not None:
        keep(target.name, data)
    entries, epoch, problem = _entries(repo, target, data, known)
    result = PackSalvage(name=target.name, problem=problem, blobs=len(entries))
    lost: list[BlobKey] = []
    bad = 0
    for e in dict.fromkeys(entries):
        elsewhere = any(loc.pack_id != target.id for loc in repo.index.locations(e.type, e.id))
        plaintext = _open(repo, data, e, epoch)
        if plaintext is None:
            bad += 1
        if elsewhere:
            result.copies += 1
        elif plaintext is None:
            lost.append((e.type, e.id))
        else:
            result.rewritten += 1
            if writer is not None:
                writer.save(e.type, plaintext, e.id)
    result.lost = tuple(lost)
    if bad and not result.problem:
        verb = "does" if bad == 1 else "do"
        result.problem = f"{bad} of its {len(entries)} blobs {verb} not read back"
    return result


def _open(repo: Repository, data: bytes | None, e: PackEntry, epoch: int | None) -> bytes | None:
    """The blob's plaintext, or None when it is not there intact."""
    if data is None or epoch is None or e.offset + e.length > len(data):
        return None
    piece = memoryview(data)[e.offset : e.offset + e.length]
    try:
        return repo.sealer.open_blob(e.type, e.id, piece, e.raw_length, epoch)
    except (IntegrityError, FormatVersionError):  # in a damaged pack, a "newer" blob is damage
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexRewrite:
    """The index files rewritten without the repaired packs."""

    written: tuple[ObjectId, ...]
    removed: tuple[ObjectId, ...]


def drop_from_index(repo: Repository, packs: set[ObjectId]) -> IndexRewrite:
    """Supersede every live index file that names one of ``packs`` by one without them, then
    remove the old files (those Object Lock still keeps stay, superseded, for prune). A file
    that cannot be read is left alone (repair index is the tool for it).

    Raises:
        BackendError: storage failed (what was written so far is consistent).
    """
    files: dict[ObjectId, CompactIndexFile] = {}
    for oid in sorted(repo.list_files(ObjectKind.INDEX)):
        try:
            files[oid] = compact_index_file(repo.load_file(ObjectKind.INDEX, oid))
        except (IntegrityError, ObjectNotFoundError, ValueError):
            continue
    written: list[ObjectId] = []
    removed: list[ObjectId] = []
    for oid, ifile in live(files):
        if not any(p.id in packs for p in ifile.packs):
            continue
        kept = [p for p in ifile.packs if p.id not in packs]
        written.append(repo.save_file(ObjectKind.INDEX, encode_compact(kept, (oid,))))
        removed.append(oid)
    crash_point("repair-packs-after-index")
    names = {oid: object_name(ObjectKind.INDEX, oid) for oid in removed}
    locked = repo.object_lock.retained_until(list(names.values())) if repo.object_lock else {}
    removed = [oid for oid in removed if names[oid] not in locked]  # superseded: prune's later
    for oid in removed:
        try:
            repo.delete_object(ObjectKind.INDEX, oid)
        except ObjectNotFoundError:
            continue
    return IndexRewrite(written=tuple(written), removed=tuple(removed))


def rewrite_blobs(
    repo: Repository,
    targets: list[PackTarget],
    known: Descriptions,
    *,
    dry_run: bool,
    keep: Callable[[str, bytes], None] | None = None,
    progress: Progress | None = None,
) -> list[PackSalvage]:
    """Salvage every target (``keep``: see salvage); unless ``dry_run``, the intact blobs are
    in new, indexed packs when this returns.

    Raises:
        BackendError: storage failed (nothing was taken out of the index).
    """
    progress = progress or NullProgress()
    writer = None if dry_run else repo.copy_writer(BlobIndex())
    progress.started("salvaging packs", total_files=len(targets))
    results = []
    for target in targets:
        results.append(salvage(repo, target, known, writer, keep))
        progress.advanced(files=1, bytes_=max(0, target.size), item=target.name)
    if writer is not None:
        writer.flush()
    progress.finished("salvaging packs")
    crash_point("repair-packs-after-write")
    return results
