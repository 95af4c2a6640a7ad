"""Which description of a pack readers keep when index files disagree on its sender (design.md
§6a, "Index files, version 2").

An index file gives each pack's sender: empty for a pack a full key sealed, else the put-only
writer's ephemeral key and masked writer, which open its blobs. ``check_index_writer``
(repository/writerhost.py) refuses a put-only key's index file that gives a pack any sender but
that key's own; it cannot tell whether the key really sealed the pack: only the pack's header
says, and reading every pack's header is what index files exist to avoid. So a put-only host
can describe another writer's pack (its id and size are in any listing) under its own sender;
a reader that kept the first description it read then opened every blob of that pack with the
wrong key. Readers therefore keep a pack's descriptions only while they agree on the sender
with the first one recorded; a disagreeing one sets the pack aside, and once every index file
is read each such pack is settled, whatever order the files came in:

    a description with no sender wins    only a full key writes one (a put-only key's index
                                         file must give its own sender to every pack)
    else the pack's header decides       its envelope names the real sender, authenticated
                                         under that sender's key (one ranged read)
    a header that cannot be read         the first description stays (the pack is damaged:
                                         `repair index` rebuilds from what can be read)

Every description that lost is reported as forged, naming the sender it gave; the winner's
descriptions replace what was recorded for the pack (its blobs and their places too: a loser's
entries are made up).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from s3vault.errors import FormatVersionError, IntegrityError, ObjectNotFoundError
from s3vault.format.layout import ObjectKind, object_name
from s3vault.ids import ObjectId
from s3vault.repository.compactpack import CompactIndexFile, CompactPack
from s3vault.repository.index import BlobIndex

Described = Iterable[tuple[ObjectId | None, CompactPack]]  # (index file if any, pack as described)
HeaderSender = Callable[[CompactPack], bytes]  # the sender a pack's own header names


@dataclass(frozen=True, slots=True, kw_only=True)
class Loser:
    """A description of a disputed pack that lost."""

    sender: bytes
    epoch: int
    source: ObjectId | None  # its index file; None for the one recorded first (not known)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settled:
    """The outcome for one disputed pack."""

    pack_id: ObjectId
    sender: bytes  # the sender readers keep
    replaces_first: bool  # the description recorded first lost: its records go
    kept: tuple[CompactPack, ...]  # set-aside descriptions with the winning sender, to add
    refused: tuple[Loser, ...]  # each description that lost
    unsettled: str = ""  # why the header could not settle it (the first description stays)


class SenderDisputes:
    """Descriptions of packs set aside because they disagree with the first one recorded.

    ``recorded(pack_id)`` gives (sender, epoch) of the description recorded for a pack, None
    if none is; ``record(pack)`` records one that agrees (or the first)."""

    def __init__(
        self,
        recorded: Callable[[ObjectId], tuple[bytes, int] | None],
        record: Callable[[CompactPack], object],
    ) -> None:
        self._recorded = recorded
        self._record = record
        self._first: dict[ObjectId, tuple[bytes, int]] = {}  # disputed pack -> recorded first
        self._aside: dict[ObjectId, list[tuple[CompactPack, ObjectId | None]]] = {}

    def __len__(self) -> int:
        return len(self._aside)

    def add(self, pack: CompactPack, source: ObjectId | None = None) -> None:
        """Record ``pack`` (described by index file ``source``) if it agrees with what is
        recorded for it (or nothing is); set it aside otherwise. Once a pack is disputed,
        every further description of it waits for ``settle``."""
        aside = self._aside.get(pack.id)
        if aside is not None:
            aside.append((pack, source))
            return
        first = self._recorded(pack.id)
        if first is None or first[0] == pack.sender:
            self._record(pack)
            return
        self._first[pack.id] = first
        self._aside[pack.id] = [(pack, source)]

    def settle(self, header_sender: Callable[[CompactPack], bytes]) -> list[Settled]:
        """Decide every disputed pack (the module docstring's rules). ``header_sender`` reads
        a pack's sender from its own header.

        Raises:
            BackendError: a header could not be read for a reason other than the pack being
                gone or damaged (the caller's read fails as any read does).
        """
        out = []
        for pack_id, aside in sorted(self._aside.items()):
            first, first_epoch = self._first[pack_id]
            senders = {first} | {p.sender for p, _ in aside}
            unsettled = ""
            if b"" in senders:
                winner = b""
            else:
                try:
                    winner = header_sender(aside[0][0])
                except (ObjectNotFoundError, IntegrityError, FormatVersionError) as exc:
                    winner, unsettled = first, str(exc)
                if winner not in senders:
                    unsettled = unsettled or "its header names none of the senders given"
                    winner = first
            out.append(
                Settled(
                    pack_id=pack_id,
                    sender=winner,
                    replaces_first=winner != first,
                    kept=tuple(p for p, _ in aside if p.sender == winner),
                    refused=tuple(
                        [Loser(sender=first, epoch=first_epoch, source=None)] * (winner != first)
                        + [
                            Loser(sender=p.sender, epoch=p.epoch, source=src)
                            for p, src in aside
                            if p.sender != winner
                        ]
                    ),
                    unsettled=unsettled,
                )
            )
        return out


def record_in_index(
    index: BlobIndex, described: Described, header_sender: HeaderSender
) -> list[Settled]:
    """Record every description in ``index`` (which may hold packs already: the local index
    cache's), disputes settled; returns the disputes, for the caller to tell.

    Raises:
        BackendError: as ``SenderDisputes.settle``.
    """

    def record(pack: CompactPack) -> None:
        index.add_pack(pack.id, pack.size, pack.index_entries(), pack.epoch, pack.sender)

    disputes = SenderDisputes(index.description, record)
    for source, pack in described:
        disputes.add(pack, source)
    if not disputes:
        return []
    settled = disputes.settle(header_sender)
    index.drop_packs({s.pack_id for s in settled if s.replaces_first})  # one pass for all
    for outcome in settled:
        for pack in outcome.kept:
            record(pack)
    return settled


def one_per_pack(
    described: Described, header_sender: HeaderSender
) -> tuple[dict[ObjectId, CompactPack], list[Settled]]:
    """One description per pack (the first, or a dispute's winner) and the disputes, for a
    caller that keeps packs rather than a BlobIndex (copy).

    Raises:
        BackendError: as ``SenderDisputes.settle``.
    """
    packs: dict[ObjectId, CompactPack] = {}

    def recorded(pack_id: ObjectId) -> tuple[bytes, int] | None:
        known = packs.get(pack_id)
        return None if known is None else (known.sender, known.epoch)

    disputes = SenderDisputes(recorded, lambda p: packs.setdefault(p.id, p))
    for source, pack in described:
        disputes.add(pack, source)
    settled = disputes.settle(header_sender) if disputes else []
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
    """Tell (``skip(name, reason)``) each index file whose description of a pack lost, once
    per file with how many packs, naming the writer its sender unmasks to (``put_key``, the
    full key's ``Sealer.put_key``); a description recorded first is looked for in ``files``
    (the live files just read) and told by the pack if it is not there (the local index
    cache's). A pack whose header could not settle its dispute is told by the pack."""
    wanted = {
        (s.pack_id, lost.sender) for s in settled for lost in s.refused if lost.source is None
    }
    found: dict[tuple[ObjectId, bytes], list[ObjectId]] = {}
    for oid, ifile in files.items() if wanted else ():
        for pack in ifile.packs:
            if (pack.id, pack.sender) in wanted:
                found.setdefault((pack.id, pack.sender), []).append(oid)
    told: dict[str, tuple[list[ObjectId], Loser]] = {}
    for outcome in settled:
        short = outcome.pack_id.short
        if outcome.unsettled:
            skip(
                f"pack {short}",
                f"index files give pack {short} different writers and its header cannot "
                f"settle it ({outcome.unsettled}): the first description is kept; "
                "`s3vault repair index` rebuilds the index from the packs' headers",
            )
            continue
        for lost in outcome.refused:
            key = (outcome.pack_id, lost.sender)
            sources = [lost.source] if lost.source is not None else found.get(key, [])
            names = [object_name(ObjectKind.INDEX, o) for o in sources] or [f"pack {short}"]
            for name in names:
                told.setdefault(name, ([], lost))[0].append(outcome.pack_id)
    for name, (pack_ids, lost) in told.items():
        more = f" and {len(pack_ids) - 1} more" if len(pack_ids) > 1 else ""
        skip(
            name,
            f"describes pack {pack_ids[0].short}{more} as written by "
            f"{_writer_name(lost, put_key)}, which a full key's index file or the pack's own "
            "header contradicts: forged, that description is ignored",
        )


def _writer_name(lost: Loser, put_key: Callable[[int, bytes], tuple[bytes, bytes]]) -> str:
    """'put-only key <short id>' for a pack's sender, 'a full key' for none."""
    if not lost.sender:
        return "a full key"
    try:
        return f"put-only key {put_key(lost.epoch, lost.sender)[0].hex()[:8]}"
    except IntegrityError:
        return "a put-only key"
