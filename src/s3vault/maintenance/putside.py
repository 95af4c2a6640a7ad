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
  the tag has one (repository/statecheck.py: one GET per host, normally; one more per
  garbage object above it).

Liveness of blobs is unchanged: a state's blobs are exactly its snapshot's (every tree of the
snapshot and the data blobs they name), and a host trusts a state only while its snapshot is
listed (repository/putstate.py ``load_state``), so snapshots already keep alive every blob a
host deduplicates against; a forgotten snapshot's state makes the host read every file again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from s3vault.format import PUT_ONLY_FORMAT
from s3vault.format.layout import ObjectKind
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository
from s3vault.repository.statecheck import by_tag, newest_states, writer_keys


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
    hosts = by_tag(repo.list_objects(ObjectKind.STATE))
    keys = writer_keys(repo) if hosts else {}
    for tag, infos in hosts.items():
        newest = {n for n, _ in newest_states(repo, tag, infos, keys.get(tag, []))}
        out.states += [  # the newest stay, and so does any younger than the grace
            i.name for i in infos if i.name not in newest and now - i.modified >= grace
        ]
    return out


def drop_locked(side: PutSide, locked: dict[str, float]) -> None:
    """Object Lock: what is still locked stays for a later prune, and so does the view of an
    index file that stays (locked)."""
    kept = {n.rsplit("/", 1)[-1] for n in locked if n.startswith(ObjectKind.INDEX.value + "/")}
    side.superseded_views = [n for n in side.superseded_views if n.rsplit("/", 1)[-1] not in kept]
    side.views = [n for n in side.views if n not in locked]
    side.superseded_views = [n for n in side.superseded_views if n not in locked]
    side.states = [n for n in side.states if n not in locked]
