"""Prune's tidying of what put-only hosts use (design.md §6a): dedup views and host states.

- ``views/<index id>``: the view of an index file goes when the index file does. Prune deletes
  the views of the index files it supersedes (after it deleted them), and views whose index
  file is not listed and that are older than the grace period (left by a crash, or by a prune
  before this one existed); a younger one may belong to an index file being written.
- ``state/<host tag>/<seq>-<id>``: each host keeps its newest state (the highest seq under its
  tag) and every state younger than the grace period, so that a host whose backup is in flight,
  or whose newest state was written after prune listed, never loses its parent. The rest go.

Liveness of blobs is unchanged: a state's blobs are exactly its snapshot's (every tree of the
snapshot and the data blobs they name), and a host trusts a state only while its snapshot is
listed (repository/putstate.py ``load_state``), so snapshots already keep alive every blob a
host deduplicates against; a forgotten snapshot's state makes the host read every file again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from s3vault.backend.base import ObjectInfo
from s3vault.format import PUT_ONLY_FORMAT
from s3vault.format.layout import ObjectKind
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository

STATES = ObjectKind.STATE.value + "/"


@dataclass(slots=True)
class PutSide:
    """Views and states prune removes (names)."""

    views: list[str] = field(default_factory=list)  # orphaned views, old enough
    superseded_views: list[str] = field(default_factory=list)  # of the index files it removes
    states: list[str] = field(default_factory=list)


def _seq(name: str) -> int:
    seq, dash, _ = name.rsplit("/", 1)[-1].partition("-")
    return int(seq) if dash and seq.isdigit() else -1


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
    for infos in hosts.values():
        infos.sort(key=lambda i: (_seq(i.name), i.name))
        for info in infos[:-1]:  # the newest stays, and so does any younger than the grace
            if now - info.modified >= grace:
                out.states.append(info.name)
    return out


def drop_locked(side: PutSide, locked: dict[str, float]) -> None:
    """Object Lock: what is still locked stays for a later prune, and so does the view of an
    index file that stays (locked)."""
    kept = {n.rsplit("/", 1)[-1] for n in locked if n.startswith(ObjectKind.INDEX.value + "/")}
    side.superseded_views = [n for n in side.superseded_views if n.rsplit("/", 1)[-1] not in kept]
    side.views = [n for n in side.views if n not in locked]
    side.superseded_views = [n for n in side.superseded_views if n not in locked]
    side.states = [n for n in side.states if n not in locked]
