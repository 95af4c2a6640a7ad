"""list: the objects of one kind, as restic's ``list`` (one id per line): for debugging and
scripts. Reads listings only, never an object's content."""

from __future__ import annotations

from s3vault.errors import UsageError
from s3vault.format.layout import ObjectKind
from s3vault.repository.repository import Repository

# restic's type names (and s3vault's other kinds), each to the kinds it lists
LISTABLE: dict[str, tuple[ObjectKind, ...]] = {
    "snapshots": (ObjectKind.SNAPSHOTS,),
    "index": (ObjectKind.INDEX,),
    "packs": (ObjectKind.DATA, ObjectKind.TREE),
    "keys": (ObjectKind.KEYS,),
    "locks": (ObjectKind.LOCKS,),
    "drills": (ObjectKind.DRILLS,),
    "deletions": (ObjectKind.DELETIONS,),
    "ledger": (ObjectKind.LEDGER,),
}
# kinds whose objects are not named by ids: their names below the prefix are listed
_BY_NAME = frozenset({ObjectKind.LOCKS})


def list_objects(repo: Repository, what: str) -> list[str]:
    """The ids (hex) of the objects of a kind, sorted; for ``locks`` the lock objects' names
    below ``locks/``. Names that are not ids of their kind are left out (``verify`` names them).

    Raises:
        UsageError: an unknown kind.
        BackendError: the store could not be listed.
    """
    kinds = LISTABLE.get(what)
    if kinds is None:
        msg = f"list {what}: use one of {', '.join(LISTABLE)}"
        raise UsageError(msg)
    names: set[str] = set()
    for kind in kinds:
        if kind in _BY_NAME:
            prefix = kind.value + "/"
            names.update(info.name.removeprefix(prefix) for info in repo.list_objects(kind))
        else:
            names.update(oid.hex() for oid in repo.list_ids(kind))
    return sorted(names)
