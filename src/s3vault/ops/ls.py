"""ls: list the entries of a snapshot, optionally below a path."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from s3vault.errors import UsageError
from s3vault.format.tree import Node, NodeType
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import find_snapshot


@dataclass(frozen=True, slots=True, kw_only=True)
class LsEntry:
    """One entry: its path in the snapshot and its node."""

    path: str
    node: Node


def ls(
    repo: Repository, snapshot: str, path: str = "/", *, recursive: bool = True
) -> tuple[ObjectId, Iterator[LsEntry]]:
    """The snapshot id and its entries below ``path`` in depth-first name order.

    Raises:
        UsageError: unknown snapshot, or ``path`` is not in it.
    """
    sid, snap = find_snapshot(repo, snapshot)
    tid: ObjectId | None = snap.tree
    prefix = ""
    for part in [p for p in os.fsencode(path).split(b"/") if p]:
        assert tid is not None
        node = repo.load_tree(tid).find(part)
        if node is None:
            msg = f"{path!r} is not in snapshot {sid.short}"
            raise UsageError(msg)
        prefix += "/" + node.display_name
        if node.type is not NodeType.DIR:
            return sid, iter([LsEntry(path=prefix, node=node)])
        tid = node.subtree
    return sid, walk_tree(repo, tid, prefix, recursive=recursive) if tid is not None else iter(())


def walk_tree(
    repo: Repository, tree_id: ObjectId, base: str = "", *, recursive: bool = True
) -> Iterator[LsEntry]:
    """The entries of a tree (and, recursive, of every tree below it) in depth-first name
    order, their paths below ``base``."""
    for node in repo.load_tree(tree_id).nodes:
        here = f"{base}/{node.display_name}"
        yield LsEntry(path=here, node=node)
        if recursive and node.type is NodeType.DIR and node.subtree is not None:
            yield from walk_tree(repo, node.subtree, here)
