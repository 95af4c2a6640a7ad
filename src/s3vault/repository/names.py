"""Object names and ids: which id a stored name spells, and where a pack is stored. The one
home of "list a kind, parse names, turn hex into ids" (``Repository.list_ids`` uses it), and of
the names snapshot files were listed or saved under (their group tag is not in their id)."""

from __future__ import annotations

import threading

from s3vault.format.indexfile import IndexedPack
from s3vault.format.layout import SHARDED, ObjectKind, object_name, parse_name
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId


def id_in_name(kind: ObjectKind, name: str) -> ObjectId | None:
    """The id an object name of this kind spells; None for a name s3vault did not write (a
    pack under another shard than its id's, ``data/68/00…``, is such a name: an index that
    took it for pack 00… would look for it at ``data/00/00…`` and call it missing)."""
    parsed = parse_name(name)
    if parsed is None or parsed[0] is not kind:
        return None
    oid = hex_id(parsed[1])
    if oid is not None and kind in SHARDED and name != object_name(kind, oid):
        return None
    return oid


def pack_kind(pack: IndexedPack) -> ObjectKind:
    """Where a pack is stored: ``tree/`` or ``data/`` by its blobs' type."""
    tree = bool(pack.entries) and pack.entries[0].type is BlobType.TREE
    return ObjectKind.TREE if tree else ObjectKind.DATA


def pack_name(pack: IndexedPack) -> str:
    """The object name of an indexed pack."""
    return object_name(pack_kind(pack), pack.id)


def hex_id(text: str) -> ObjectId | None:
    """The id 64 hex digits spell; None for any other text."""
    try:
        return ObjectId(bytes.fromhex(text))
    except ValueError:
        return None


class SnapshotNames:
    """The stored name of each snapshot file this process has listed or saved, by id text.

    A snapshot's name carries its group tag (design.md §2), which its id does not: reading,
    stating or deleting one by id needs the name a listing showed. Thread-safe. Several names
    of one id (the same sealed file stored under two tags) are all kept, the first listed
    serves reads, and a deletion removes them all.
    """

    def __init__(self) -> None:
        self._names: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def note(self, name: str) -> None:
        """Remember a snapshot file's stored name (one s3vault wrote; others are ignored)."""
        with self._lock:
            _add(self._names, name)

    def replace_listing(self, names: list[str]) -> None:
        """Forget every name, then remember those of a complete listing of ``snapshots/``."""
        fresh: dict[str, list[str]] = {}
        for name in names:
            _add(fresh, name)
        with self._lock:
            self._names = fresh

    def names(self, id_text: str) -> list[str]:
        """Every stored name known for an id (empty: never listed nor saved here)."""
        with self._lock:
            return list(self._names.get(id_text, ()))

    def forget(self, id_text: str) -> None:
        """The id's files were deleted."""
        with self._lock:
            self._names.pop(id_text, None)


def _add(names: dict[str, list[str]], name: str) -> None:
    parsed = parse_name(name)
    if parsed is None or parsed[0] is not ObjectKind.SNAPSHOTS:
        return
    known = names.setdefault(parsed[1], [])
    if name not in known:
        known.append(name)
