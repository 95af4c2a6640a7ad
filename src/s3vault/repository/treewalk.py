"""Each distinct tree below a root once, children before their parent: the walk of every
computation that sums a tree from its subtrees (sizes, matches, damage), iterative however
deep."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator

from s3vault.format.tree import Node, NodeType
from s3vault.ids import ObjectId


def children_first(
    root: ObjectId,
    nodes_of: Callable[[ObjectId], tuple[Node, ...] | None],
    done: Container[ObjectId],
) -> Iterator[tuple[ObjectId, tuple[Node, ...]]]:
    """(tree id, its nodes) for ``root`` and every tree below it that is not in ``done``,
    each after all its subtrees. The caller marks a tree done (in ``done``) when it is
    yielded, before the next one is asked for. ``nodes_of`` returns None for a tree not to
    walk (the caller has marked it done its own way: unreadable, say)."""
    stack: list[tuple[ObjectId, tuple[Node, ...] | None]] = [(root, None)]
    while stack:
        tid, nodes = stack.pop()
        if tid in done:
            continue
        if nodes is None:
            nodes = nodes_of(tid)
            if nodes is None:
                continue
            stack.append((tid, nodes))
            stack.extend(
                (n.subtree, None)
                for n in nodes
                if n.type is NodeType.DIR and n.subtree is not None and n.subtree not in done
            )
            continue
        yield tid, nodes
