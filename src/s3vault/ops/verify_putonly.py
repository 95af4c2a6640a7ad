"""verify with a put-only key (design.md §6a, "`verify` with a put-only key"): the structure
checks a backup host can make of what it may see, without reading any data.

    config  the config's view opened and its σ signature checked (when the repository opened)
    views   LIST index/ and views/; GET and open every view of a listed index file, its σ
            signature checked with the Σ the key file pins; a view of an index file that is
            not listed is a leftover (prune deletes it), not damage
    packs   LIST data/ and tree/ (no pack GET): every pack an endorsed view names is stored with
            the size it gives; then LIST index/ again, so that a view whose index file a prune
            removed meanwhile does not count
    state   this key's newest state opens (from the store, not the host's cache) and names a
            snapshot the store lists; it holds every tree of that snapshot
    audit   the names of its host's audit chain: seq runs 1, 2, 3... without a gap or a fork
            (the records are sealed to the repository: their links a full key checks)

It writes nothing: no ledger file (it proves no pack), no audit record, no cache file; the store
is byte for byte as before. Reading the data (--read-data, a subset, --coverage) is refused
with ``PutOnlyKeyError`` (exit 12): it needs a full key. Damage (a missing or truncated pack, a
view that does not open or is not signed by the repository, a gap in the audit chain) is an
error finding, as verify's; what the key cannot see (the data, index files, snapshots and
trees, packs put-only writers stored) is named in ``not_checked``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from s3vault.backend.accounting import RequestCounts
from s3vault.backend.base import ObjectInfo
from s3vault.checker.findings import Finding, Severity
from s3vault.clock import Clock, SystemClock
from s3vault.errors import (
    FormatVersionError,
    IntegrityError,
    ObjectNotFoundError,
    PutOnlyKeyError,
    UsageError,
)
from s3vault.format.dedupview import DedupView, ViewPack
from s3vault.format.hoststatefile import HostStateFile
from s3vault.format.layout import ObjectKind, object_name, within_layout
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from s3vault.ops.audit import measured
from s3vault.ops.verify import VerifyOptions
from s3vault.progress import NullProgress, Progress
from s3vault.repository import views
from s3vault.repository.putrepo import PutOnlyRepository
from s3vault.repository.putstate import load_state, lost_packs, snapshot_trees

NOT_CHECKED = (
    "the data: no pack was read (a full key's `s3vault verify --read-data` reads every blob)",
    "index files, snapshots and trees: they are sealed to the repository (this host's own "
    "trees excepted, in its state)",
    "packs that other put-only keys stored and no full key's read-back has proven yet: no "
    "endorsed view names them (this host's own packs of its last backup are checked against "
    "the listing, by the names and sizes its state records)",
    "the audit records' contents and links: sealed (a full key's `s3vault audit` checks them)",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class StructureCheck:
    """One check a put-only verify made: its name (config, views, packs, state, audit), whether
    it found damage, and the line that says what it saw."""

    name: str
    ok: bool
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PutOnlyVerifyResult:
    """What a put-only verify found. ``ok`` is False when any finding is an error."""

    ok: bool
    host: str  # the host the key writes for
    checks: tuple[StructureCheck, ...]
    findings: tuple[Finding, ...]
    index_files: int  # listed
    views: int  # endorsed views that opened and were signed by the repository
    packs: int  # packs those views name (each checked against the listing)
    pack_bytes: int  # their size, as the views give it
    state_snapshot: ObjectId | None  # the snapshot this key's newest state names
    audit_records: int  # names in its host's audit chain
    not_checked: tuple[str, ...]
    total_duration: float
    requests: RequestCounts


def verify_put_only(
    put: PutOnlyRepository,
    options: VerifyOptions | None = None,
    *,
    progress: Progress | None = None,
    clock: Clock | None = None,
) -> PutOnlyVerifyResult:
    """Check what a put-only host may see (module docstring); reads no pack and writes
    nothing. Its error count is the run's ``verify_problems`` metric.

    Raises:
        PutOnlyKeyError: ``options`` ask to read the data (it needs a full key).
        UsageError: --budget without --coverage.
        BackendError: storage could not be listed.
    """
    options = options or VerifyOptions()
    _refuse_reading(put, options)
    clock = clock or SystemClock()
    progress = progress or NullProgress()
    t0 = clock.monotonic()
    findings: list[Finding] = []
    checks = [_config_check(put)]
    seen = _check_views(put, findings, progress)
    checks += seen.checks
    state, state_check = _check_state(put, findings)
    records, audit_check = _check_audit(put, findings)
    own_check, unchecked = _check_own_packs(put, state, seen.stored, findings)
    checks += [state_check, own_check, audit_check]
    errors = sum(f.severity is Severity.ERROR for f in findings)
    measured("verify", verify_problems=float(errors), verify_coverage_ratio=0.0)
    return PutOnlyVerifyResult(
        ok=not errors,
        host=put.host,
        checks=tuple(checks),
        findings=tuple(findings),
        index_files=seen.index_files,
        views=seen.views,
        packs=seen.packs,
        pack_bytes=seen.pack_bytes,
        state_snapshot=state.snapshot if state is not None else None,
        audit_records=records,
        not_checked=NOT_CHECKED + unchecked,
        total_duration=clock.monotonic() - t0,
        requests=put.requests.snapshot() if put.requests is not None else RequestCounts(),
    )


def _refuse_reading(put: PutOnlyRepository, options: VerifyOptions) -> None:
    """Reading the data back needs a full key: one line that names it (exit 12)."""
    if options.budget is not None and options.coverage is None:
        msg = "--budget goes with --coverage"
        raise UsageError(msg)
    asked = [
        flag
        for flag, given in (
            ("--read-data", options.read_data),
            ("--read-data-subset", bool(options.read_data_subset)),
            ("--coverage", options.coverage is not None),
        )
        if given
    ]
    if asked:
        msg = (
            f"verify {' '.join(asked)} reads the data, which put-only key "
            f"{put.keyfile.id.short} (host {put.host}) cannot decrypt: this needs a full key "
            "(a password, recovery or KMS key); without it, verify with this key checks the "
            "structure it may see"
        )
        raise PutOnlyKeyError(msg)


def _config_check(put: PutOnlyRepository) -> StructureCheck:
    """The config's view was opened and its signature checked when the repository opened
    (repository/putrepo.py: a forged view stops there, exit 13)."""
    c = put.config
    return StructureCheck(
        name="config",
        ok=True,
        message=f"config: its view opens and is signed by the repository (format version "
        f"{c.version}, key epoch {c.current_epoch})",
    )


@dataclass(slots=True)
class _Seen:
    """What the views and packs checks counted, and their lines."""

    index_files: int = 0
    views: int = 0
    packs: int = 0
    pack_bytes: int = 0
    checks: list[StructureCheck] = field(default_factory=list)
    stored: dict[str, tuple[str, int]] = field(default_factory=dict)  # the listing of packs


def _tail(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _listed_index_ids(put: PutOnlyRepository) -> set[str]:
    listed = put.backend.list(ObjectKind.INDEX.value + "/")
    return {_tail(i.name) for i in listed if within_layout(ObjectKind.INDEX, i.name)}


def _listed_views(put: PutOnlyRepository) -> list[ObjectInfo]:
    """The views listed, by name; names nested deeper (views/sub/…: a stray, another
    repository's) are not ours: they were reported as damaged views (an attack pass)."""
    listed = put.backend.list(ObjectKind.VIEWS.value + "/")
    return sorted(
        (i for i in listed if within_layout(ObjectKind.VIEWS, i.name)), key=lambda i: i.name
    )


def _open_view(put: PutOnlyRepository, sealed: bytes, index_id: ObjectId) -> DedupView:
    """An endorsed view of index file ``index_id``, with this key's V_e and pinned Σ.

    Raises:
        IntegrityError, FormatVersionError: as ``views.open_endorsed``.
    """
    keys = {e: k.view for e, k in put.payload.epochs.items()}
    return views.open_endorsed(
        sealed,
        repo_id=put.id,
        view_keys=keys,
        signing_public=put.signing_public,
        index_id=index_id,
    )


def _check_views(put: PutOnlyRepository, findings: list[Finding], progress: Progress) -> _Seen:
    """The views of listed index files open and are signed; the packs they name are stored
    with the sizes they give."""
    listed = _listed_index_ids(put)
    opened: dict[str, DedupView] = {}
    leftovers = damaged = other = 0
    fetch: list[tuple[str, str, ObjectId]] = []  # (name, index id, its ObjectId)
    for info in _listed_views(put):
        index_id = _tail(info.name)
        oid = _oid(index_id)
        if oid is None or index_id not in listed:
            leftovers += 1
            findings.append(_leftover(info.name))
        else:
            fetch.append((info.name, index_id, oid))
    progress.started("verify (put-only): views", total_files=len(fetch))
    for name, index_id, oid in fetch:
        try:
            opened[index_id] = _open_view(put, put.backend.get(name), oid)
        except ObjectNotFoundError:
            continue  # removed since the listing (prune)
        except FormatVersionError as exc:  # version 1 (a prune replaces it) or newer: no damage
            other += 1
            findings.append(_other_version(name, str(exc)))
        except IntegrityError as exc:
            damaged += 1
            findings.append(_damaged_view(name, str(exc)))
        finally:
            progress.advanced(files=1, item=name)
    progress.finished("verify (put-only): views")
    without = len(listed) - len(opened) - damaged - other
    stored = _listed_packs(put)
    still = _listed_index_ids(put)  # a prune that ran meanwhile: its removed files' views
    opened = {i: v for i, v in opened.items() if i in still}  # name packs it may have deleted
    seen = _Seen(index_files=len(listed), views=len(opened), stored=stored)
    msg = (
        f"views: {_plural(len(opened), 'endorsed view')} of "
        f"{_plural(len(listed), 'listed index file')} "
        + ("opens and is" if len(opened) == 1 else "open and are")
        + " signed by the repository"
    )
    if damaged:
        msg += f"; {damaged} do not (damaged or forged)"
    if other:
        msg += f"; {other} of another version, not used (version 1: a full key's prune replaces it)"
    if without > 0:
        msg += f"; {without} index file(s) have none (put-only writers' index files)"
    if leftovers:
        msg += f"; {leftovers} leftover view(s) of index files no longer listed"
    seen.checks.append(StructureCheck(name="views", ok=not damaged, message=msg))
    _check_packs(opened, stored, seen, findings)
    return seen


def _check_packs(
    opened: dict[str, DedupView],
    stored: dict[str, tuple[str, int]],
    seen: _Seen,
    findings: list[Finding],
) -> None:
    """Every pack an opened view names against the listing (its name → size)."""
    bad: dict[str, str] = {}
    named: dict[str, int] = {}
    for index_id, view in sorted(opened.items()):
        for pack in view.packs:
            hexid = pack.id.hex()
            named.setdefault(hexid, pack.size)
            listed = stored.get(hexid)
            name = listed[0] if listed is not None else _pack_name(pack)
            if listed is None:
                why = f"pack is missing (the endorsed view of index file {index_id[:8]} names it)"
            elif listed[1] != pack.size:
                why = (
                    f"pack has {listed[1]} bytes, the endorsed view of index file "
                    f"{index_id[:8]} says {pack.size}"
                )
            else:
                continue
            bad.setdefault(name, why)
    for name, why in sorted(bad.items()):
        findings.append(
            Finding(
                severity=Severity.ERROR,
                kind="pack-damaged",
                object=name,
                message=f"{why}; a full key's `s3vault verify` names the snapshots and paths "
                "it costs and what to run",
            )
        )
    seen.packs, seen.pack_bytes = len(named), sum(named.values())
    others = len(set(stored) - set(named))
    msg = (
        f"packs: {len(named) - len(bad)} of {_plural(len(named), 'pack')} the views name "
        f"({seen.pack_bytes} bytes) are stored with the sizes they give"
    )
    if bad:
        msg += f"; {len(bad)} missing or of another size"
    if others:
        msg += f"; {others} other stored pack(s) are named by no endorsed view (not checked)"
    seen.checks.append(StructureCheck(name="packs", ok=not bad, message=msg))


def _pack_name(pack: ViewPack) -> str:
    """A pack's storage name, its kind from its blobs (a pack holds one kind)."""
    tree = any(t is BlobType.TREE for t, _ in pack.blobs)
    return object_name(ObjectKind.TREE if tree else ObjectKind.DATA, pack.id)


def _listed_packs(put: PutOnlyRepository) -> dict[str, tuple[str, int]]:
    """Every stored pack: id hex → (name, size). One listing, no pack read."""
    return {
        _tail(i.name): (i.name, i.size)
        for kind in (ObjectKind.DATA, ObjectKind.TREE)
        for i in put.backend.list(kind.value + "/")
    }


def _check_state(
    put: PutOnlyRepository, findings: list[Finding]
) -> tuple[HostStateFile | None, StructureCheck]:
    """This key's newest state, from the store (never the host's cache: the store is what is
    checked). A state that does not open is passed over, as a backup passes it over: it may be
    another key file's of this host (re-installed); a backup then reads files again, no data is
    lost."""
    skipped: list[tuple[str, str]] = []
    state = load_state(replace(put, cache_dir=None), on_skip=lambda n, r: skipped.append((n, r)))
    findings.extend(
        Finding(
            severity=Severity.INFO,
            kind="state-skipped",
            object=name,
            message=f"state passed over: {reason} (a state of another key file of this host, "
            "or damaged: the next backup compares with an older state or reads every file)",
        )
        for name, reason in skipped
    )
    if state is None:
        what = "none of this key's names a stored snapshot" if skipped else "none stored yet"
        return None, StructureCheck(
            name="state",
            ok=True,
            message=f"state: {what} (the next backup reads every file)",
        )
    try:
        trees = len(snapshot_trees(state.tree, state.trees))
    except (IntegrityError, FormatVersionError) as exc:
        findings.append(
            Finding(
                severity=Severity.ERROR,
                kind="state-damaged",
                object=f"{ObjectKind.STATE.value}/{put.payload.audit_tag}/",
                message=f"this key's newest state is incomplete: {exc}; `s3vault backup "
                "--force` on this host stores a whole new one",
                snapshots=(state.snapshot.short,),
            )
        )
        return state, StructureCheck(
            name="state", ok=False, message="state: this key's newest state is incomplete"
        )
    return state, StructureCheck(
        name="state",
        ok=True,
        message=f"state: this key's newest state opens and names snapshot "
        f"{state.snapshot.short} of {state.time}, which is stored; it holds its "
        f"{_plural(trees, 'tree')}",
    )


def _check_own_packs(
    put: PutOnlyRepository,
    state: HostStateFile | None,
    stored: dict[str, tuple[str, int]],
    findings: list[Finding],
) -> tuple[StructureCheck, tuple[str, ...]]:
    """The host's own packs its newest state names (those holding its last snapshot's blobs)
    against the listing ``_check_views`` made: each stored with the size the state gives.
    Returns the check and what it could not check (a state that names no packs)."""
    if state is None or state.packs is None:
        why = "no state of this key is in use" if state is None else "its state names none"
        line = (
            f"this host's own packs: not checked ({why}: states written by s3vault before "
            "2026-12-05 do not record them; the next backup's state does)"
        )
        return StructureCheck(name="own-packs", ok=True, message=line), (line,)
    sizes = {k: size for k, (_, size) in stored.items()}
    lost = lost_packs(state, sizes)
    for pack, why in sorted(lost.items(), key=lambda p: p[0].hex()):
        own = state.packs[pack]
        name = stored[pack.hex()][0] if pack.hex() in stored else _own_name(pack, own.blobs)
        findings.append(
            Finding(
                severity=Severity.ERROR,
                kind="pack-damaged",
                object=name,
                message=f"pack of this host's last backup {why} (its state names it for "
                f"{len(own.blobs)} blob(s) of snapshot {state.snapshot.short}); this host's "
                "next backup stores those blobs again, a full key's `s3vault verify` names "
                "the snapshots and paths it costs and what to run",
                snapshots=(state.snapshot.short,),
            )
        )
    total = len(state.packs)
    msg = (
        f"own packs: {total - len(lost)} of the {_plural(total, 'pack')} this host's last "
        "backup uses are stored with the sizes its state records"
    )
    if lost:
        msg += f"; {len(lost)} missing or of another size"
    return StructureCheck(name="own-packs", ok=not lost, message=msg), ()


def _own_name(pack: ObjectId, blobs: Iterable[tuple[BlobType, ObjectId]]) -> str:
    """A pack's storage name, its kind from its blobs (a pack holds one kind)."""
    tree = any(t is BlobType.TREE for t, _ in blobs)
    return object_name(ObjectKind.TREE if tree else ObjectKind.DATA, pack)


def _check_audit(put: PutOnlyRepository, findings: list[Finding]) -> tuple[int, StructureCheck]:
    """The names of its host's audit chain: seq 1, 2, 3... without a gap."""
    prefix = f"{ObjectKind.AUDIT.value}/{put.payload.audit_tag}/"
    seqs = sorted(s for s in (_seq(i.name) for i in put.backend.list(prefix)) if s is not None)
    problems = list(_chain_problems(seqs))
    findings.extend(
        Finding(
            severity=Severity.ERROR,
            kind="audit-chain",
            object=prefix,
            message=f"host {put.host}'s audit chain: {p} (`s3vault audit` with a full key "
            "shows the records)",
        )
        for p in problems
    )
    if not seqs:
        return 0, StructureCheck(name="audit", ok=True, message="audit: no records yet")
    shape = "numbered without a gap" if not problems else "; ".join(problems)
    repeats = len(seqs) - len(set(seqs))
    if repeats:  # their links are sealed: `s3vault audit` tells a fork from two runs at once
        shape += f", {_plural(repeats, 'number')} used twice (two runs appending at once)"
    return len(seqs), StructureCheck(
        name="audit",
        ok=not problems,
        message=f"audit: host {put.host}'s chain has {_plural(len(seqs), 'record')}, {shape} "
        "(their links are sealed: a full key's `s3vault audit` checks them)",
    )


def _chain_problems(seqs: Iterable[int]) -> Iterable[str]:
    """Gaps (deleted records) in sorted sequence numbers. A number used twice is no problem
    by names alone: two runs of the host appending at once do that (repository/audit.py)."""
    expected = 1
    for seq in seqs:
        if seq > expected:
            missing = f"{expected}" if seq == expected + 1 else f"{expected}-{seq - 1}"
            yield f"record(s) {missing} missing (deleted)"
        expected = max(expected, seq + 1)


def _seq(name: str) -> int | None:
    seq, dash, _ = _tail(name).partition("-")
    return int(seq) if dash and seq.isdigit() else None


def _oid(text: str) -> ObjectId | None:
    try:
        return ObjectId.from_hex(text)
    except UsageError:
        return None


def _leftover(name: str) -> Finding:
    return Finding(
        severity=Severity.INFO,
        kind="view-leftover",
        object=name,
        message="view of an index file that is not listed (superseded; prune deletes it)",
    )


def _damaged_view(name: str, reason: str) -> Finding:
    return Finding(
        severity=Severity.ERROR,
        kind="view-damaged",
        object=name,
        message=f"endorsed view does not open: {reason}; put-only hosts pass it over and store "
        "the blobs it names again (nothing is lost); a full key's `s3vault verify` checks the "
        "index file itself",
    )


def _other_version(name: str, reason: str) -> Finding:
    return Finding(
        severity=Severity.INFO,
        kind="view-other-version",
        object=name,
        message=f"endorsed view not used: {reason}",
    )


def _plural(n: int, word: str) -> str:
    """``1 pack``, ``2 packs``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
