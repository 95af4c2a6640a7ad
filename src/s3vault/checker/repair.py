"""Index repair: rebuild the index from the pack headers (design.md §4: every pack describes
itself). Plan, then execute. On a clean repository the plan is empty and nothing is written;
a pack is never deleted; superseded index files are removed only after the new ones exist.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from s3vault.errors import S3VaultError
from s3vault.format.indexfile import IndexedPack, IndexFile
from s3vault.format.layout import ObjectKind, object_name, parse_name
from s3vault.format.packfile import PackEntry
from s3vault.ids import ObjectId
from s3vault.repository.packheader import read_pack_header
from s3vault.repository.repository import Repository

PACKS_PER_INDEX = 4096


@dataclass(slots=True)
class RepairPlan:
    """What repair index will do."""

    packs: list[IndexedPack] = field(default_factory=list)  # every readable pack, from its header
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # pack name, reason
    old_index: list[ObjectId] = field(default_factory=list)
    needed: bool = False  # the current index differs from what the packs say

    def execute(self, repo: Repository) -> list[ObjectId]:
        """Write the new index files (each superseding every old one), then remove the old ones.

        Returns the new index ids (empty when nothing needed doing).
        """
        if not self.needed:
            return []
        new_ids = []
        for start in range(0, max(1, len(self.packs)), PACKS_PER_INDEX):
            chunk = tuple(self.packs[start : start + PACKS_PER_INDEX])
            new_ids.append(
                repo.save_index(IndexFile(packs=chunk, supersedes=tuple(self.old_index)))
            )
        for oid in self.old_index:
            repo.backend.delete(object_name(ObjectKind.INDEX, oid))
        return new_ids


def _key(pack: IndexedPack) -> tuple[bytes, int, tuple[PackEntry, ...]]:
    return pack.id, pack.size, tuple(sorted(pack.entries, key=lambda e: e.offset))


def plan_repair(repo: Repository, *, workers: int = 4) -> RepairPlan:
    """Read every pack header and compare with the current index files.

    Raises:
        BackendError: storage could not be listed.
    """
    plan = RepairPlan()
    listed = [
        (info.name, info.size)
        for kind in (ObjectKind.DATA, ObjectKind.TREE)
        for info in repo.backend.list(kind.value + "/")
        if parse_name(info.name) is not None
    ]

    def one(item: tuple[str, int]) -> IndexedPack | tuple[str, str]:
        try:
            return read_pack_header(repo, *item)
        except (S3VaultError, ValueError) as exc:
            return item[0], str(exc)

    with ThreadPoolExecutor(workers, thread_name_prefix="s3v-repair") as pool:
        for result in pool.map(one, sorted(listed)):
            if isinstance(result, IndexedPack):
                plan.packs.append(result)
            else:
                plan.unreadable.append(result)
    plan.old_index = sorted(repo.list_files(ObjectKind.INDEX))
    current: set[tuple[bytes, int, tuple[PackEntry, ...]]] = set()
    intact = True
    for oid in plan.old_index:
        try:
            ifile = IndexFile.decode(repo.load_file(ObjectKind.INDEX, oid))
        except (S3VaultError, ValueError):
            intact = False
            continue
        current.update(_key(p) for p in ifile.packs)
    plan.needed = not intact or current != {_key(p) for p in plan.packs}
    return plan
