"""BlobSet: a set of 32-byte blob ids in about 34 bytes per id, for sets of 10^7 ids.

A Python ``set`` of ObjectId costs about 110 bytes per id (the 65-byte bytes object and its
hash-table slot): 10^7 ids, what prune's reachability holds on a large repository, would be
more than a gigabyte. Here the ids live as raw bytes in ``bytearray`` buckets keyed by their
first two bytes (blob ids are keyed hashes, so buckets fill evenly: ≈150 ids each at 10^7),
and a membership test is one C-speed ``find`` in its bucket. Appending to a bytearray is
amortised constant time, so adding is too. About 32 bytes per id plus the buckets' growth
slack (≤ 12%) and ~150 bytes per bucket (at most 2^16 buckets, ≈10 MB): 10^7 ids ≈ 340 MB.

Behaves like a ``set`` of ids for ``in``, ``add``, ``len``, ``update`` and iteration (ids
come back as ObjectId, in no particular order). Not thread-safe. ``BlobFlags`` adds one byte
per id: which ids of the set something else also holds (prune: which referenced blobs some
pack stores), where a second set would cost another 34 bytes per id.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from s3vault.ids import ID_SIZE, ObjectId


def _key(bid: bytes) -> int:
    return (bid[0] << 8) | bid[1]


def _find(bucket: bytearray, bid: bytes) -> int:
    """The position of ``bid`` as a whole record of ``bucket``, or -1 (a match straddling two
    records is not one)."""
    pos = bucket.find(bid)
    while pos != -1 and pos % ID_SIZE:
        pos = bucket.find(bid, pos + 1)
    return pos


class BlobSet:
    """A set of 32-byte ids stored as raw bytes (see the module docstring for its cost)."""

    __slots__ = ("_buckets", "_len")

    def __init__(self, ids: Iterable[bytes] = ()) -> None:
        self._buckets: dict[int, bytearray] = {}
        self._len = 0
        self.update(ids)

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def __contains__(self, bid: object) -> bool:
        if not isinstance(bid, bytes) or len(bid) != ID_SIZE:
            return False
        bucket = self._buckets.get(_key(bid))
        return bucket is not None and _find(bucket, bid) != -1

    def add(self, bid: bytes) -> bool:
        """Add an id; True if it was not in the set yet.

        Raises:
            ValueError: ``bid`` is not 32 bytes long.
        """
        if len(bid) != ID_SIZE:
            msg = f"a blob id has {ID_SIZE} bytes, got {len(bid)}"
            raise ValueError(msg)
        key = _key(bid)
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets[key] = bytearray(bid)
        elif _find(bucket, bid) == -1:
            bucket += bid
        else:
            return False
        self._len += 1
        return True

    def update(self, ids: Iterable[bytes]) -> None:
        """Add every id of ``ids``."""
        for bid in ids:
            self.add(bid)

    def __iter__(self) -> Iterator[ObjectId]:
        for bucket in list(self._buckets.values()):
            for pos in range(0, len(bucket), ID_SIZE):
                yield ObjectId(bytes(bucket[pos : pos + ID_SIZE]))

    def __repr__(self) -> str:
        return f"BlobSet({self._len} ids)"


class BlobFlags:
    """One flag per id of a BlobSet (one byte each), all clear at first: which of a large set
    of ids something else also holds, without a second set. The BlobSet must not change while
    its flags are in use."""

    __slots__ = ("_blobs", "_flags")

    def __init__(self, blobs: BlobSet) -> None:
        self._blobs = blobs
        self._flags = {key: bytearray(len(b) // ID_SIZE) for key, b in blobs._buckets.items()}

    def set(self, bid: bytes) -> bool:
        """Flag an id; False if it is not in the set (nothing is flagged then)."""
        key = _key(bid)
        bucket = self._blobs._buckets.get(key)
        pos = -1 if bucket is None or len(bid) != ID_SIZE else _find(bucket, bid)
        if pos == -1:
            return False
        self._flags[key][pos // ID_SIZE] = 1
        return True

    def claim(self, bid: bytes) -> bool | None:
        """Flag an id: True if it was clear (this caller is the first), False if it was
        flagged already, None if it is not in the set."""
        key = _key(bid)
        bucket = self._blobs._buckets.get(key)
        pos = -1 if bucket is None or len(bid) != ID_SIZE else _find(bucket, bid)
        if pos == -1:
            return None
        flags = self._flags[key]
        if flags[pos // ID_SIZE]:
            return False
        flags[pos // ID_SIZE] = 1
        return True

    def clear_ids(self) -> Iterator[ObjectId]:
        """The ids of the set that are not flagged."""
        for key, flags in self._flags.items():
            bucket = self._blobs._buckets[key]
            for n, flag in enumerate(flags):
                if not flag:
                    yield ObjectId(bytes(bucket[n * ID_SIZE : (n + 1) * ID_SIZE]))
