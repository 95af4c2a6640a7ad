"""repair packs: salvage damaged packs (restic's ``repair packs``; checker/packsalvage.py)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from s3vault.backend.accounting import RequestCounts
from s3vault.checker.packsalvage import (
    PackSalvage,
    PackTarget,
    drop_from_index,
    rewrite_blobs,
)
from s3vault.checker.repair import Descriptions, read_descriptions
from s3vault.clock import Clock
from s3vault.crashpoint import crash_point
from s3vault.errors import ExitCode, ObjectNotFoundError, UsageError
from s3vault.format.layout import parse_name
from s3vault.ids import ObjectId, unique_prefix
from s3vault.ops.audit import audited
from s3vault.ops.records import refuse_bare_strings
from s3vault.progress import Progress
from s3vault.repository.lease import LeaseSettings, lease_class
from s3vault.repository.repository import Repository


@dataclass(frozen=True, slots=True, kw_only=True)
class RepairPacksOptions:
    """Which packs to repair, and how."""

    packs: tuple[str, ...]  # pack ids or unique prefixes (as `verify` names them)
    save_to: Path | None = None  # keep a copy of each pack as read here before removing it
    dry_run: bool = False  # read and report; write and remove nothing

    def __post_init__(self) -> None:
        refuse_bare_strings(self)  # packs="2" repaired the pack 2e…: an attack pass


@dataclass(frozen=True, slots=True, kw_only=True)
class RepairPacksResult:
    """What repair packs did (with dry_run: would do)."""

    packs: tuple[PackSalvage, ...]
    skipped: tuple[tuple[str, str], ...]  # (pack, why it was left alone)
    saved: tuple[Path, ...]  # the copies kept
    new_index_files: int
    dry_run: bool
    requests: RequestCounts

    @property
    def blobs_lost(self) -> int:
        """Blobs that are gone from the repository: no intact copy anywhere."""
        return sum(len(p.lost) for p in self.packs)

    @property
    def damage_left(self) -> bool:
        """Something is still lost, kept by Object Lock, or (a dry run) not yet repaired."""
        return bool(self.blobs_lost) or any(p.locked_until for p in self.packs)


def repair_packs(
    repo: Repository,
    options: RepairPacksOptions,
    *,
    lease: LeaseSettings | None = None,
    clock: Clock | None = None,
    progress: Progress | None = None,
) -> RepairPacksResult:
    """Salvage the named packs under the maintenance lease (not with dry_run): every blob of
    theirs that reads back intact and that no other pack holds is written into a new pack,
    the index stops naming them, and they are deleted (a copy of each kept in
    ``options.save_to`` first). Blobs that do not read back and have no other copy are lost:
    the result names them; `backup` stores them again where the source still has them,
    `repair snapshots` removes them from the snapshots.

    Raises:
        UsageError: a pack argument is not an id, matches no pack or several, or save_to
            cannot be written or is inside the repository's directory.
        LeaseHeldError: a prune (or another repair) holds the maintenance lease.
        BackendError: storage failed (what was done so far is consistent).
        FormatVersionError: a pack was written by a newer s3vault.
    """
    if not options.packs:
        msg = "repair packs needs the ids of the packs to repair (as `s3vault verify` names them)"
        raise UsageError(msg)
    if options.save_to is not None and not options.dry_run:
        _outside(options.save_to, repo.location)
        _check_writable(options.save_to)
    if options.dry_run:
        return _repair(repo, options, progress, check_lease=None)
    with audited(repo, "repair packs") as note:
        acquire = lease_class(repo).acquire
        with acquire(repo, "repair packs", lease, clock=clock, progress=progress) as held:
            repo = repo.with_index(repo.read_index())  # under the lease: sees what a prune did
            r = _repair(repo, options, progress, check_lease=held.ensure_fresh)
        note.details.update(
            packs=[p.name for p in r.packs],
            rewritten=sum(p.rewritten for p in r.packs),
            blobs_lost=r.blobs_lost,
        )
        if r.damage_left:
            note.found(ExitCode.DAMAGED, "damage left (verify names it)")
    return r


def _repair(
    repo: Repository,
    options: RepairPacksOptions,
    progress: Progress | None,
    *,
    check_lease: Callable[[], None] | None,
) -> RepairPacksResult:
    known = read_descriptions(repo)
    targets, skipped = _targets(repo, options.packs, known)
    saved: list[Path] = []

    def keep(name: str, data: bytes) -> None:
        assert options.save_to is not None
        saved.append(_save(options.save_to, name, data))

    save = keep if options.save_to is not None and not options.dry_run else None
    results = rewrite_blobs(
        repo, targets, known, dry_run=options.dry_run, keep=save, progress=progress
    )
    written = 0
    if not options.dry_run and targets:
        if check_lease is not None:
            check_lease()
        written = len(drop_from_index(repo, {t.id for t in targets}).written)
        if check_lease is not None:
            check_lease()
        _delete(repo, targets, results)
    return RepairPacksResult(
        packs=tuple(results),
        skipped=tuple(skipped),
        saved=tuple(saved),
        new_index_files=written,
        dry_run=options.dry_run,
        requests=repo.requests.snapshot(),
    )


def _targets(
    repo: Repository, refs: tuple[str, ...], known: Descriptions
) -> tuple[list[PackTarget], list[tuple[str, str]]]:
    """The packs the arguments name (a stored pack, or one the index names that the store
    lacks), and those left to prune.

    Raises:
        UsageError: an argument is not an id, or names no pack or several.
    """
    listed = {pid: (info.name, info.size) for pid, info in repo.list_packs().items()}
    for pid, pack in known.current.items():
        if pid not in listed:
            try:
                listed[pid] = (pack.name, repo.stat_object(pack.kind, pid).size)  # listing short
            except ObjectNotFoundError:
                listed[pid] = (pack.name, -1)
    for pid, pack in ((p, d[0]) for p, d in known.described.items() if p in known.marked):
        listed.setdefault(pid, (pack.name, 0))
    by_hex = {pid.hex(): pid for pid in listed}
    targets: dict[ObjectId, PackTarget] = {}
    skipped: list[tuple[str, str]] = []
    for ref in refs:
        pid = by_hex[_resolve(ref, by_hex)]
        name, size = listed[pid]
        if pid in known.marked and pid not in known.current:
            why = "a prune marked it for deletion and will remove it; nothing indexed is there"
            skipped.append((name, why))
            continue
        targets.setdefault(pid, PackTarget(name=name, id=pid, size=size))
    return list(targets.values()), skipped


def _resolve(ref: str, ids: dict[str, ObjectId]) -> str:
    """The one pack id that ``ref`` (an id, a prefix, or a storage name) names.

    Raises:
        UsageError: not hex, no match, or several.
    """
    hint = " (`s3vault list packs` lists them)"
    return unique_prefix(ref, ids, command="repair packs", what="pack", hint=hint)


def _outside(directory: Path, location: str) -> None:
    """Raises UsageError when ``directory`` is in the repository's own directory: the copy
    kept in the pack's folder (the default, the current directory, run from data/xx/) was
    the pack itself, removed after "kept a copy" (an attack pass, 2026-12-07)."""
    if not location.startswith("/"):  # a store, not a directory of this host
        return
    if directory.resolve().is_relative_to(Path(location).resolve()):
        msg = (
            f"repair packs: {str(directory)!r} is inside the repository, where the packs are "
            "removed: give --save-to a directory outside it (or --no-save)"
        )
        raise UsageError(msg)


def _check_writable(directory: Path) -> None:
    """Raises UsageError when copies cannot be kept in ``directory`` (before anything is
    changed)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".s3vault-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        msg = (
            f"repair packs: cannot keep copies of the packs in {str(directory)!r} "
            f"({exc.strerror or exc}); nothing was changed: give a writable --save-to directory"
        )
        raise UsageError(msg) from None


def _save(directory: Path, name: str, data: bytes) -> Path:
    """Keep a copy of a pack as read (written whole, then renamed into place)."""
    target = directory.resolve() / name.rsplit("/", 1)[-1]
    partial = target.with_name(target.name + ".partial")
    with partial.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    partial.replace(target)
    return target


def _delete(repo: Repository, targets: list[PackTarget], results: list[PackSalvage]) -> None:
    """Delete the repaired packs the store has, leaving those Object Lock still keeps."""
    stored = [(t, r) for t, r in zip(targets, results, strict=True) if t.size >= 0]
    locked = (
        repo.object_lock.retained_until([t.name for t, _ in stored])
        if repo.object_lock is not None
        else {}
    )
    crash_point("repair-packs-before-delete")
    for target, result in stored:
        if target.name in locked:
            result.locked_until = locked[target.name]
            continue
        parsed = parse_name(target.name)
        assert parsed is not None
        with contextlib.suppress(ObjectNotFoundError):  # gone already: as good as deleted
            repo.delete_object(parsed[0], target.id)
        result.deleted = True
