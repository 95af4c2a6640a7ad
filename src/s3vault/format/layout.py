"""Repository layout (design.md §2): object kinds → object names.

    config                      the repository config (plaintext marker + sealed settings)
    keys/<key id>               key files, one per password / recovery secret
    data/<xx>/<pack id>         packs of data blobs (the only objects that may go to a cold class)
    tree/<xx>/<pack id>         packs of tree blobs (metadata, always hot)
    index/<index id>            index files
    snapshots/<id>.<group tag>  snapshot files (older ones: snapshots/<snapshot id>, no tag)
    locks/maintenance           the maintenance lease (prune)
    deletions/<record id>       prune's marks: packs to delete after the grace period
    drills/<drill id>           records of restore drills (restore-test)
    audit/<host tag>/<seq>-<id> the audit log: one record per mutating command, chained per host
    ledger/<ledger id>          the verification ledger: which packs read-backs proved, and when
    state/<host tag>/<seq>-<id> a put-only host's incremental state (design.md §6a)
    views/<index id>            the endorsed dedup view of an index file (design.md §6a)

<xx> is the first two hex digits of the id: 256 shards keep directories small on disk and spread
S3 request load across key prefixes. A snapshot's group tag (16 hex digits, a keyed hash of its
host and sorted paths, design.md §8) lets a backup find its parent candidates from a listing.
"""

from __future__ import annotations

import re
from enum import StrEnum

from s3vault.ids import ObjectId


class ObjectKind(StrEnum):
    """Kinds of objects in a repository; the value is the name prefix."""

    CONFIG = "config"
    KEYS = "keys"
    DATA = "data"
    TREE = "tree"
    INDEX = "index"
    SNAPSHOTS = "snapshots"
    LOCKS = "locks"
    DRILLS = "drills"
    DELETIONS = "deletions"
    AUDIT = "audit"
    LEDGER = "ledger"
    STATE = "state"
    VIEWS = "views"


SHARDED = frozenset({ObjectKind.DATA, ObjectKind.TREE})
# How many "/" a name has after its kind's folder: <xx>/<id>; <host tag>/<seq>-<id> (parsed
# elsewhere); every other kind, none
_DEPTHS = {
    ObjectKind.DATA: (1,),
    ObjectKind.TREE: (1,),
    ObjectKind.AUDIT: (0, 1),
    ObjectKind.STATE: (0, 1),
}
GROUP_TAG_HEX = 16  # hex digits of a snapshot's group tag (8 bytes)
_GROUP_TAG = re.compile(f"[0-9a-f]{{{GROUP_TAG_HEX}}}")


def object_name(kind: ObjectKind, name: str | ObjectId = "") -> str:
    """The storage name of an object of a kind."""
    if kind is ObjectKind.CONFIG:
        return "config"
    text = name.hex() if isinstance(name, ObjectId) else name
    if kind in SHARDED:
        return f"{kind.value}/{text[:2]}/{text}"
    return f"{kind.value}/{text}"


def snapshot_name(snapshot_id: str | ObjectId, tag: str | None) -> str:
    """The storage name of a snapshot file: ``snapshots/<id>.<group tag>`` (``tag`` None: the
    untagged name of a snapshot written before group tags, ``snapshots/<id>``)."""
    text = snapshot_id.hex() if isinstance(snapshot_id, ObjectId) else snapshot_id
    return object_name(ObjectKind.SNAPSHOTS, text if tag is None else f"{text}.{tag}")


def snapshot_tag(name: str) -> str | None:
    """The group tag a snapshot file's name carries; None for an untagged name (or any name
    that is not a tagged snapshot name)."""
    head, dot, tag = name.rpartition(".")
    if not dot or not head.startswith(ObjectKind.SNAPSHOTS.value + "/") or "/" in tag:
        return None
    return tag if _GROUP_TAG.fullmatch(tag) else None


def within_layout(kind: ObjectKind, name: str) -> bool:
    """Whether a name listed under a kind's folder is nested no deeper than the kind's
    layout: ``keys/sub/ab…`` is not (another repository made inside this one's folder, or a
    stray: its key listing took such names for damaged key files, an attack pass,
    2026-12-07), ``keys/README`` is (a foreign name verify reports)."""
    return name.count("/") - 1 in _DEPTHS.get(kind, (0,))


def parse_name(name: str) -> tuple[ObjectKind, str] | None:
    """Split a storage name into (kind, id text); None for names s3vault did not write. A
    snapshot's group tag is not part of its id text."""
    if name == "config":
        return ObjectKind.CONFIG, ""
    head, _, rest = name.partition("/")
    try:
        kind = ObjectKind(head)
    except ValueError:
        return None
    if rest.count("/") not in _DEPTHS.get(kind, (0,)):
        return None  # e.g. snapshots/data/77/77f3…: another repository's pack under this one
    base = rest.rsplit("/", 1)[-1]
    if kind is ObjectKind.SNAPSHOTS and snapshot_tag(name) is not None:
        base = base.rpartition(".")[0]
    return (kind, base) if base and not base.startswith(".") else None
