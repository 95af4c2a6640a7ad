"""RestorePlan: walk a snapshot's trees and decide what to create, and which blobs go where.

Every name is checked before it becomes a path: empty names, ``.``, ``..``, names with ``/`` or
NUL, and duplicate names in one directory are refused and reported (with everything below them),
never joined to the target. Blobs are grouped by pack so each pack is read once.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from s3vault.format.packfile import BlobType
from s3vault.format.tree import Node, NodeType
from s3vault.ids import ObjectId
from s3vault.patterns import PatternList
from s3vault.repository.index import BlobLocation
from s3vault.repository.repository import Repository


@dataclass(slots=True)
class FileTask:
    """One regular file to write."""

    path: bytes
    node: Node
    missing: int = 0  # blobs not yet written
    failed: str = ""


@dataclass(slots=True)
class RestorePlan:
    """Everything a restore will do."""

    dirs: list[tuple[bytes, Node]] = field(default_factory=list)
    files: list[FileTask] = field(default_factory=list)
    hardlinks: list[tuple[bytes, Node, bytes]] = field(default_factory=list)
    others: list[tuple[bytes, Node]] = field(default_factory=list)  # symlinks, fifos, devices
    unsafe: list[tuple[str, str]] = field(default_factory=list)
    # pack id → blob id → (location, [(file number, offset in file)])
    packs: dict[ObjectId, dict[ObjectId, tuple[BlobLocation, list[tuple[int, int]]]]] = field(
        default_factory=dict
    )
    missing_blobs: list[tuple[str, str]] = field(default_factory=list)
    total_bytes: int = 0


def unsafe_name(name: bytes) -> str:
    """Why a node name cannot be a path component, or empty when it can."""
    if name in (b"", b".", b".."):
        return f"refusing the name {name!r}"
    if b"/" in name or b"\0" in name:
        return "refusing a name that contains '/' or NUL"
    return ""


class _Selector:
    def __init__(
        self,
        include: tuple[str, ...],
        exclude: tuple[str, ...],
        select: Callable[[str], bool] | None,
    ) -> None:
        self._inc = PatternList(include, what="--include") if include else None
        self._exc = PatternList(exclude, what="--exclude") if exclude else None
        self._select = select

    def excluded(self, rel: str, is_dir: bool) -> bool:
        return bool(self._exc and self._exc.matches(rel))

    def included(self, rel: str, is_dir: bool) -> bool:
        if self._select is not None:
            return not is_dir and self._select(rel)
        return self._inc is None or self._inc.matches(rel)

    @property
    def filtering(self) -> bool:
        return self._inc is not None or self._select is not None


class _Planner:
    """Builds a RestorePlan by walking trees depth-first in name order."""

    def __init__(self, repo: Repository, sel: _Selector) -> None:
        self.repo = repo
        self.sel = sel
        self.plan = RestorePlan()
        self.seen_inodes: dict[tuple[int, int], bytes] = {}
        self.packs: dict[ObjectId, dict[ObjectId, tuple[BlobLocation, list[tuple[int, int]]]]] = (
            defaultdict(dict)
        )

    def add_file(self, path: bytes, shown: str, node: Node) -> None:
        plan = self.plan
        if node.links > 1:
            key = (node.device, node.inode)
            first = self.seen_inodes.get(key)
            if first is not None:
                plan.hardlinks.append((path, node, first))
                return
            self.seen_inodes[key] = path
        number = len(plan.files)
        task = FileTask(path=path, node=node)
        offset = 0
        for bid in node.content:
            loc = self.repo.index.lookup(BlobType.DATA, bid)
            if loc is None:
                plan.missing_blobs.append((shown, f"data blob {bid.short} is not in the index"))
                task.failed = "content missing from the repository"
                break
            slot = self.packs[loc.pack_id].get(bid)
            if slot is None:
                self.packs[loc.pack_id][bid] = (loc, [(number, offset)])
            else:
                slot[1].append((number, offset))
            task.missing += 1
            offset += loc.raw_length
        plan.files.append(task)
        plan.total_bytes += node.size

    def _check(self, node: Node, names: set[bytes], shown: str) -> bool:
        why = unsafe_name(node.name)
        if not why and node.name in names:
            why = "duplicate name in one directory"
        if why:
            self.plan.unsafe.append((shown, why))
            return False
        names.add(node.name)
        return True

    def walk(self, tid: ObjectId, path: bytes, rel: str, inside: bool) -> bool:
        """Plan a directory's children; True if anything below was selected."""
        plan, sel = self.plan, self.sel
        names: set[bytes] = set()
        selected = False
        for node in self.repo.load_tree(tid).nodes:
            shown = f"{rel}/{node.display_name}"
            if not self._check(node, names, shown):
                continue
            is_dir = node.type is NodeType.DIR
            if sel.excluded(shown, is_dir):
                continue
            child_path = os.path.join(path, node.name)
            here = inside or sel.included(shown, is_dir)
            if is_dir:
                mark = len(plan.dirs)
                plan.dirs.append((child_path, node))
                below = self.walk(node.subtree, child_path, shown, here) if node.subtree else False
                if not (here or below):
                    del plan.dirs[mark]  # nothing selected below: do not create it
                selected = selected or here or below
            elif here:
                selected = True
                if node.type is NodeType.FILE:
                    self.add_file(child_path, shown, node)
                else:
                    plan.others.append((child_path, node))
        return selected


def plan_restore(
    repo: Repository,
    tree_id: ObjectId,
    target: bytes,
    *,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    select: Callable[[str], bool] | None = None,
) -> RestorePlan:
    """Plan the restore of a tree into ``target``; ``select`` (a predicate on snapshot paths
    such as ``/etc/hosts``) picks individual files instead of include patterns.

    Raises:
        IntegrityError: a tree cannot be loaded.
    """
    sel = _Selector(include, exclude, select)
    planner = _Planner(repo, sel)
    planner.walk(tree_id, target, "", not sel.filtering)
    planner.plan.packs = dict(planner.packs)
    return planner.plan
