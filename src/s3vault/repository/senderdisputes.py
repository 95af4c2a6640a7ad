"""Which description of a pack readers keep when index files disagree on it (design.md §6a,
"Index files, version 2").

An index file gives each pack's sender (empty for a pack a full key sealed, else the put-only
writer's ephemeral key and masked writer, which open its blobs) and its entries (each blob's
offset, length and raw length). ``check_index_writer`` (repository/writerhost.py) refuses a
put-only key's index file that gives a pack any sender but that key's own; it cannot tell
whether the key really sealed the pack, nor whether the entries are the pack's: only the
pack's header says, and reading every pack's header is what index files exist to avoid. So a
put-only host can describe another writer's pack (its id and size are in any listing) under
its own sender, or its own pack (one that a read-back proved, that other hosts deduplicate
against) again with its blobs at each other's places; a reader that kept the first
description it read then opened those blobs with the wrong key or at the wrong place.

Readers therefore keep a pack's descriptions only while they are identical to the first one
recorded (same size, epoch, sender and set of entries: a retried index write or prune's
carry-over costs nothing); one that differs in anything sets the pack aside, and once every
index file is read each such pack is settled, whatever order the files came in:

    descriptions with no sender win       only a full key writes one (a put-only key's index
      without a read, if they agree        file must give its own sender to every pack)
    else the pack's header decides         it names the real sender and entries,
                                           authenticated under that sender's key (one ranged
                                           read): the description identical to it wins
    a header that cannot be read, or       the first description stays (the pack is gone or
      that matches no description          damaged: `repair index` rebuilds from what can be
                                           read)

The headers are read in one batch (``HeaderReader``): the repository lists the packs once
when many are disputed, so a pack that is not stored (a made-up id) costs no request.
Every description that lost is reported as forged; the winner replaces what was recorded for
the pack (its blobs and their places too: a loser's entries are made up).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from s3vault.errors import IntegrityError
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import ENTRY
from s3vault.ids import ObjectId
from s3vault.repository.compactpack import CompactIndexFile, CompactPack
from s3vault.repository.index import BlobIndex

Described = Iterable[tuple[ObjectId | None, CompactPack]]  # (index file if any, pack as described)
# The headers of these packs, each as a description of the pack, or why it cannot be read.
HeaderReader = Callable[[Sequence[CompactPack]], Mapping[ObjectId, CompactPack | str]]
Source = ObjectId | None  # the index file a description came from (None: not known)


def same(a: CompactPack, b: CompactPack) -> bool:
    """Do two descriptions of a pack agree on everything: size, epoch, sender and the set of
    entries (in any order; an entry given twice is given once, as the index records it)?
    Byte-identical entries (the common case) cost no decoding."""
    if (a.id, a.size, a.epoch, a.sender) != (b.id, b.size, b.epoch, b.sender):
        return False
    ra, rb = a.raw, b.raw
    return ra == rb or set(ENTRY.iter_unpack(ra)) == set(ENTRY.iter_unpack(rb))


@dataclass(frozen=True, slots=True, kw_only=True)
class Loser:
    """A description of a disputed pack that lost."""

    sender: bytes
    epoch: int
    source: Source  # its index file; None if not known (the local index cache's)
    pack: CompactPack  # the description itself


@dataclass(frozen=True, slots=True, kw_only=True)
class Settled:
    """The outcome for one disputed pack."""

    pack_id: ObjectId
    sender: bytes  # the sender readers keep
    replaces_first: bool  # the description recorded first lost: its records go
    kept: tuple[CompactPack, ...]  # the winning description, when it replaces the first
    refused: tuple[Loser, ...]  # each description that lost
    unsettled: str = ""  # why the header could not settle it (the first description stays)
    sources: tuple[Source, ...] = ()  # every index file that described it
    senders: tuple[tuple[bytes, int], ...] = ()  # (sender, epoch) of every description


@dataclass(frozen=True, slots=True, kw_only=True)
class Earlier:
    """Packs recorded before these descriptions are read (the local index cache's): ``has``
    says whether one is; ``described`` gives the recorded descriptions of a batch of them
    (one pass over the index: asked once, only when such a pack is described again)."""

    has: Callable[[ObjectId], bool]
    described: Callable[[Iterable[ObjectId]], Mapping[ObjectId, CompactPack]]


class Disputes:
    """Descriptions of packs set aside because they differ from the first one recorded.

    ``record(pack)`` records the first description of a pack; ``earlier`` gives packs
    recorded before (their descriptions are compared in ``settle``, in one batch)."""

    def __init__(
        self, record: Callable[[CompactPack], object], earlier: Earlier | None = None
    ) -> None:
        self._record = record
        self._earlier = earlier
        self._first: dict[ObjectId, tuple[CompactPack, Source]] = {}
        self._aside: dict[ObjectId, list[tuple[CompactPack, Source]]] = {}
        self._again: dict[ObjectId, list[tuple[CompactPack, Source]]] = {}

    def __len__(self) -> int:
        return len(self._aside) + len(self._again)

    def add(self, pack: CompactPack, source: Source = None) -> None:
        """Record ``pack`` (described by index file ``source``) if it is the first description
        of it; drop it if it is identical to the first; set it aside otherwise."""
        aside = self._aside.get(pack.id)
        if aside is not None:
            aside.append((pack, source))
            return
        first = self._first.get(pack.id)
        if first is not None:
            if not same(first[0], pack):
                self._aside[pack.id] = [(pack, source)]
            return
        again = self._again.get(pack.id)
        if again is not None or (self._earlier is not None and self._earlier.has(pack.id)):
            self._again.setdefault(pack.id, []).append((pack, source))
            return
        self._first[pack.id] = (pack, source)
        self._record(pack)

    def _compare_earlier(self) -> None:
        """Set aside the descriptions of packs recorded before that differ from the record."""
        if not self._again or self._earlier is None:
            return
        recorded = self._earlier.described(self._again)
        for pack_id, descriptions in sorted(self._again.items()):
            first = recorded.get(pack_id)
            if first is None:  # not recorded after all: the first description is
                first, _ = descriptions[0]
                self._record(first)
            differ = [(p, s) for p, s in descriptions if not same(first, p)]
            if differ:
                self._first[pack_id] = (first, None)
                self._aside[pack_id] = differ
        self._again = {}

    def settle(self, headers: HeaderReader) -> list[Settled]:
        """Decide every disputed pack (the module docstring's rules); ``headers`` reads, in
        one batch, the headers of the packs no full key's description settles.

        Raises:
            BackendError: a header could not be read for a reason other than the pack being
                gone or damaged (the caller's read fails as any read does).
        """
        self._compare_earlier()
        pools: dict[ObjectId, list[tuple[CompactPack, Source]]] = {}
        for pack_id, aside in self._aside.items():
            every = [self._first[pack_id], *aside]
            pools[pack_id] = [d for d in every if not d[0].sender] or every
        to_read = [pool[0][0] for pool in pools.values() if not _agree(pool)]
        read = headers(sorted(to_read, key=lambda p: p.id)) if to_read else {}
        return [
            self._outcome(pack_id, pools[pack_id], read.get(pack_id)) for pack_id in sorted(pools)
        ]

    def _outcome(
        self,
        pack_id: ObjectId,
        pool: list[tuple[CompactPack, Source]],
        header: CompactPack | str | None,
    ) -> Settled:
        first, first_source = self._first[pack_id]
        every = [(first, first_source), *self._aside[pack_id]]
        unsettled = ""
        if header is None:  # the pool agrees: no read
            winner = pool[0][0]
        elif isinstance(header, str):
            winner, unsettled = first, header
        else:
            match = [p for p, _ in pool if same(p, header)]
            winner = match[0] if match else first
            if not match:
                unsettled = "its header matches none of the descriptions given"
        replaces = not same(winner, first)
        return Settled(
            pack_id=pack_id,
            sender=winner.sender,
            replaces_first=replaces,
            kept=(winner,) if replaces else (),
            refused=tuple(
                Loser(sender=p.sender, epoch=p.epoch, source=s, pack=p)
                for p, s in every
                if not same(p, winner)
            ),
            unsettled=unsettled,
            sources=tuple(dict.fromkeys(s for _, s in every)),
            senders=tuple(dict.fromkeys((p.sender, p.epoch) for p, _ in every)),
        )


def _agree(pool: list[tuple[CompactPack, Source]]) -> bool:
    return all(same(pool[0][0], p) for p, _ in pool[1:])


def record_in_index(index: BlobIndex, described: Described, headers: HeaderReader) -> list[Settled]:
    """Record every description in ``index`` (which may hold packs already: the local index
    cache's), disputes settled; returns the disputes, for the caller to tell.

    Raises:
        BackendError: as ``Disputes.settle``.
    """

    def record(pack: CompactPack) -> None:
        index.add_pack(pack.id, pack.size, pack.index_entries(), pack.epoch, pack.sender)

    def earlier_described(pack_ids: Iterable[ObjectId]) -> dict[ObjectId, CompactPack]:
        return {p.id: CompactPack.of(p) for p in index.described_packs(pack_ids)}

    known = index.description
    earlier = Earlier(has=lambda p: known(p) is not None, described=earlier_described)
    disputes = Disputes(record, earlier if index.pack_count else None)
    for source, pack in described:
        disputes.add(pack, source)
    if not disputes:
        return []
    settled = disputes.settle(headers)
    index.drop_packs({s.pack_id for s in settled if s.replaces_first})  # one pass for all
    for outcome in settled:
        for pack in outcome.kept:
            record(pack)
    return settled


def one_per_pack(
    described: Described, headers: HeaderReader
) -> tuple[dict[ObjectId, CompactPack], list[Settled]]:
    """One description per pack (the first, or a dispute's winner) and the disputes, for a
    caller that keeps packs rather than a BlobIndex (copy, prune, verify).

    Raises:
        BackendError: as ``Disputes.settle``.
    """
    packs: dict[ObjectId, CompactPack] = {}
    disputes = Disputes(lambda p: packs.setdefault(p.id, p))
    for source, pack in described:
        disputes.add(pack, source)
    settled = disputes.settle(headers) if disputes else []
    for outcome in settled:
        if outcome.replaces_first:
            packs[outcome.pack_id] = outcome.kept[0]
    return packs, settled


def tell(
    settled: list[Settled],
    files: Mapping[ObjectId, CompactIndexFile],
    skip: Callable[[str, str], None],
    put_key: Callable[[int, bytes], tuple[bytes, bytes]],
) -> None:
    """Tell (``skip(name, reason)``) each index file whose description of a pack lost, and
    each index file that describes a pack its header could not settle: one line per file
    however many packs (a writer can name any number of made-up packs), naming the writer
    its sender unmasks to (``put_key``, the full key's ``Sealer.put_key``). A description of
    unknown source (the local index cache's) is looked for in ``files`` (the live files just
    read) and told by the pack if it is not there."""
    wanted = [lost.pack for s in settled for lost in s.refused if lost.source is None]
    found: dict[ObjectId, list[tuple[CompactPack, ObjectId]]] = {}
    ids = {p.id for p in wanted}
    for oid, ifile in files.items() if wanted else ():
        for pack in ifile.packs:
            if pack.id in ids:
                found.setdefault(pack.id, []).append((pack, oid))
    lost_in: dict[str, tuple[list[ObjectId], Loser]] = {}
    unsettled: dict[str, tuple[list[ObjectId], Settled]] = {}
    for outcome in settled:
        short = outcome.pack_id.short
        if outcome.unsettled:
            for name in _names(outcome.sources, short):
                unsettled.setdefault(name, ([], outcome))[0].append(outcome.pack_id)
            continue
        for lost in outcome.refused:
            if lost.source is not None:
                sources: list[ObjectId | None] = [lost.source]
            else:
                sources = [o for p, o in found.get(outcome.pack_id, []) if same(p, lost.pack)]
            for name in _names(sources, short):
                lost_in.setdefault(name, ([], lost))[0].append(outcome.pack_id)
    for name, (pack_ids, lost) in lost_in.items():
        writer = _writer_name(lost.sender, lost.epoch, put_key)
        skip(
            name,
            f"describes pack {_packs(pack_ids)} as written by {writer}, "
            "which a full key's index file or the pack's own header contradicts (its writer "
            "or its blobs' places): forged, that description is ignored",
        )
    for name, (pack_ids, outcome) in unsettled.items():
        skip(
            name,
            f"describes pack {_packs(pack_ids)} otherwise than another index file does"
            f"{_one_writer(outcome, put_key)}, and the pack's header cannot settle which is "
            f"right ({outcome.unsettled}): the first description is kept; `s3vault repair "
            "index` rebuilds the index from the packs' headers",
        )


def _one_writer(outcome: Settled, put_key: Callable[[int, bytes], tuple[bytes, bytes]]) -> str:
    """' (each by put-only key <id>: its own doing)' when every description of a disputed
    pack has a sender and they all unmask to one writer; '' otherwise."""
    if not all(sender for sender, _ in outcome.senders):
        return ""
    names = {_writer_name(sender, epoch, put_key) for sender, epoch in outcome.senders}
    name = names.pop()
    return "" if names or name == "a put-only key" else f" (each by {name}: its own doing)"


def _names(sources: Iterable[Source], short: str) -> list[str]:
    """The index files named by ``sources`` (the pack itself when none is known)."""
    names = [object_name(ObjectKind.INDEX, o) for o in sources if o is not None]
    return names or [f"pack {short}"]


def _packs(pack_ids: list[ObjectId]) -> str:
    more = f" and {len(pack_ids) - 1} more" if len(pack_ids) > 1 else ""
    return f"{pack_ids[0].short}{more}"


def _writer_name(
    sender: bytes, epoch: int, put_key: Callable[[int, bytes], tuple[bytes, bytes]]
) -> str:
    """'put-only key <short id>' for a pack's sender, 'a full key' for none."""
    if not sender:
        return "a full key"
    try:
        return f"put-only key {put_key(epoch, sender)[0].hex()[:8]}"
    except IntegrityError:
        return "a put-only key"
