"""Prune's tidying of what put-only hosts use (design.md §6a): dedup views and host states.

- ``views/<index id>``: the view of an index file goes when the index file does. Prune deletes
  the views of the index files it supersedes (after it deleted them), and views whose index
  file is not listed and that are older than the grace period (left by a crash, or by a prune
  before this one existed); a younger one may belong to an index file being written.
- ``state/<host tag>/<seq>-<id>``: each put-only key keeps its newest state (the highest seq
  under its host's tag among the states that open with that key: a full key derives every
  writer's secret, and tries the put-only key files whose host the tag names) and every state
  younger than the grace period, so that a host whose backup is in flight, or whose newest
  state was written after prune listed, never loses its parent. The rest go once older than
  the grace, garbage too: a name whose seq is not 1 to 10 digits, or an object that opens
  with no such key, is never counted as newest (a put-only host may PUT under any host's
  tag). Finding a key's newest GETs the states from the highest seq down until every key of
  the tag has one (one GET per host, normally; one more per garbage object above it).

Liveness of blobs is unchanged: a state's blobs are exactly its snapshot's (every tree of the
snapshot and the data blobs they name), and a host trusts a state only while its snapshot is
listed (repository/putstate.py ``load_state``), so snapshots already keep alive every blob a
host deduplicates against; a forgotten snapshot's state makes the host read every file again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from s3vault.backend.base import ObjectInfo
from s3vault.errors import FormatVersionError, IntegrityError, ObjectNotFoundError
from s3vault.format import PUT_ONLY_FORMAT
from s3vault.format.keyfile import KeyFile
from s3vault.format.layout import ObjectKind
from s3vault.ids import ObjectId
from s3vault.repository import hoststate, keyring
from s3vault.repository.audit import host_tag
from s3vault.repository.putstate import state_seq
from s3vault.repository.repository import Repository

STATES = ObjectKind.STATE.value + "/"


@dataclass(slots=True)
class PutSide:
    """Views and states prune removes (names)."""

    views: list[str] = field(default_factory=list)  # orphaned views, old enough
    superseded_views: list[str] = field(default_factory=list)  # of the index files it removes
    states: list[str] = field(default_factory=list)


def plan_put_side(
    repo: Repository, *, now: float, grace: float, index_files: list[ObjectId]
) -> PutSide:
    """What to remove, given the index files listed when planning (all superseded by the
    prune's new index files). Lists ``views/`` and ``state/``, in format version 2 only
    (version 1 has neither: no request is made)."""
    out = PutSide()
    if repo.config.version < PUT_ONLY_FORMAT:
        return out
    superseded = {oid.hex() for oid in index_files}
    for info in repo.list_objects(ObjectKind.VIEWS):
        if info.name.rsplit("/", 1)[-1] in superseded:
            out.superseded_views.append(info.name)
        elif now - info.modified >= grace:  # a younger one: perhaps an index file being written
            out.views.append(info.name)
    hosts: dict[str, list[ObjectInfo]] = {}
    for info in repo.list_objects(ObjectKind.STATE):
        hosts.setdefault(info.name[len(STATES) :].partition("/")[0], []).append(info)
    keys = writer_keys(repo) if hosts else {}
    for tag, infos in hosts.items():
        newest = {n for n, _ in newest_states(repo, tag, infos, keys.get(tag, []))}
        out.states += [  # the newest stay, and so does any younger than the grace
            i.name for i in infos if i.name not in newest and now - i.modified >= grace
        ]
    return out


def writer_keys(repo: Repository) -> dict[str, list[bytes]]:
    """The put-only key files listed, by the host tag of their host: tag → key ids. A key file
    that does not parse, is of another repository or whose MAC is not this repository's
    lends no key."""
    key = repo.sealer.current
    out: dict[str, list[bytes]] = {}
    for info in repo.list_objects(ObjectKind.KEYS):
        try:
            keyfile = KeyFile.decode(repo.read_listed(info))
        except (ObjectNotFoundError, IntegrityError, FormatVersionError):
            continue
        if not keyfile.put_only or keyfile.repo_id != repo.id:
            continue
        if not keyring.check_key_mac(keyfile, key):
            continue
        out.setdefault(host_tag(repo, keyfile.host), []).append(bytes(keyfile.id))
    return out


def newest_states(
    repo: Repository, tag: str, infos: list[ObjectInfo], keys: list[bytes]
) -> list[tuple[str, bytes]]:
    """The newest state of each key in ``keys`` among ``infos`` (the names under ``tag``):
    (name, key id) pairs. Opens from the highest seq down, until each key has one."""
    named = sorted(
        ((seq, i.name) for i in infos if (seq := state_seq(i.name)) is not None), reverse=True
    )
    left = list(keys)
    found: list[tuple[str, bytes]] = []
    for seq, name in named:
        if not left:
            break
        key_id = opening_key(repo, tag, seq, name, left)
        if key_id is not None:
            found.append((name, key_id))
            left.remove(key_id)
    return found


def opening_key(repo: Repository, tag: str, seq: int, name: str, keys: list[bytes]) -> bytes | None:
    """The key among ``keys`` whose state ``name`` (at ``<tag>/<seq>``) is: it opens with
    that writer's secret; None if it opens with none (garbage) or is gone."""
    try:
        sealed = repo.backend.get(name)
    except ObjectNotFoundError:
        return None
    for key_id in keys:
        try:
            hoststate.open_state_full(repo.sealer.current, key_id, sealed, host_tag=tag, seq=seq)
        except IntegrityError:
            continue
        return key_id
    return None


def drop_locked(side: PutSide, locked: dict[str, float]) -> None:
    """Object Lock: what is still locked stays for a later prune, and so does the view of an
    index file that stays (locked)."""
    kept = {n.rsplit("/", 1)[-1] for n in locked if n.startswith(ObjectKind.INDEX.value + "/")}
    side.superseded_views = [n for n in side.superseded_views if n.rsplit("/", 1)[-1] not in kept]
    side.views = [n for n in side.views if n not in locked]
    side.superseded_views = [n for n in side.superseded_views if n not in locked]
    side.states = [n for n in side.states if n not in locked]
