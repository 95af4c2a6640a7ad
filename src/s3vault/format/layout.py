"""Repository layout (design.md §2): object kinds → object names.

    config                      the repository config (plaintext marker + sealed settings)
    keys/<key id>               key files, one per password / recovery secret
    data/<xx>/<pack id>         packs of data blobs (the only objects that may go to a cold class)
    tree/<xx>/<pack id>         packs of tree blobs (metadata, always hot)
    index/<index id>            index files
    snapshots/<snapshot id>     snapshot files
    locks/maintenance           the maintenance lease (prune)
    deletions/<record id>       prune's marks: packs to delete after the grace period
    drills/<drill id>           records of restore drills (restore-test)
    audit/<host tag>/<seq>-<id> the audit log: one record per mutating command, chained per host

<xx> is the first two hex digits of the id: 256 shards keep directories small on disk and spread
S3 request load across key prefixes.
"""

from __future__ import annotations

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


SHARDED = frozenset({ObjectKind.DATA, ObjectKind.TREE})


def object_name(kind: ObjectKind, name: str | ObjectId = "") -> str:
    """The storage name of an object of a kind."""
    if kind is ObjectKind.CONFIG:
        return "config"
    text = name.hex() if isinstance(name, ObjectId) else name
    if kind in SHARDED:
        return f"{kind.value}/{text[:2]}/{text}"
    return f"{kind.value}/{text}"


def parse_name(name: str) -> tuple[ObjectKind, str] | None:
    """Split a storage name into (kind, id text); None for names s3vault did not write."""
    if name == "config":
        return ObjectKind.CONFIG, ""
    head, _, rest = name.partition("/")
    try:
        kind = ObjectKind(head)
    except ValueError:
        return None
    base = rest.rsplit("/", 1)[-1]
    return (kind, base) if base and not base.startswith(".") else None
