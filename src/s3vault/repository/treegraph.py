"""How far a walk of a snapshot's trees may expand: the defence against a forged tree graph.

Trees are content-addressed, so identical directories share one subtree, and a walk that
expands paths (restore, restore-test, ls, find, diff, dump) meets a shared subtree once per
directory that names it. A forged graph names one subtree twice in each of 40 nested trees:
2^40 paths from 41 tiny trees, which every such walk would follow until memory or patience
ran out. A put-only host can store one (design.md §6a), and nothing in it fails a check.

Two rules bound every expanding walk (``WalkBudget``); both stop it with ``TreeGraphError``:

- **Repetition inside repetition.** A node records its inode and device, so on a real file
  system only a directory of files (hard links, the same inodes) can repeat: copies of it in
  different places are stored once and named once by each place. A tree reached far more
  often than it is named (``NESTING`` times) sits inside directories that themselves repeat,
  which only a forged graph (or the same directory bind-mounted ``NESTING`` times) gives.
  A forged graph of any depth is stopped after a few thousand entries.
- **Entries met against entries stored.** Past ``FLOOR`` entries a walk learns how many
  entries its trees store and how many a whole walk of them meets (``measure``: each distinct
  tree once, children first); it stops there if the whole walk would meet more than ``RATIO``
  times the entries stored, and else once it has: a bound on what a graph that passes the
  first rule can make a walk do, reached after ``FLOOR`` entries (a walk that keeps what it
  meets, the restore plan, holds no more). A walk that leaves a part out (restore's
  ``--exclude``) is judged by the whole graph once past ``FLOOR``.

Neither rule refuses a snapshot of a real file system short of the extreme: the first would
need a directory bind-mounted in more than 1,000 places, the second a directory of more than
2,000 hard links in more than 2,000 places (a hard-link farm of 2,000 generations). What the
second still allows a forged graph is bounded, not small: 6,000 entries stored (about 20 KB)
may make a walk meet 6 million before it is refused.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import NoReturn

from s3vault.errors import FormatVersionError, IntegrityError, ObjectNotFoundError
from s3vault.format.tree import Node, NodeType
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository
from s3vault.repository.treewalk import children_first

# The operator's way past both bounds, for a real tree that breaks one (the refusal names it)
UNBOUNDED = "S3VAULT_UNBOUNDED_WALKS"
FLOOR = 100_000  # entries any walk may meet, however few distinct ones are stored
RATIO = 1_000  # entries a walk may meet per entry stored, beyond FLOOR
NESTING = 1_000  # times a tree may be reached per entry that names it


class TreeGraphError(IntegrityError):
    """A walk met far more entries than its trees store: a forged or damaged tree graph.
    ``reason``: the message without the snapshot it is about (for a line that names it)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


CAP = 10**18  # what ``expanded`` counts up to
UNREADABLE = (IntegrityError, ObjectNotFoundError, FormatVersionError)  # a tree's, counted none


def expanded(nodes: tuple[Node, ...], below: dict[ObjectId, tuple[int, int]]) -> tuple[int, int]:
    """(entries a walk meets below a tree, the entries of its heaviest chain of trees) from
    those of its subtrees (``below``; a tree not in it counts none): what a walk that visits
    each tree once computes, children first, to judge a snapshot by the second rule without
    expanding it. The chain's entries are a lower bound of the entries stored: the trees on
    one path are distinct."""
    met, chain = len(nodes), 0
    for node in nodes:
        if node.subtree is not None and node.type is NodeType.DIR:
            sub_met, sub_chain = below.get(node.subtree, (0, 0))
            met += sub_met
            chain = max(chain, sub_chain)
    return min(met, CAP), len(nodes) + chain


def measure(repo: Repository, roots: Iterable[ObjectId]) -> tuple[int, int]:
    """(entries a walk from ``roots`` meets, entries their trees store), each distinct tree
    read once, children first; a tree that cannot be read (damaged, lost, of a newer format)
    counts none: the walk that needs it says so."""
    sizes: dict[ObjectId, tuple[int, int]] = {}
    stored = 0

    def nodes_of(tid: ObjectId) -> tuple[Node, ...] | None:
        try:
            return repo.load_tree(tid).nodes
        except UNREADABLE:
            sizes[tid] = (0, 0)
            return None

    met = 0
    for root in roots:
        for tid, nodes in children_first(root, nodes_of, sizes):
            sizes[tid] = expanded(nodes, sizes)
            stored += len(nodes)
        met = min(CAP, met + sizes[root][0])
    return met, stored


def unbounded() -> bool:
    """Whether the operator lifted the bounds (UNBOUNDED=1)."""
    return os.environ.get(UNBOUNDED) == "1"


def limit(stored: int) -> int:
    """The entries a walk of trees that store ``stored`` may meet (the second rule)."""
    return max(FLOOR, RATIO * stored)


def overexpanded(repo: Repository, root: ObjectId, size: tuple[int, int]) -> str | None:
    """Why a walk from ``root`` would break the second rule (the figures), given its
    ``expanded`` size; None if it would not (or the operator lifted the bounds). The entries
    stored are counted only when the chain's lower bound does not settle it."""
    met, chain = size
    if met <= limit(chain) or unbounded():
        return None
    stored = measure(repo, (root,))[1]
    if met <= limit(stored):
        return None
    shown = f"{met:,}" if met < CAP else f"more than {CAP:,}"
    return f"a walk meets {shown} entries, {stored:,} stored"


class WalkBudget:
    """The entries one expanding walk may meet (see the module docstring)."""

    def __init__(
        self, repo: Repository, roots: Iterable[ObjectId], snapshot: ObjectId | None = None
    ) -> None:
        """``roots``: the trees the walk starts from; ``snapshot``: whose trees they are (the
        error names it and its fix)."""
        self._repo = repo
        self._roots = tuple(roots)
        self._snapshot = snapshot
        self.met = 0
        self._off = unbounded()
        self._limit = FLOOR
        self._stored: int | None = None
        self._listed: set[ObjectId] = set()
        self._named: dict[ObjectId, int] = {}  # subtree → entries of distinct trees naming it
        self._reached: dict[ObjectId, int] = {}  # subtree → times a listing reached it

    def listed(self, tid: ObjectId, nodes: tuple[Node, ...]) -> None:
        """Count the entries of tree ``tid`` as the walk lists them (once per time).

        Raises:
            TreeGraphError: a rule of the module docstring is broken.
        """
        if self._off:
            return
        first = tid not in self._listed
        if first:
            self._listed.add(tid)
        named, reached = self._named, self._reached
        for node in nodes:
            sub = node.subtree
            if sub is None or node.type is not NodeType.DIR:
                continue
            if first:
                named[sub] = named.get(sub, 0) + 1
            times = reached[sub] = reached.get(sub, 0) + 1
            if times > NESTING * named.get(sub, 0):
                self._refuse(
                    f"tree {sub.short} is reached {times:,} times and named "
                    f"{named.get(sub, 0):,} times"
                )
        self.meet(len(nodes))

    def meet(self, entries: int) -> None:
        """Count entries the walk met (``listed`` does, for a tree it lists).

        Raises:
            TreeGraphError: more than the second rule of the module docstring allows.
        """
        self.met += entries
        if self.met <= self._limit or self._off:
            return
        if self._stored is None:  # once, and only for a walk past FLOOR
            whole, self._stored = measure(self._repo, self._roots)
            self._limit = limit(self._stored)
            if whole > self._limit:  # refused now, not after a plan of RATIO × stored entries
                self._refuse(f"a walk meets {whole:,} entries, {self._stored:,} stored")
            if self.met <= self._limit:
                return
        self._refuse(f"more than {self._limit:,} entries met, {self._stored:,} stored")

    def _refuse(self, why: str) -> NoReturn:
        sid = self._snapshot
        what = f"snapshot {sid.short}" if sid is not None else f"tree {self._roots[0].short}"
        reason = (
            f"its trees name the same directories over and over ({why}): a forged or damaged "
            f"tree graph, or a real directory mounted in over {NESTING:,} places when it was "
            "backed up; not walked further"
        )
        if sid is not None:
            reason += f"; if it is forged, `s3vault forget {sid.short}` removes it"
        reason += f"; if it is a real directory tree, {UNBOUNDED}=1 walks it whole"
        raise TreeGraphError(f"{what}: {reason}", reason)
