"""The tree walk of ``rewrite``: a snapshot's trees without the paths exclude patterns match.

Patterns match the absolute path in the snapshot, exactly as backup's excludes match the path
it records (archiver/excludes.py, s3vault.patterns): a matched directory is dropped whole (its
tree is not even loaded), a matched file, symlink or special file is dropped. A tree nothing
below it is dropped keeps its id; the trees above a drop are rewritten, their ids are keyed
hashes of their new bytes (so the same rewrite gives the same trees again), and only those are
new (``new_trees``, for the caller to store).

Every directory that is not dropped must be read, because a pattern can match at any depth: a
tree that does not load (missing, failing authentication, a node that does not decode) makes
its snapshot *damaged*: it is not rewritten at all, since keeping the unread tree could keep
what was to be removed, and dropping it would remove more than asked (restic refuses too).
The walk is iterative (an explicit stack) and decides each (directory, tree) pair once across
every snapshot: unchanged directories shared by a series of backups are read once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from s3vault.archiver.excludes import ExcludeMatcher
from s3vault.errors import IntegrityError, ObjectNotFoundError
from s3vault.format.tree import Node, NodeType, Tree, shown_name
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository
from s3vault.repository.treegraph import TreeGraphError, WalkBudget

# "This tree is lost"; anything else (storage unreachable, a newer format) stops the rewrite.
LOST = (IntegrityError, ObjectNotFoundError)

_Key = tuple[int, ObjectId]  # (the directory's number in Directories, its tree id)


class Directories:
    """Directory paths as numbers: each is its parent's number and its name, so a deep tree
    costs memory linear in its directories, not in the sum of their path lengths (a tree
    10,000 levels deep has paths of 20 KB). Number 0 is the root."""

    RECENT = 1024  # paths kept: a walk asks for a directory's path right after its parent's

    def __init__(self) -> None:
        self._numbers: dict[tuple[int, bytes], int] = {}
        self._parent: list[int] = [-1]
        self._name: list[bytes] = [b""]
        self._recent: dict[int, bytes] = {0: b""}

    def child(self, parent: int, name: bytes) -> int:
        """The number of directory ``name`` in ``parent``."""
        number = self._numbers.get((parent, name))
        if number is None:
            number = len(self._parent)
            self._numbers[(parent, name)] = number
            self._parent.append(parent)
            self._name.append(name)
        return number

    def path(self, number: int) -> bytes:
        """The absolute path of a directory (``b""`` for the root)."""
        known = self._recent.get(number)
        if known is not None:
            return known
        parent = self._recent.get(self._parent[number])
        if parent is not None:
            path = parent + b"/" + self._name[number]
        else:
            names = []
            at = number
            while at > 0:
                names.append(self._name[at])
                at = self._parent[at]
            path = b"".join(b"/" + name for name in reversed(names))
        if len(self._recent) >= self.RECENT:
            del self._recent[next(iter(self._recent))]
        self._recent[number] = path
        return path


@dataclass(frozen=True, slots=True, kw_only=True)
class Removed:
    """One path a rewritten snapshot leaves out."""

    path: str  # absolute path in the snapshot (undecodable bytes escaped)
    type: str  # the node type: file, dir, symlink, ...
    size: int  # a file's size; 0 for the rest (a directory's content is not counted)


@dataclass(frozen=True, slots=True)
class _Filtered:
    """The outcome for one (directory, tree): its new id and what changed right in it."""

    tree: ObjectId  # the same id when nothing below is dropped
    removed: tuple[Node, ...] = ()  # its own nodes that are dropped
    below: tuple[_Key, ...] = ()  # subdirectories with drops below them
    damaged: tuple[str, str] | None = None  # (path, reason) of a tree below that does not load
    files: int = 0  # the files the new tree holds, at any depth
    size: int = 0  # and their bytes


def _display(path: bytes) -> str:
    return shown_name(path) or "/"


class TreeFilter:
    """Rewrites trees without what the patterns match."""

    def __init__(self, repo: Repository, matcher: ExcludeMatcher) -> None:
        self._repo = repo
        self._matcher = matcher
        self._dirs = Directories()
        self._memo: dict[_Key, _Filtered] = {}
        self.new_trees: dict[ObjectId, bytes] = {}

    def filter(
        self, root: ObjectId, snapshot: ObjectId | None = None
    ) -> tuple[ObjectId, tuple[str, str] | None]:
        """The new root of a snapshot's tree (of ``snapshot``) and, when a tree below does
        not load or the trees name the same directories over and over (treegraph.py), where
        and why (the new root is then meaningless). Iterative post-order: each directory is
        a path, so the walk expands paths and keeps the walks' bounds."""
        try:
            return self._filter(root, WalkBudget(self._repo, (root,), snapshot))
        except TreeGraphError as exc:
            return root, ("/", str(exc))

    def _filter(
        self, root: ObjectId, budget: WalkBudget
    ) -> tuple[ObjectId, tuple[str, str] | None]:
        start: _Key = (0, root)
        stack = [start]
        loaded: dict[_Key, tuple[Tree, frozenset[bytes]]] = {}  # with its excluded names
        while stack:
            key = stack[-1]
            if key in self._memo:
                stack.pop()
                continue
            opened = loaded.get(key)
            if opened is None:
                try:
                    tree = self._repo.load_tree(key[1])
                except LOST as exc:
                    where = _display(self._dirs.path(key[0]))
                    self._memo[key] = _Filtered(key[1], damaged=(where, str(exc)))
                    stack.pop()
                    continue
                budget.listed(key[1], tree.nodes)
                excluded, children = self._look(key[0], tree)
                loaded[key] = opened = (tree, excluded)
                todo = [k for k in children if k not in self._memo and k not in loaded]
                if todo:
                    stack.extend(todo)
                    continue
            self._memo[key] = self._rewrite(key, *opened)
            del loaded[key]
            stack.pop()
        done = self._memo[start]
        return done.tree, done.damaged

    def _look(self, number: int, tree: Tree) -> tuple[frozenset[bytes], list[_Key]]:
        """The names in a directory the patterns exclude, and its subdirectories to decide
        first (excluded ones are never read)."""
        path = self._dirs.path(number)
        excluded = []
        children = []
        for node in tree.nodes:
            is_dir = node.type is NodeType.DIR
            if self._matcher.matches(path + b"/" + node.name):
                excluded.append(node.name)
            elif is_dir and node.subtree is not None:
                children.append((self._dirs.child(number, node.name), node.subtree))
        return frozenset(excluded), children

    def _rewrite(self, key: _Key, tree: Tree, excluded: frozenset[bytes]) -> _Filtered:
        """One tree whose subdirectories are all decided."""
        number, tid = key
        nodes: list[Node] = []
        removed: list[Node] = []
        below: list[_Key] = []
        files = size = 0
        for node in tree.nodes:
            if node.name in excluded:
                removed.append(node)
                continue
            if node.type is NodeType.FILE:
                files, size = files + 1, size + node.size
            if node.type is NodeType.DIR and node.subtree is not None:
                # A subtree still open here would be a cycle (content addressing rules it
                # out): it is kept as it is.
                child = (self._dirs.child(number, node.name), node.subtree)
                sub = self._memo.get(child)
                if sub is not None and sub.damaged is not None:
                    return _Filtered(tid, damaged=sub.damaged)
                if sub is not None:
                    files, size = files + sub.files, size + sub.size
                if sub is not None and sub.tree != node.subtree:
                    below.append(child)
                    node = replace(node, subtree=sub.tree)  # noqa: PLW2901
            nodes.append(node)
        if not removed and not below:
            return _Filtered(tid, files=files, size=size)
        data = Tree(nodes=tuple(nodes)).encode()
        new_id = self._repo.sealer.blob_id(data)
        self.new_trees[new_id] = data
        return _Filtered(new_id, removed=tuple(removed), below=tuple(below), files=files, size=size)

    def totals(self, root: ObjectId) -> tuple[int, int]:
        """The files the filtered tree ``root`` holds and their bytes (filtered before): a
        rewritten snapshot's summary counts them, as restic 0.17's rewrite does."""
        done = self._memo[(0, root)]
        return done.files, done.size

    def rewritten(self, root: ObjectId) -> list[ObjectId]:
        """The new trees the filtered tree ``root`` is made of (those to store for it)."""
        out: list[ObjectId] = []
        stack: list[_Key] = [(0, root)]
        while stack:
            key = stack.pop()
            done = self._memo.get(key)
            if done is None or done.tree == key[1] or done.damaged is not None:
                continue
            out.append(done.tree)
            stack.extend(done.below)
        return out

    def removed(self, root: ObjectId) -> list[Removed]:
        """Everything left out of the tree ``root`` (filtered before), by path."""
        out: list[Removed] = []
        stack: list[_Key] = [(0, root)]
        while stack:
            key = stack.pop()
            done = self._memo.get(key)
            if done is None:
                continue
            path = self._dirs.path(key[0]) if done.removed else b""
            out.extend(
                Removed(
                    path=_display(path + b"/" + node.name),
                    type=node.type.value,
                    size=node.size if node.type is NodeType.FILE else 0,
                )
                for node in done.removed
            )
            stack.extend(done.below)
        out.sort(key=lambda r: r.path)
        return out
