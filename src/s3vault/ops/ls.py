"""ls: list the entries of a snapshot, optionally below a path."""

from __future__ import annotations

import itertools
import os
import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from s3vault.errors import IntegrityError, ObjectNotFoundError, UsageError
from s3vault.format.codec import readable
from s3vault.format.tree import Node, NodeType, Tree, find_shown
from s3vault.ids import ObjectId
from s3vault.ops.snapshots import SnapshotFilter, select_snapshot
from s3vault.repository.repository import Repository
from s3vault.repository.treegraph import WalkBudget


@dataclass(frozen=True, slots=True, kw_only=True)
class LsEntry:
    """One entry: its path in the snapshot (shown: odd bytes escaped) and its node."""

    path: str
    node: Node
    raw: bytes = b""  # the path as stored, byte for byte (what an archive of it must name)


def _tree_on_path(repo: Repository, tid: ObjectId, where: str) -> Tree:
    """The tree of the directory ``where`` on a path being looked up.

    Raises:
        IntegrityError, ObjectNotFoundError: it cannot be read, said with the directory
            (`dump` named only the tree: "tree blob 44615911 is not in the index", an attack
            pass, 2026-12-08).
    """
    try:
        return repo.load_tree(tid)
    except (IntegrityError, ObjectNotFoundError) as exc:
        raise type(exc)(f"{where or '/'}: directory cannot be read: {exc}") from exc


def ls(
    repo: Repository,
    snapshot: str,
    path: str = "/",
    *,
    recursive: bool = True,
    on_error: Callable[[str, str], None] | None = None,
    select: SnapshotFilter | None = None,
    include_self: bool = False,
) -> tuple[ObjectId, Iterator[LsEntry]]:
    """The snapshot id and its entries below ``path`` in depth-first name order; a directory
    that cannot be read is told to ``on_error`` (see ``walk_tree``) and left out. ``select``:
    which snapshots ``latest`` counts (restic's --host, --tag, --path; see select_snapshot).
    ``include_self``: the directory ``path`` names comes first (restic's ``ls SNAP DIR``).
    ``path`` is cleaned as restic's path.Clean (``/a/./b/../c`` is ``/a/c``).

    Raises:
        UsageError: unknown snapshot, or ``path`` is not in it.
        IntegrityError: the snapshot named is damaged, or a directory on ``path``.
    """
    repo = repo.current()  # what this process stored since the handle's index was read
    sid, snap = select_snapshot(repo, snapshot, select)
    repo = repo.covering(snap.tree)  # a snapshot stored since the handle's index was read
    tid: ObjectId | None = snap.tree
    prefix, raw, top = "", b"", None
    parts = [p for p in os.fsencode(clean_path(path)).split(b"/") if p]
    for n, part in enumerate(parts):
        node = find_shown(_tree_on_path(repo, tid, prefix), part) if tid is not None else None
        if node is None:
            msg = f"'{readable(path)}' is not in snapshot {sid.short}"
            raise UsageError(msg)
        prefix += "/" + node.display_name
        raw += b"/" + node.name
        if node.type is not NodeType.DIR:
            if n + 1 < len(parts):  # /etc/passwd/x: not the file /etc/passwd (restic refuses)
                msg = (
                    f"'{readable(path)}' is not in snapshot {sid.short}: '{prefix}' is a "
                    f"{node.type.value}, not a directory"
                )
                raise UsageError(msg)
            return sid, iter([LsEntry(path=prefix, node=node, raw=raw)])
        tid, top = node.subtree, node
    head = [LsEntry(path=prefix, node=top, raw=raw)] if include_self and top is not None else []
    if tid is None:
        return sid, iter(head)
    walk = walk_tree(
        repo, tid, prefix, recursive=recursive, on_error=on_error, raw_base=raw, snapshot=sid
    )
    return sid, itertools.chain(head, walk)


def clean_path(path: str) -> str:
    """A path in a snapshot as restic's path.Clean makes it: absolute, no ``.``, ``..`` or
    doubled slash (``dump latest /srv/a/../b`` said "not in snapshot" where ``ls`` and restic
    found it; an attack pass, 2026-12-07)."""
    return "/" + posixpath.normpath("/" + path).lstrip("/")


def ls_dirs(
    repo: Repository,
    snapshot: str,
    dirs: tuple[str, ...] = (),
    *,
    recursive: bool = False,
    on_error: Callable[[str, str], None] | None = None,
    select: SnapshotFilter | None = None,
) -> tuple[ObjectId, Iterator[LsEntry]]:
    """restic's ``ls SNAPSHOT [DIR]...``: every entry of the snapshot, or each DIR and what it
    holds (``recursive``: everything below it), each entry once, in the tree's order (DIRs
    cleaned as restic's path.Clean: ``/a/b/../b`` is ``/a/b``). Every DIR is looked up before
    anything is listed, in the one snapshot ``snapshot`` names.

    Raises:
        UsageError: unknown snapshot, or a DIR is not in it.
        IntegrityError: the snapshot named is damaged, or a directory on a DIR's way.
    """
    repo = repo.current()  # what this process stored since the handle's index was read
    listings = []
    for path in [clean_path(d) for d in dirs] or ["/"]:
        sid, entries = ls(
            repo,
            snapshot,
            path,
            on_error=on_error,
            select=select,
            recursive=recursive or not dirs,
            include_self=True,
        )
        listings.append(entries)
        snapshot, select = sid.hex(), None  # the same snapshot for every DIR
    merged = itertools.chain.from_iterable(listings)
    if len(listings) == 1:
        return sid, merged
    unique = {e.raw: e for e in merged}  # as one walk: each entry once, in the tree's order
    return sid, iter(sorted(unique.values(), key=lambda e: e.raw.split(b"/")))


def walk_tree(
    repo: Repository,
    tree_id: ObjectId,
    base: str = "",
    *,
    recursive: bool = True,
    on_error: Callable[[str, str], None] | None = None,
    raw_base: bytes = b"",
    snapshot: ObjectId | None = None,
) -> Iterator[LsEntry]:
    """The entries of a tree (of ``snapshot``, named if its tree graph is refused; and,
    recursive, of every tree below it) in depth-first name order, their paths below ``base``.
    Iterative: a tree 10,000 levels deep is walked like a flat one. ``on_error(path,
    reason)`` is told of a subtree that cannot be read, and the walk goes on without it;
    without ``on_error`` that raises.

    Raises:
        IntegrityError, ObjectNotFoundError: a tree cannot be read (without ``on_error``).
        TreeGraphError: the trees name the same directories over and over (treegraph.py).
    """
    budget = WalkBudget(repo, (tree_id,), snapshot)
    first = _nodes(repo, tree_id, base or "/", on_error)
    budget.listed(tree_id, first)
    stack: list[tuple[Iterator[Node], str, bytes]] = [(iter(first), base, raw_base)]
    while stack:
        nodes, prefix, raw = stack[-1]
        node = next(nodes, None)
        if node is None:
            stack.pop()
            continue
        here, raw_here = f"{prefix}/{node.display_name}", raw + b"/" + node.name
        yield LsEntry(path=here, node=node, raw=raw_here)
        if recursive and node.type is NodeType.DIR and node.subtree is not None:
            below = _nodes(repo, node.subtree, here, on_error)
            budget.listed(node.subtree, below)
            stack.append((iter(below), here, raw_here))


def _nodes(
    repo: Repository, tid: ObjectId, path: str, on_error: Callable[[str, str], None] | None
) -> tuple[Node, ...]:
    if on_error is None:
        return repo.load_tree(tid).nodes
    try:
        return repo.load_tree(tid).nodes
    except (IntegrityError, ObjectNotFoundError) as exc:
        on_error(path, f"directory cannot be read: {exc}")
        return ()
