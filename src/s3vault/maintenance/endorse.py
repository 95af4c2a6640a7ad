"""Endorsing the packs of put-only writers that a read-back proved (design.md §6a, §8c).

A put-only host deduplicates only against endorsed views (``views/<index id>``, signed with σ):
a put-only writer can seal a blob that does not match its id, so its packs reach another host's
dedup only once a full key has opened every blob of them and found each matching its id. Two
places write such views, where the index is read anyway:

- ``endorse_proven``, at the end of a read-back (``verify --read-data``, a subset, ``--coverage``):
  each index file the run's index was built from, whose put-only packs the run proved, every one,
  and which has no endorsed view yet, gets its view (one LIST of ``views/``, the index file from
  the local cache, one PUT each). A listed name counts only if it opens as the view σ signed for
  that index file (one GET each, only for index files the run would endorse): anything else
  there (bytes planted before the read-back, a view of version 1) is replaced, and where the
  store keeps it (Object Lock) that is said once and the others are endorsed all the same.
  Only the run's own proofs count, never the ledger's older ones: a proof
  vouches for the index entries that run checked against the pack's header, and an index file
  written since could name a proven pack with entries no read-back checked (a blob id over
  garbage). An index file one of whose packs another file gave the index is not endorsed: its
  own entries for that pack were not the ones checked. An index file the run proved only in part
  gets no view (views are written once, and hosts cache them by index id): a later run that
  reads the rest of it together endorses it;
- ``carried`` and ``still_endorsed``, in prune: prune replaces every index file by its own,
  whose views (written by ``Repository.save_file``) leave put-only packs out unless told. A
  put-only pack keeps its endorsement when an endorsed view of a superseded index file names
  it with its size and at least every blob prune's new index file names in it (that view is
  σ's word that those blobs were proven): one GET per index file that names put-only packs.
  The others go into index files of their own stored without a view (``repair index`` does
  the same), which the read-back that proves them all endorses.

A store that refuses the write (a read-only credential) stops the endorsing with one warning
line; the read-back's result stands. A kill between views leaves index files without a view,
which the next read-back endorses; a view whose index file a prune removed meanwhile is a
leftover prune deletes (maintenance/putside.py). Under Object Lock the store locks views like
every object it creates, and prune deletes them by version id.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from s3vault.errors import BackendError, FormatVersionError, IntegrityError, ObjectNotFoundError
from s3vault.format import PUT_ONLY_FORMAT
from s3vault.format.dedupview import ViewPack
from s3vault.format.layout import ObjectKind, object_name
from s3vault.ids import ObjectId
from s3vault.repository import views
from s3vault.repository.repository import Repository


@dataclass(frozen=True, slots=True, kw_only=True)
class Endorsement:
    """What ``endorse_proven`` did."""

    views: int = 0  # endorsed views written
    refused: str = ""  # why the store refused a view (a read-only credential) or kept a
    # planted object under a view's name (Object Lock), else empty


def endorse_proven(
    repo: Repository,
    put_packs: Mapping[ObjectId, tuple[ObjectId, ...]],
    proven: Collection[ObjectId],
) -> Endorsement:
    """Write the endorsed view of every index file in ``put_packs`` (index file → the put-only
    packs whose entries it gave the run's index, ``CheckReport.put_packs``) whose packs are
    all in ``proven`` (this run's proofs) and that has no endorsed view yet (a listed object
    under its view's name that does not open as one is replaced). Never raises for a refused
    write: a refused view ends the endorsing, a planted object the store keeps is passed over,
    and either is said in ``refused``.

    Raises:
        BackendError: ``views/`` could not be listed, or a listed view could not be read.
    """
    if repo.config.version < PUT_ONLY_FORMAT or not put_packs:
        return Endorsement()
    done = set(proven)
    ready = sorted(oid for oid, packs in put_packs.items() if done.issuperset(packs))
    if not ready:
        return Endorsement()
    have = {info.name for info in repo.list_objects(ObjectKind.VIEWS)}
    written = 0
    kept: list[str] = []  # views that do not open, which the store would not let go
    for oid in ready:
        name = object_name(ObjectKind.VIEWS, oid)
        if name in have:
            if _endorsed_before(repo, oid):
                continue  # a full key's own, or an earlier read-back's
            try:  # planted (any bytes under the name), or version 1: replaced
                repo.delete_listed([name])
            except BackendError as exc:  # Object Lock keeps it: hosts ignore it
                kept.append(f"{name}: {exc}")
                continue
        try:
            repo.endorse_index(oid, put_packs[oid])  # the index file from the local cache
        except (ObjectNotFoundError, IntegrityError, FormatVersionError):
            continue  # removed by a prune since the run listed it, or damaged since
        except BackendError as exc:
            return Endorsement(
                views=written, refused="; ".join(filter(None, (str(exc), _kept(kept))))
            )
        written += 1
    return Endorsement(views=written, refused=_kept(kept))


def _endorsed_before(repo: Repository, oid: ObjectId) -> bool:
    """Whether ``views/<oid>`` opens with this key (any live epoch) as the endorsed view σ
    signed for index file ``oid``: one GET. Anything else under the name (bytes a store-level
    attacker planted, a view copied from another index file, a view of version 1) is not."""
    try:
        repo.load_view(oid)
    except (ObjectNotFoundError, IntegrityError, FormatVersionError):
        return False  # gone since the listing (written anew), or not a view signed for it
    return True


def _kept(kept: list[str]) -> str:
    """One line for the views that do not open and that the store kept (empty if none)."""
    if not kept:
        return ""
    more = f" (and {len(kept) - 1} more)" if len(kept) > 1 else ""
    return (
        f"{len(kept)} view(s) under the names of proven index files do not open and the store "
        f"keeps them (Object Lock?); hosts ignore them and store those blobs again: "
        f"{kept[0]}{more}"
    )


def carried(repo: Repository, index_ids: Iterable[ObjectId]) -> dict[ObjectId, ViewPack]:
    """The put-only packs the endorsed views of ``index_ids`` (index files prune supersedes
    that name put-only packs) name: pack id → its pack as the view shows it. One GET per view;
    a view that is missing or does not open endorses nothing.

    Raises:
        BackendError: storage failed.
    """
    out: dict[ObjectId, ViewPack] = {}
    for oid in index_ids:
        try:
            view = repo.load_view(oid)
        except (ObjectNotFoundError, IntegrityError, FormatVersionError):
            continue
        for pack in view.packs:
            out.setdefault(pack.id, pack)
    return out


def still_endorsed(
    plaintext: bytes,
    repo_id: bytes,
    senders: Collection[ObjectId],
    endorsed: Mapping[ObjectId, ViewPack],
) -> frozenset[ObjectId]:
    """The put-only packs (``senders``) of a new index file (its ``plaintext``) that keep
    their endorsement: an endorsed view named each with its size and every blob the new file
    names in it.

    Raises:
        IntegrityError: a malformed index file.
    """
    if not senders or not endorsed:
        return frozenset()
    keep = []
    for pack in views.endorsed_view(plaintext, repo_id, senders).packs:
        old = endorsed.get(pack.id)
        if old is not None and old.size == pack.size and set(pack.blobs) <= set(old.blobs):
            keep.append(pack.id)
    return frozenset(keep) & frozenset(senders)
