"""Structure checks (metadata only): key files, index files against the pack listing, snapshots.

Reads every index file itself (never the local cache, which could hide damage) and builds a
fresh BlobIndex from them, which the tree walk then uses. The index is the one per-blob record
kept (about 48 bytes per blob): packs are kept without their entries (PackFacts), and an index
file's decoded entries live only while that file is added.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from s3vault.checker.findings import Finding, Severity
from s3vault.errors import (
    STORE_REFUSALS,
    BackendError,
    FormatVersionError,
    IntegrityError,
    NoSuchBucketError,
    ObjectNotFoundError,
    RevokedWriterError,
)
from s3vault.format.codec import readable
from s3vault.format.keyfile import KeyFile
from s3vault.format.layout import ObjectKind, object_name, parse_name
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId
from s3vault.repository.compactpack import (
    CompactIndexFile,
    CompactPack,
    PackFacts,
    compact_index_file,
)
from s3vault.repository.index import BlobIndex
from s3vault.repository.keyring import check_key_mac
from s3vault.repository.marks import DAMAGED_RECORD_HINT, load_marks, record_name
from s3vault.repository.names import id_in_name, pack_kind, pack_name
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import damaged_snapshot_hint, mistagged
from s3vault.repository.statecheck import StateProblem, state_problems
from s3vault.repository.supersede import live

READ_ATTEMPTS = 5


@dataclass(slots=True)
class Structure:
    """What the structure pass learned, for the read-back and attribution passes."""

    index: BlobIndex = field(default_factory=BlobIndex)
    # trees the store refused or did not give while walked (errors.STORE_REFUSALS): not checked
    refused: dict[str, BackendError] = field(default_factory=dict)
    packs: dict[str, PackFacts] = field(default_factory=dict)  # indexed packs (entries: index)
    listed: dict[str, int] = field(default_factory=dict)  # stored packs and their sizes
    bad_packs: dict[str, str] = field(default_factory=dict)  # every blob lost: name → reason
    pack_notes: dict[str, str] = field(default_factory=dict)  # damaged, but read blob by blob
    snapshots: list[tuple[ObjectId, SnapshotFile]] = field(default_factory=list)
    index_files: int = 0
    # index file → the put-only writers' packs whose entries it gave the index (design.md §6a:
    # what a read-back of them proves of that file; a file naming one another gave is absent)
    put_packs: dict[ObjectId, tuple[ObjectId, ...]] = field(default_factory=dict)
    damaged_records: dict[str, str] = field(default_factory=dict)  # deletion records
    marked: set[str] = field(default_factory=set)  # packs prune marked for deletion


def check_keys(repo: Repository, findings: list[Finding], st: Structure) -> None:
    """Every key file parses, is named by its id and carries a valid MAC. One the store
    refuses or does not give (errors.STORE_REFUSALS) is not checked (``st.refused``), never
    damaged: verify said to remove a key file it could not read; a bucket gone stops it."""
    master = repo.sealer.current
    listed = list(repo.list_objects(ObjectKind.KEYS))
    names = [info.name.rsplit("/", 1)[-1] for info in listed]
    for info in listed:
        try:
            keyfile = KeyFile.decode(repo.read_listed(info))
            if object_name(ObjectKind.KEYS, keyfile.id) != info.name:
                own = object_name(ObjectKind.KEYS, keyfile.id)
                findings.append(_misnamed(readable(info.name), own))
                continue
            if keyfile.repo_id == repo.id and not check_key_mac(keyfile, master):
                msg = "its MAC does not match (modified)"
                raise IntegrityError(msg)
        except NoSuchBucketError:
            raise
        except STORE_REFUSALS as exc:  # not checked, not damage: said at the end
            st.refused[info.name] = exc
        except (IntegrityError, BackendError) as exc:
            findings.append(
                Finding(
                    severity=Severity.ERROR,
                    kind="key-damaged",
                    object=info.name,
                    message=f"key file damaged: {exc}; with another key, `s3vault key remove "
                    f"{readable(_unique_start(info.name.rsplit('/', 1)[-1], names))}` removes it "
                    "(`s3vault key add` for a new password)",
                )
            )


def _misnamed(name: str, own: str) -> Finding:
    """A key file stored under another name than its id's (a copy, a rename, a swap). `key
    remove` knows key files by the id inside, so none is named: it took a good key file for
    such a copy (an attack pass, 2026-12-07). Which of the two to keep is the operator's to
    see: the key opens the repository through either."""
    return Finding(
        severity=Severity.ERROR,
        kind="key-damaged",
        object=name,
        message=f"key file stored under another name: it holds key file {own}. If {own} "
        f"holds the same key, {name} is a copy: move it out of the repository; if there is "
        f"no {own}, rename {name} to it; if {own} holds another key, the two names were "
        "swapped: swap them back",
    )


def _unique_start(name: str, names: list[str]) -> str:
    """The first 8 characters of a key file's name, or as many more as `key remove` needs to
    match it alone: a stray file named like a key's id in capitals began with the same 8
    characters where those were digits (1 id in 43), and the command verify named was
    refused as ambiguous."""
    for length in range(8, len(name)):
        start = name[:length]
        if sum(other.startswith(start) for other in names) == 1:
            return start
    return name


def _list_packs(repo: Repository) -> dict[str, int]:
    listed: dict[str, int] = {}
    for kind in (ObjectKind.DATA, ObjectKind.TREE):
        for info in repo.list_objects(kind):
            if parse_name(info.name) is not None:
                listed[info.name] = info.size
    return listed


def _read_index_files(repo: Repository, st: Structure, findings: list[Finding]) -> None:
    """Every listed index file, then every one a new listing names, until one names none
    unread (Repository.follow_index_listing); a file gone since its listing raises (the
    caller reads again from the start)."""
    files: dict[ObjectId, CompactIndexFile] = {}  # compact: no PackEntry per blob
    repo.follow_index_listing(
        set(repo.list_files(ObjectKind.INDEX)),
        lambda oid: _read_index_file(repo, oid, files, findings),
    )
    _index_read(repo, st, files, findings)


def _read_index_file(
    repo: Repository,
    oid: ObjectId,
    files: dict[ObjectId, CompactIndexFile],
    findings: list[Finding],
) -> None:
    """One index file into ``files``, or a finding when it is damaged."""
    name = object_name(ObjectKind.INDEX, oid)
    try:
        files[oid] = compact_index_file(repo.load_file(ObjectKind.INDEX, oid))
    except ObjectNotFoundError:
        raise  # removed since the listing: a prune replaced it (check_structure retries)
    except (IntegrityError, FormatVersionError, ValueError) as exc:
        fix = (
            "`s3vault prune` removes it; its packs are garbage"  # design.md §6a
            if isinstance(exc, RevokedWriterError)
            else "`s3vault repair index` rebuilds the index from the packs' headers"
        )
        findings.append(
            Finding(
                severity=Severity.ERROR,
                kind="index-damaged",
                object=name,
                message=f"index file damaged: {_reason(exc, name)}; {fix}",
            )
        )


def _index_read(
    repo: Repository,
    st: Structure,
    files: dict[ObjectId, CompactIndexFile],
    findings: list[Finding],
) -> None:
    """The live index files' packs into the structure's index."""
    st.index_files = len(files)
    duplicates = 0
    winners = _settled(repo, files, findings)
    for oid in [oid for oid, _ in live(files)]:
        senders: list[ObjectId] | None = []
        for pack in files.pop(oid).packs:  # each file's entries go once the index holds them
            name = pack.name
            if winners.get(pack.id) is not pack:  # lost a dispute over its sender: forged
                senders = None
                continue
            if name in st.packs:
                senders = None if pack.sender else senders  # its entries were not checked
                continue  # the same pack named by two index files is not a duplicate blob
            if pack.sender and senders is not None:
                senders.append(pack.id)
            st.packs[name] = pack.facts()
            # The index being built answers "stored already?": no per-blob bookkeeping beside it.
            duplicates += sum(1 for t, bid, _n in pack.blobs() if st.index.has(t, bid))
            st.index.add_pack(pack.id, pack.size, pack.index_entries(), pack.epoch, pack.sender)
        if senders:
            st.put_packs[oid] = tuple(senders)
    if duplicates:
        findings.append(
            Finding(
                severity=Severity.INFO,
                kind="duplicate-blobs",
                object="index",
                message=f"{duplicates} extra copies of blobs are stored in other packs "
                "(harmless; prune removes them)",
            )
        )


def _settled(
    repo: Repository, files: dict[ObjectId, CompactIndexFile], findings: list[Finding]
) -> dict[ObjectId, CompactPack]:
    """The one description of each pack that counts: where index files disagree on a pack's
    sender, the one a full key wrote or the pack's header confirms (design.md §6a, as every
    reader settles it); each index file whose description lost is a finding (forged), even
    one a reader of this process was told of before."""
    forged: dict[str, str] = {}

    def told(name: str, reason: str) -> None:
        forged.setdefault(name, reason)

    winners = repo.packs_described(files, told=told)
    findings.extend(
        Finding(severity=Severity.ERROR, kind="index-forged", object=name, message=reason)
        for name, reason in sorted(forged.items())
    )
    return winners


def _add_marked_packs(repo: Repository, st: Structure) -> None:
    """Packs prune has marked for deletion are still readable until they are deleted (a
    snapshot finished by a backup that ran beside the prune may use them)."""
    marks = load_marks(repo)
    for oid, reason in marks.damaged.items():
        st.damaged_records[record_name(oid)] = reason
    for pack, _since in marks.packs.values():
        name = pack_name(pack)
        st.marked.add(name)
        if name in st.packs or name not in st.listed:
            continue  # indexed again, or already deleted
        st.packs[name] = PackFacts(
            id=pack.id, size=pack.size, epoch=pack.epoch, kind=pack_kind(pack)
        )
        st.index.add_indexed_pack(pack)


def check_structure(repo: Repository, findings: list[Finding]) -> Structure:
    """Index files against the stored packs, and every snapshot file.

    Raises:
        BackendError: a listing failed (a failed listing is never read as "no objects").
    """
    for attempt in range(READ_ATTEMPTS):
        st = Structure()
        found: list[Finding] = []
        try:
            # Read order (design.md §11): snapshots, then index files, then the packs, so that
            # a backup running meanwhile (packs → index → snapshot) is never half seen.
            check_keys(repo, found, st)
            _read_snapshots(repo, st, found)
            _read_index_files(repo, st, found)
            st.listed = _list_packs(repo)
            _add_marked_packs(repo, st)
            break
        except ObjectNotFoundError:
            if attempt == READ_ATTEMPTS - 1:
                raise
    findings.extend(found)
    findings.extend(
        Finding(
            severity=Severity.ERROR,
            kind="deletions-damaged",
            object=name,
            message=f"deletion record damaged: {reason}; {DAMAGED_RECORD_HINT}",
        )
        for name, reason in sorted(st.damaged_records.items())
    )
    for name, pack in sorted(st.packs.items()):
        size = st.listed.get(name)
        if size is None:
            st.bad_packs[name] = "pack is missing"
        elif size != pack.size:
            st.bad_packs[name] = f"pack has {size} bytes, the index says {pack.size}"
    _note_temporaries(repo, findings)
    findings.extend(_state_finding(p) for p in state_problems(repo))  # §6a: garbage states
    unreferenced = sorted(set(st.listed) - set(st.packs))
    for name in unreferenced:
        findings.append(
            Finding(
                severity=Severity.INFO,
                kind="pack-unreferenced",
                object=name,
                message=(
                    "pack is in no index (left by an interrupted backup; "
                    "prune removes it, repair index would adopt it)"
                    if id_in_name(ObjectKind(name.partition("/")[0]), name) is not None
                    else "not a name s3vault gives a pack (a pack's folder is the first two "
                    "digits of its id): repair index and prune leave it; remove it by hand"
                ),
            )
        )
    return st


def _state_finding(problem: StateProblem) -> Finding:
    severity = Severity.ERROR if problem.error else Severity.INFO
    kind = "state-garbage" if problem.error else "state-leftover"
    return Finding(severity=severity, kind=kind, object=problem.name, message=problem.reason)


def _note_temporaries(repo: Repository, findings: list[Finding]) -> None:
    """Temporary files that interrupted writes left (never objects): information only."""
    count = size = 0
    for info in repo.list_temporaries():
        count += 1
        size += info.size
    if count:
        findings.append(
            Finding(
                severity=Severity.INFO,
                kind="temporary-files",
                object="(temporary files)",
                message=f"{count} temporary file(s), {size} bytes, left by interrupted writes "
                "(not objects; prune removes those older than its grace period)",
            )
        )


def _read_snapshots(repo: Repository, st: Structure, findings: list[Finding]) -> None:
    for oid in repo.list_files(ObjectKind.SNAPSHOTS):
        name = repo.name_of(ObjectKind.SNAPSHOTS, oid)
        try:
            snap = SnapshotFile.decode(repo.load_file(ObjectKind.SNAPSHOTS, oid))
            st.snapshots.append((oid, snap))
            if mistagged(repo, oid, snap):
                findings.append(_mistagged(name, oid))
        except ObjectNotFoundError:
            continue  # forgotten since the listing
        except NoSuchBucketError:
            raise
        except STORE_REFUSALS as exc:  # not checked, not damage: said at the end
            st.refused[name] = exc
        except (IntegrityError, FormatVersionError, ValueError) as exc:
            findings.append(
                Finding(
                    severity=Severity.ERROR,
                    kind="snapshot-damaged",
                    object=name,
                    message=f"snapshot file damaged: {_reason(exc, name)}; "
                    f"{damaged_snapshot_hint(oid)}",
                    snapshots=(oid.short,),
                )
            )
    st.snapshots.sort(key=lambda item: (item[1].time, item[0]))


def _mistagged(name: str, oid: ObjectId) -> Finding:
    """A snapshot file whose name's group tag is not its content's (renamed in the store): it
    still reads, but backups of its host and paths do not find it as their parent."""
    return Finding(
        severity=Severity.ERROR,
        kind="snapshot-mistagged",
        object=name,
        message="the group tag in the name does not match the snapshot's host and paths "
        "(renamed in the store): its content is intact, but backups of its host and paths "
        f"do not take it as their parent; {damaged_snapshot_hint(oid)}",
        snapshots=(oid.short,),
    )


def _reason(exc: Exception, name: str) -> str:
    """An error's message without the object name the finding already carries."""
    return str(exc).removeprefix(name + ": ")
