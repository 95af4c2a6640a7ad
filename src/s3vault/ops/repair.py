"""repair index: rebuild the index from the packs; repair snapshots: rewrite damaged snapshots
without what is lost."""

from __future__ import annotations

from dataclasses import dataclass

from s3vault.backend.accounting import RequestCounts
from s3vault.checker.repair import PackRepair, plan_repair
from s3vault.clock import Clock
from s3vault.ids import ObjectId
from s3vault.repository.lease import LeaseSettings, lease_class
from s3vault.repository.repository import Repository


@dataclass(frozen=True, slots=True, kw_only=True)
class RepairIndexResult:
    """What repair index did (or, with dry_run, would do)."""

    packs: int
    blobs: int
    damaged_packs: tuple[PackRepair, ...]  # packs not simply indexed from their header
    changed: bool
    new_index_files: tuple[ObjectId, ...]
    removed_index_files: int
    requests: RequestCounts

    @property
    def blobs_lost(self) -> int:
        """Blobs that left the index: their pack is gone or they did not read back."""
        return sum(p.lost for p in self.damaged_packs)


def repair_index(
    repo: Repository,
    *,
    dry_run: bool = False,
    lease: LeaseSettings | None = None,
    clock: Clock | None = None,
) -> RepairIndexResult:
    """Rebuild the index from every pack, under the maintenance lease (not with dry_run).

    A blob leaves the index only when its pack is gone or it does not read back: where a
    pack's header is unusable, every blob the old index files place there is read and kept
    if it opens. Never deletes a pack; changes nothing when the index is already right.

    Raises:
        LeaseHeldError: a prune (or another repair) holds the maintenance lease.
        BackendError: storage failed.
    """
    if dry_run:
        plan = plan_repair(repo)
        new: tuple[ObjectId, ...] = ()
    else:
        with lease_class(repo).acquire(repo, "repair index", lease, clock=clock) as held:
            plan = plan_repair(repo)
            new = tuple(plan.execute(repo, check_lease=held.check))
    return RepairIndexResult(
        packs=len(plan.packs),
        blobs=sum(len(p.entries) for p in plan.packs),
        damaged_packs=tuple(plan.damaged),
        changed=plan.needed,
        new_index_files=new,
        removed_index_files=len(plan.old_index) if plan.needed and not dry_run else 0,
        requests=repo.requests.snapshot(),
    )
