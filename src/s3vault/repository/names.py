"""Object names and ids: which id a stored name spells, and where a pack is stored. The one
home of "list a kind, parse names, turn hex into ids" (``Repository.list_ids`` uses it)."""

from __future__ import annotations

from s3vault.format.indexfile import IndexedPack
from s3vault.format.layout import ObjectKind, object_name, parse_name
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId


def id_in_name(kind: ObjectKind, name: str) -> ObjectId | None:
    """The id an object name of this kind spells; None for a name s3vault did not write."""
    parsed = parse_name(name)
    if parsed is None or parsed[0] is not kind:
        return None
    return hex_id(parsed[1])


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
