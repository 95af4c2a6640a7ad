"""Snapshots in a repository: save, load, list, and resolve ``latest`` or an id prefix.

One bad snapshot file never stops the others: a file that does not open (random bytes under a
valid-looking name, a flipped bit, a newer format) is recorded with ``Repository.skip`` and left
out of every listing, so the other snapshots still list, restore and serve as parents. Naming it
explicitly (its id prefix) is an integrity error that says how to remove it.

A snapshot file's name carries its group tag (design.md §2, §8): a keyed hash of its host and
sorted paths, so a backup finds its parent candidates in a listing and reads only those
(``list_snapshots(group=...)``). The name is a hint, never trusted: whoever picks a snapshot
still checks host and paths in its decrypted content, and ``verify`` names a wrong tag.
"""

from __future__ import annotations

import logging
import os
from typing import Literal

from s3vault.clock import SystemClock
from s3vault.crypto.hashing import group_tag
from s3vault.errors import (
    AccessDeniedError,
    ExitCode,
    FormatVersionError,
    IntegrityError,
    ObjectNotFoundError,
    UsageError,
)
from s3vault.format import codec
from s3vault.format.layout import ObjectKind, object_name, snapshot_tag
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.format.tree import find_shown
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository

log = logging.getLogger(__name__)
# What ``latest`` is when a snapshot file that may be the newest was skipped (find_snapshot)
Unsure = Literal["take", "say", "refuse"]
FUTURE_SLACK = 300.0  # seconds a snapshot may be dated ahead of this host's clock unsaid
_MAY_BE_INTACT = "it may well be intact"  # a snapshot file this user may not read


def snapshot_group(repo: Repository, hostname: str, paths: tuple[str, ...]) -> str:
    """The group tag of a host and path set in this repository (the order of paths does not
    matter): what the names of their snapshot files carry."""
    return group_tag(repo.sealer.current.group_key, hostname, paths)


def save_snapshot(repo: Repository, snap: SnapshotFile) -> ObjectId:
    """Store a snapshot, its group tag in its name: the commit point of a backup."""
    tag = snapshot_group(repo, snap.hostname, snap.paths)
    return repo.save_file(ObjectKind.SNAPSHOTS, snap.encode(), tag=tag)


def listed_group(repo: Repository, sid: ObjectId) -> str | None:
    """The group tag in the name a snapshot file was listed under (None: untagged)."""
    return snapshot_tag(repo.name_of(ObjectKind.SNAPSHOTS, sid))


def mistagged(repo: Repository, sid: ObjectId, snap: SnapshotFile) -> bool:
    """Whether a snapshot file's name carries a group tag its content does not have (an
    untagged name, written before tags, is not mistagged)."""
    listed = listed_group(repo, sid)
    return listed is not None and listed != snapshot_group(repo, snap.hostname, snap.paths)


def load_snapshot(repo: Repository, sid: ObjectId) -> SnapshotFile:
    """Load one snapshot."""
    return SnapshotFile.decode(repo.load_file(ObjectKind.SNAPSHOTS, sid))


def damaged_snapshot_hint(sid: ObjectId) -> str:
    """How to get rid of a snapshot file that cannot be read."""
    return f"`s3vault forget {sid.short}` removes it (or `s3vault repair snapshots`)"


def list_snapshots(
    repo: Repository, *, group: str | None = None
) -> list[tuple[ObjectId, SnapshotFile]]:
    """Every readable snapshot, oldest first (with ``group``: only the files whose names carry
    that group tag or none, so the rest are never read; their content is not checked here).
    One removed between the listing and its reading (a concurrent forget) no longer exists;
    one that does not open is skipped and recorded (``repo.skipped``). Storage errors still
    raise: a snapshot is never taken for damaged because the store could not be reached."""
    snaps = []
    for sid in repo.list_files(ObjectKind.SNAPSHOTS):
        if group is not None and listed_group(repo, sid) not in (group, None):
            continue
        try:
            snaps.append((sid, load_snapshot(repo, sid)))
        except ObjectNotFoundError:
            continue
        except (IntegrityError, FormatVersionError) as exc:
            name = repo.name_of(ObjectKind.SNAPSHOTS, sid)
            reason = str(exc).removeprefix(name + ": ")
            repo.skip(name, f"snapshot file skipped: {reason}; {damaged_snapshot_hint(sid)}")
        except AccessDeniedError as exc:  # this one object: the others still list and serve
            name = repo.name_of(ObjectKind.SNAPSHOTS, sid)
            repo.skip(
                name,
                f"snapshot file skipped: {exc}; {_MAY_BE_INTACT}: let this user read it "
                "(do not forget it); until then prune deletes nothing",
            )
    snaps.sort(key=lambda item: (item[1].time, item[0]))
    return snaps


def find_snapshot(
    repo: Repository,
    ref: str,
    *,
    host: str | None = None,
    paths: tuple[str, ...] | None = None,
    snapshots: list[tuple[ObjectId, SnapshotFile]] | None = None,
    say_ahead: bool = True,
    if_unsure: Unsure = "say",
) -> tuple[ObjectId, SnapshotFile]:
    """Resolve ``latest`` or ``latest~N`` (the N-th before it; both optionally of a host and
    path set) or an id prefix. ``say_ahead``: say when ``latest`` is dated ahead of this clock
    (a backup's parent need not be the newest: it is not said every night). ``if_unsure``:
    when a snapshot file was skipped that may be the newest, ``latest`` is the newest that
    opens, and "say" records that as a doubt of the repository's (``Repository.doubts``: the
    command says so and does not exit 0); "refuse" raises instead (a command that changes
    the snapshot it names: never another one than meant); "take" takes it (a backup's
    parent, which need not be the newest).

    Raises:
        UsageError: no snapshot matches, or a prefix is ambiguous.
        IntegrityError, AccessDeniedError: a snapshot file was skipped (damaged, or this user
            may not read it) and none that opens matches ``latest``, or "refuse".
    """
    if not ref:  # an empty prefix matched every snapshot: `restore ""` took the only one
        msg = "no snapshot given: an id (or a unique prefix of one), latest or latest~N"
        raise UsageError(msg)
    snaps = list_snapshots(repo) if snapshots is None else snapshots
    back = _steps_back(ref)
    if back is not None:
        matching = [
            (sid, s)
            for sid, s in snaps
            if (host is None or s.hostname == host)
            and (paths is None or tuple(sorted(s.paths)) == tuple(sorted(paths)))
        ]
        chosen = matching[-1 - back] if len(matching) > back else None
        unseen, denied = unseen_snapshots(repo) if if_unsure != "take" else ([], False)
        # none matches: what was skipped may be the one asked for, if there are enough
        may_be = len(matching) + len(unseen) > back
        if unseen and (
            (chosen is None and may_be) or (chosen is not None and if_unsure == "refuse")
        ):
            msg, code = latest_doubt(ref, chosen[0] if chosen else None, unseen, denied=denied)
            raise (AccessDeniedError if code == ExitCode.FATAL else IntegrityError)(msg)
        if chosen is None:
            msg = f"no snapshot {ref}" if back else "no snapshot found"
            raise UsageError(msg + (f" for host {host}" if host else ""))
        if unseen and if_unsure == "say":
            repo.doubt(*latest_doubt(ref, chosen[0], unseen, denied=denied))
        if say_ahead:
            _say_dated_ahead(ref, matching, chosen)
        return chosen
    given, ref = ref, ref.lower()
    found = [(sid, s) for sid, s in snaps if sid.hex().startswith(ref)]
    if not found:
        prefix = object_name(ObjectKind.SNAPSHOTS, ref)
        damaged = [name for name in repo.skipped if name.startswith(prefix)]
        if len(damaged) == 1:
            msg = f"snapshot {ref} cannot be read: {repo.skipped[damaged[0]]}"
            raise IntegrityError(msg)
        msg = f"no snapshot with id '{codec.readable(given)}'"  # as given: a path keeps its case
        if ":" in given:  # restic 0.16's SNAPSHOT:PATH
            msg += " (SNAPSHOT:PATH is taken by restore, diff and cat tree; ls and dump take PATH)"
        raise UsageError(msg)
    if len(found) > 1:
        msg = f"snapshot id prefix {ref!r} is ambiguous ({len(found)} matches)"
        raise UsageError(msg)
    return found[0]


def unseen_snapshots(repo: Repository) -> tuple[list[str], bool]:
    """The snapshot files skipped that may be any snapshot, the newest included (not one
    refused as a removed key's forgery), and whether every one is a file this user may not
    read. `dump`, `restore` and `restore-test` of "latest" gave an older snapshot's data with
    exit code 0 and one warning when the newest file was damaged or unreadable (an attack
    pass, 2026-12-08). (A file's group tag cannot clear it: --host and --path select snapshots with
    those among their paths, not one path set.)"""
    prefix = ObjectKind.SNAPSHOTS.value + "/"
    revoked = repo.revoked_objects
    unseen = sorted(n for n in repo.skipped if n.startswith(prefix) and n not in revoked)
    return unseen, all(_MAY_BE_INTACT in repo.skipped[n] for n in unseen)


def latest_doubt(
    ref: str, chosen: ObjectId | None, unseen: list[str], *, denied: bool
) -> tuple[str, int]:
    """What ``latest``/``latest~N`` (resolved to ``chosen``, or to nothing) may have wrong
    while the snapshot files ``unseen`` do not open (``denied``: this user may not read any of
    them), and the exit code that means: 1 for files this user may not read, else 13."""
    more = f" (and {len(unseen) - 1} more)" if len(unseen) > 1 else ""
    why = "this user may not read it" if denied else "it does not open"
    taken = f"is {chosen.short}, counted among" if chosen else "matches none of"
    msg = (
        f"{ref} {taken} the snapshots that open: the snapshot file {codec.readable(unseen[0])}"
        f"{more} may be newer ({why}); name a snapshot by its id to be sure which one"
    )
    return msg, ExitCode.FATAL if denied else ExitCode.DAMAGED


def split_subfolder(ref: str) -> tuple[str, str | None]:
    """restic's ``SNAPSHOT:PATH`` (0.16 on): the snapshot's reference and the directory in it,
    or None without one (no snapshot reference holds a colon)."""
    head, colon, path = ref.partition(":")
    return (head, path) if colon else (ref, None)


def directory_tree(repo: Repository, sid: ObjectId, tree: ObjectId, path: str) -> ObjectId:
    """The tree of the directory ``path`` (absolute, as ``ls`` shows it; ``.`` and ``..`` taken
    as restic's path.Clean takes them) below ``tree``, the root of snapshot ``sid``.

    Raises:
        UsageError: ``path`` is not a directory in the snapshot.
        IntegrityError: a tree on the way is damaged or gone (named with its directory).
    """
    parts: list[bytes] = []
    for part in os.fsencode(path).split(b"/"):
        if part == b"..":
            del parts[-1:]
        elif part not in (b"", b"."):
            parts.append(part)
    walked = ""
    for part in parts:
        try:
            node = find_shown(repo.load_tree(tree), part)
        except (IntegrityError, ObjectNotFoundError) as exc:
            msg = (
                f"{codec.readable(walked or '/')} in snapshot {sid.short} cannot be read "
                f"({exc}): `s3vault verify` names the damage and what to run for it"
            )
            raise IntegrityError(msg) from None
        walked += "/" + os.fsdecode(part)
        if node is None or node.subtree is None:
            what = "not in" if node is None else "not a directory in"
            msg = f"{path!r} is {what} snapshot {sid.short}"
            raise UsageError(msg)
        tree = node.subtree
    return tree


def _say_dated_ahead(
    ref: str, matching: list[tuple[ObjectId, SnapshotFile]], chosen: tuple[ObjectId, SnapshotFile]
) -> None:
    """``latest`` is the snapshot with the newest date, as in restic: one that a host whose
    clock was ahead dated in the future stays "latest" until that date, and a restore of
    ``latest`` would restore it instead of the newest backup. Said, with the newest snapshot
    not dated ahead, when the chosen one is dated more than FUTURE_SLACK ahead of this clock."""
    now = SystemClock().now()
    ahead = (chosen[1].time - now).total_seconds()
    if ahead <= FUTURE_SLACK:
        return
    before = [(sid, s) for sid, s in matching if (s.time - now).total_seconds() <= FUTURE_SLACK]
    newest = (
        f"the newest not dated ahead is {before[-1][0].short} of "
        f"{before[-1][1].time.isoformat(timespec='seconds')}"
        if before
        else "every match is dated ahead"
    )
    log.warning(
        "%s is snapshot %s of %s, dated %s, %.0f h ahead of this host's clock (its host's "
        "clock was ahead): %s; name a snapshot by its id to choose another (backup: --parent)",
        ref,
        chosen[0].short,
        chosen[1].hostname,
        chosen[1].time.isoformat(timespec="seconds"),
        ahead / 3600,
        newest,
    )


def _steps_back(ref: str) -> int | None:
    """0 for ``latest``, N for ``latest~N``, None for anything else."""
    head, sep, count = ref.partition("~")
    if head != "latest":
        return None
    if not sep:
        return 0
    if not count.isdigit():
        msg = f"{ref!r}: use latest~N with N a number (latest~1: the one before latest)"
        raise UsageError(msg)
    return int(count)
