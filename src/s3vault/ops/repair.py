"""repair index: rebuild the index from the pack headers."""

from __future__ import annotations

from dataclasses import dataclass

from s3vault.backend.accounting import RequestCounts
from s3vault.checker.repair import plan_repair
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository


@dataclass(frozen=True, slots=True, kw_only=True)
class RepairIndexResult:
    """What repair index did (or, with dry_run, would do)."""

    packs: int
    blobs: int
    unreadable_packs: tuple[tuple[str, str], ...]
    changed: bool
    new_index_files: tuple[ObjectId, ...]
    removed_index_files: int
    requests: RequestCounts


def repair_index(repo: Repository, *, dry_run: bool = False) -> RepairIndexResult:
    """Rebuild the index from every readable pack header; never deletes a pack.

    Raises:
        BackendError: storage failed.
    """
    plan = plan_repair(repo)
    new = () if dry_run else tuple(plan.execute(repo))
    return RepairIndexResult(
        packs=len(plan.packs),
        blobs=sum(len(p.entries) for p in plan.packs),
        unreadable_packs=tuple(plan.unreadable),
        changed=plan.needed,
        new_index_files=new,
        removed_index_files=len(plan.old_index) if plan.needed and not dry_run else 0,
        requests=repo.requests.snapshot(),
    )
