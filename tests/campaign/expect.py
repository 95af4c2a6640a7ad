"""What the damage allows: for each command, the exit codes a damaged object permits, and why
(the reason is printed with every failure). Pure functions of the damaged object, the
mutation and the command's subject; tests/campaign/case.py runs the commands.

The rules, in short: damage that stops everything (the config, the key file the password
opens) stops every command cleanly (10, 12 or 13). Otherwise what does not need the damaged
object works exactly as before (exit 0); what needs it fails with 13, or works when what it
reads happens to be whole. A deleted snapshot file is a forgotten snapshot (exit 2 when named).
"""

from __future__ import annotations

from tests.campaign.template import RepoObject

Allowed = tuple[set[int], str]


def fatal(obj: RepoObject, mutation: str) -> Allowed:
    """Every command, when nothing can open the repository."""
    if obj.kind == "config":
        if mutation == "delete":
            return {10, 13}, "no config: no repository, or a damaged one"
        return {10, 12, 13}, "a damaged config: no repository, no key for it, or damage"
    return {12}, "the password's key file is damaged: no key opens (exit 12)"


def own_snapshot(mutation: str) -> Allowed:
    """ls or restore of the snapshot whose file was damaged."""
    if mutation == "delete":
        return {2}, "its snapshot file is gone (as after forget): no such snapshot"
    return {13}, "its snapshot file is damaged"


def listing(obj: RepoObject, mutation: str, sid: str) -> Allowed:
    """ls of a snapshot of the template."""
    if obj.kind == "snapshots" and sid in obj.dependents:
        return own_snapshot(mutation)
    if sid in obj.tree_dependents:
        return {0, 13}, "its trees are in the damaged object"
    return {0}, "it does not depend on the damaged object"


def restoring(obj: RepoObject, mutation: str, sid: str) -> Allowed:
    """restore of a snapshot of the template."""
    if obj.kind == "snapshots" and sid in obj.dependents:
        return own_snapshot(mutation)
    if sid in obj.dependents:
        return {0, 13}, "it needs the damaged object (0 if what it reads is whole)"
    return {0}, "it does not depend on the damaged object"


def restoring_new(depends: bool) -> Allowed:
    """restore of a snapshot a backup of the case made."""
    if depends:
        return {0, 13}, "it deduplicated against the damaged pack"
    return {0}, "a new snapshot needs nothing damaged"


def new_depends(obj: RepoObject, mutation: str, parent: str) -> bool:
    """Whether a new snapshot of the tree whose last snapshot is ``parent`` needs the damaged
    object: only when the damage is inside a pack the index still names, which a backup
    cannot see (a lost pack is stored again, an unreadable parent tree is read again)."""
    in_place = obj.kind in ("data", "tree") and mutation != "delete"
    return in_place and parent in obj.dependents


def backup() -> Allowed:
    return {0}, "a backup does not depend on damage elsewhere (it re-reads or re-stores)"


def verify(obj: RepoObject, mutation: str, *, read_data: bool, after_repair: bool) -> Allowed:
    kind = obj.kind
    if kind == "index":
        if after_repair:
            return {0}, "repair index rebuilt the index from the (whole) packs"
        return {13}, "an index file is damaged or gone"
    if kind == "snapshots":
        if mutation == "delete":
            return {0}, "a deleted snapshot file is a forgotten snapshot"
        return {13}, "a snapshot file is damaged"
    if kind in ("data", "tree"):
        if mutation == "delete":
            if not obj.dependents or after_repair:
                return {0, 13}, "a pack no snapshot needs is gone, or it was healed"
            return {13}, "a pack snapshots need is gone"
        if after_repair:
            return {0, 13}, "repair index and the backup may have left nothing damaged in use"
        if obj.role == "a marked pack" and not obj.dependents:
            return {0, 13}, "a marked pack no snapshot needs is on its way out: said as info"
        if read_data:
            return {13}, "a pack is damaged (its content no longer matches its name)"
        return {0, 13}, "damage that no blob a snapshot needs shows needs --read-data"
    if kind == "deletions":
        if after_repair:
            return {0}, "repair index indexed the record's packs and removed the record"
        if mutation == "delete":
            return {0, 13}, "the marked packs are no longer named by a record"
        return {13}, "a deletion record is damaged"
    # keys (the recovery key), drills, audit: not part of what verify must read
    return {0, 13}, f"verify need not read {kind}"


def forget() -> Allowed:
    return {0}, "retention decides from the snapshots it can read"


def prune(obj: RepoObject) -> Allowed:
    if obj.kind in ("data", "tree", "index", "deletions"):
        return {0, 13}, "prune may refuse while what snapshots need is damaged"
    return {0}, "prune decides from what it can read"


def repair(obj: RepoObject, mutation: str) -> Allowed:
    if obj.kind in ("data", "tree", "deletions") and mutation != "delete":
        return {0, 13}, "a damaged pack header or record: 13 after indexing the rest"
    if obj.kind in ("data", "tree") and obj.dependents:
        return {0, 13}, "a pack snapshots need is gone: 13 when some of its blobs have no copy"
    return {0}, "repair index rebuilds the index from the pack headers"


def audit(obj: RepoObject, mutation: str) -> Allowed:
    if obj.kind != "audit":
        return {0}, "the audit records are whole"
    if mutation == "delete" and obj.role == "chain tail":
        return {0, 13}, "a deleted chain tail leaves no gap (this host's cache is new)"
    return {13}, "an audit record was damaged"


def drill_history(obj: RepoObject) -> Allowed:
    if obj.kind == "drills":
        return {0, 13}, "one drill record is damaged: the others are listed"
    return {0}, "the drill records are whole"
