"""Choosing among a blob's stored copies: THE rule of every reader of a file's content.

A blob may be stored in several packs (``BlobIndex.locations``: two hosts stored it, a backup
or ``copy`` stored it again, a repair re-packed it), and any one copy may be bad: its pack is
damaged or gone, or a put-only writer sealed garbage under an id it knows, with a raw length
of its choosing (design.md §13). A reader never gives up on a blob while another copy may be
good:

- a reader that lays a file out before reading it (restore's plan, mount) takes each blob's
  first copy (``lookup``) unless their raw lengths do not add up to the file's size or a
  put-only writer's index file gives a first copy; then it takes, for each blob whose copies
  disagree on its length, a copy of the length its content has (``file_layout``);
- a reader whose copy fails to read, open or match its id reads the blob from its next copy
  before it fails the file: ``Repository.load_first_copy``, the one loop every reader goes
  through (``load_blob`` for trees, dump, mount's blob reads, read-backs and prune, over every
  copy in reading order; ``copy`` over its own source index's locations; restore's engines
  through ``load_other_copy``), in the order ``copy_order`` gives: every full key's copy first,
  then at most ``PUT_COPIES_TRIED`` copies in put-only writers' packs, one per writer before a
  second of any (a put-only writer can name a blob whose id it knows in any number of packs,
  real or made up, in one index file: each copy tried would cost every reader a request), and
  never a copy in a pack the reader knows the store does not list.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from s3vault.errors import BackendError, IntegrityError
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from s3vault.repository.index import BlobIndex, BlobLocation

if TYPE_CHECKING:  # repository.py imports copy_order from here
    from s3vault.repository.repository import Repository

PUT_COPIES_TRIED = 3  # copies in put-only writers' packs a reader tries per blob, at most


@dataclass(frozen=True, slots=True)
class CopyOrder:
    """Which of a blob's copies a reader tries, and in what order (``copy_order``)."""

    tried: list[int]  # positions in the locations given, in the order to try them
    unlisted: int = 0  # copies left out: their pack is one the store does not list
    passed_over: int = 0  # copies in put-only writers' packs left out by the bound

    def note(self) -> str:
        """What was left untried, for the error of a blob no tried copy reads ('' if none)."""
        parts = []
        if self.passed_over:
            parts.append(
                f"{self.passed_over} more cop{'y' if self.passed_over == 1 else 'ies'} in "
                f"put-only writers' packs not tried (at most {PUT_COPIES_TRIED} are, one per "
                "writer first)"
            )
        if self.unlisted:
            parts.append(
                f"{self.unlisted} cop{'y' if self.unlisted == 1 else 'ies'} in packs the "
                "store does not list"
            )
        return "; ".join(parts)


def copy_order(
    locations: Sequence[BlobLocation],
    missing: Collection[ObjectId],
    writer: Callable[[BlobLocation], bytes],
) -> CopyOrder:
    """The copies of a blob a reader tries (``Repository.load_first_copy``): every copy a full
    key's index file gives, in the order given; then, of the copies in put-only writers'
    packs, at most ``PUT_COPIES_TRIED``: the first copy of each writer in the order given
    before the second of any (``writer``: the key id a copy's sender unmasks to; asked only
    when there are more such copies than the bound), so that one compromised writer's copies
    never crowd out another writer's; never a copy in a pack in ``missing`` (packs the reader
    knows the store does not list)."""
    listed = [i for i, loc in enumerate(locations) if loc.pack_id not in missing]
    full = [i for i in listed if not locations[i].sender]
    put = [i for i in listed if locations[i].sender]
    if len(put) > PUT_COPIES_TRIED:
        seen: dict[bytes, int] = {}
        rank = {}
        for i in put:
            who = writer(locations[i])
            rank[i] = seen.get(who, 0)
            seen[who] = rank[i] + 1
        put = sorted(put, key=lambda i: (rank[i], i))
    return CopyOrder(
        tried=full + put[:PUT_COPIES_TRIED],
        unlisted=len(locations) - len(listed),
        passed_over=max(0, len(put) - PUT_COPIES_TRIED),
    )


@dataclass(slots=True)
class FileLayout:
    """Where a file's blobs are read from: one location per blob, in content order.

    ``missing``: a blob with no location at all (then ``locations`` is empty);
    ``unreadable``: a blob whose copies disagree on its length, none of which reads. ``fits``:
    the locations' raw lengths add up to the file's size; when no choice of copies does,
    ``locations`` are the first copies and ``total`` their sum. ``passed_over``: first copies
    left aside because their length did not fit (bad copies, for the reader's notice)."""

    locations: list[BlobLocation] = field(default_factory=list)
    missing: ObjectId | None = None
    unreadable: ObjectId | None = None
    total: int = 0
    fits: bool = False
    passed_over: list[tuple[ObjectId, BlobLocation, BlobLocation]] = field(default_factory=list)


def file_layout(
    index: BlobIndex,
    content: Sequence[ObjectId],
    size: int,
    measure: Callable[[ObjectId], int | None],
) -> FileLayout:
    """Choose a copy of each blob of a file of ``size`` bytes. The first copies when their
    raw lengths add up and a full key's index file gives each (one ``lookup`` per blob: the
    usual case costs nothing more); else, for each blob whose copies disagree on its length,
    the first copy of the length its content has, learnt by reading it once (``measure``: a
    blob's true length, None when no copy reads; ``read_length``). Where a put-only writer's
    copy comes first (no full key's copy exists), the lengths adding up is not enough (its
    lies may cancel out): its other copies are looked up too. Reading is exact where a search
    among the lengths could be led astray by lengths an attacker chose, and costs one read
    per such blob: none unless an index entry lies or is damaged (copies of one content have
    one length). ``passed_over`` names each first copy replaced, with the copy taken."""
    first: list[BlobLocation] = []
    untrusted: list[int] = []  # blobs whose first copy a put-only writer's index file describes
    for i, bid in enumerate(content):
        loc = index.lookup(BlobType.DATA, bid)
        if loc is None:
            return FileLayout(missing=bid)
        first.append(loc)
        if loc.sender:
            untrusted.append(i)
    total = sum(loc.raw_length for loc in first)
    # Lengths that add up prove nothing where a put-only writer gave them: its lies may
    # cancel out. Its copies are checked against the others then (no full key's copy exists).
    check = range(len(content)) if total != size else untrusted
    alternatives = _alternatives(index, content, first, check)
    if not alternatives:
        return FileLayout(locations=first, total=total, fits=total == size)
    chosen = _measured(first, alternatives, content, measure)
    if isinstance(chosen, ObjectId):
        return FileLayout(locations=first, total=total, unreadable=chosen)
    if chosen is None or sum(loc.raw_length for loc in chosen) != size:
        return FileLayout(locations=first, total=total)
    passed = [
        (bid, old, new)
        for bid, old, new in zip(content, first, chosen, strict=True)
        if new is not old
    ]
    return FileLayout(locations=chosen, total=size, fits=True, passed_over=passed)


def _alternatives(
    index: BlobIndex, content: Sequence[ObjectId], first: list[BlobLocation], check: Iterable[int]
) -> list[tuple[int, list[BlobLocation]]]:
    """For each blob at the positions ``check`` whose copies disagree on its length: (its
    position, one copy per other length, in reading order)."""
    found: list[tuple[int, list[BlobLocation]]] = []
    for i in check:
        others: dict[int, BlobLocation] = {}
        for loc in index.locations(BlobType.DATA, content[i]):
            if loc.raw_length != first[i].raw_length:
                others.setdefault(loc.raw_length, loc)
        if others:
            found.append((i, list(others.values())))
    return found


def _measured(
    first: list[BlobLocation],
    alternatives: list[tuple[int, list[BlobLocation]]],
    content: Sequence[ObjectId],
    measure: Callable[[ObjectId], int | None],
) -> list[BlobLocation] | ObjectId | None:
    """Each disagreeing blob's copy of the length its content has, read by ``measure``: the
    copies, or the first blob no copy of which reads, or None when a blob's content has a
    length no copy's index entry gives. Exact, at one read per such blob."""
    chosen = list(first)
    for i, others in alternatives:
        length = measure(content[i])
        if length is None:
            return content[i]
        if length != first[i].raw_length:
            pick = next((loc for loc in others if loc.raw_length == length), None)
            if pick is None:
                return None
            chosen[i] = pick
    return chosen


def read_length(repo: Repository, bid: ObjectId) -> int | None:
    """A data blob's true length, read from its first good copy (``file_layout``'s
    ``measure``); None when no copy reads."""
    try:
        return len(repo.load_blob(BlobType.DATA, bid))
    except (IntegrityError, BackendError):
        return None


def other_copies(
    index: BlobIndex, btype: BlobType, bid: ObjectId, planned: BlobLocation
) -> list[BlobLocation]:
    """The copies a reader may take instead of ``planned``, in reading order: every location
    of the blob outside ``planned``'s pack, of ``planned``'s raw length (the reader placed
    the blob by it)."""
    return [
        loc
        for loc in index.locations(btype, bid)
        if loc.pack_id != planned.pack_id and loc.raw_length == planned.raw_length
    ]


def load_other_copy(
    repo: Repository, btype: BlobType, bid: ObjectId, planned: BlobLocation, *, again: bool
) -> tuple[bytes, BlobLocation] | None:
    """The blob read from its next good copy after ``planned``'s failed (``other_copies``,
    through ``Repository.load_first_copy``), then, with ``again`` (its range was read and the
    blob failed its check), from ``planned`` itself once more (a range damaged on its way
    reads right again; one that could not be fetched at all is not asked again blob by blob:
    the store's retries were spent on it already), and the copy that served; None when none
    reads. The planned copy's pack is marked as failed for this run too."""
    repo.tree_reads.failed(planned.pack_id)
    others = [*other_copies(repo.index, btype, bid, planned), *([planned] if again else [])]
    try:
        blob, at = repo.load_first_copy(btype, bid, others)
    except (IntegrityError, BackendError):
        return None
    return blob, others[at]
