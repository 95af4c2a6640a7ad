"""unlock: remove a stale maintenance lease (or, with remove_all, any)."""

from __future__ import annotations

from dataclasses import dataclass

from s3vault.ops.audit import audited
from s3vault.repository.claims import inspect_claims, remove_claims
from s3vault.repository.lease import describe, inspect_lease, remove_lease
from s3vault.repository.repository import Repository


@dataclass(frozen=True, slots=True, kw_only=True)
class UnlockResult:
    """What unlock found and whether it removed it."""

    found: str | None  # the lease's holder, as text
    stale: bool
    removed: bool


def unlock(repo: Repository, *, remove_all: bool = False) -> UnlockResult:
    """Remove the maintenance lease (or its claim objects) if it is stale (its holder
    stopped refreshing it). Audited.
    """
    with audited(repo, "unlock") as note:
        result = _unlock(repo, remove_all=remove_all)
        note.details.update(removed=result.removed, lease=result.found or None)
    return result


def _unlock(repo: Repository, *, remove_all: bool) -> UnlockResult:
    status, remove = inspect_lease(repo), remove_lease
    if status is None:  # a store without atomic writes: the lease is held by claim objects
        status, remove = inspect_claims(repo), remove_claims
    if status is None:
        return UnlockResult(found=None, stale=False, removed=False)
    text = describe(status.holder, status.age)
    if status.stale or remove_all:
        remove(repo)
        return UnlockResult(found=text, stale=status.stale, removed=True)
    return UnlockResult(found=text, stale=False, removed=False)
