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
The walk is iterative (an explicit stack) and decides each (path, tree) pair once across
every snapshot: unchanged directories shared by a series of backups are read once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from s3vault.archiver.excludes import ExcludeMatcher
from s3vault.errors import IntegrityError, ObjectNotFoundError
from s3vault.format.tree import Node, NodeType, Tree
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository

# "This tree is lost"; anything else (storage unreachable, a newer format) stops the rewrite.
LOST = (IntegrityError, ObjectNotFoundError)

_Key = tuple[bytes, ObjectId]  # (absolute path of the directory, its tree id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Removed:
    """One path a rewritten snapshot leaves out."""

    path: str  # absolute path in the snapshot (undecodable bytes escaped)
    type: str  # the node type: file, dir, symlink, ...
    size: int  # a file's size; 0 for the rest (a directory's content is not counted)


@dataclass(frozen=True, slots=True)
class _Filtered:
    """The outcome for one (path, tree): its new id and what changed right in it."""

    tree: ObjectId  # the same id when nothing below is dropped
    removed: tuple[Node, ...] = ()  # its own nodes that are dropped
    below: tuple[_Key, ...] = ()  # subdirectories with drops below them
    damaged: tuple[str, str] | None = None  # (path, reason) of a tree below that does not load


def _display(path: bytes) -> str:
    return path.decode("utf-8", "backslashreplace") or "/"


class TreeFilter:
    """Rewrites trees without what the patterns match."""

    def __init__(self, repo: Repository, matcher: ExcludeMatcher) -> None:
        self._repo = repo
        self._matcher = matcher
        self._memo: dict[_Key, _Filtered] = {}
        self.new_trees: dict[ObjectId, bytes] = {}

    def filter(self, root: ObjectId) -> tuple[ObjectId, tuple[str, str] | None]:
        """The new root of a snapshot's tree and, when a tree below does not load, its path
        and why (the new root is then meaningless). Iterative post-order."""
        start: _Key = (b"", root)
        stack = [start]
        loaded: dict[_Key, Tree] = {}
        while stack:
            key = stack[-1]
            if key in self._memo:
                stack.pop()
                continue
            tree = loaded.get(key)
            if tree is None:
                try:
                    tree = self._repo.load_tree(key[1])
                except LOST as exc:
                    self._memo[key] = _Filtered(key[1], damaged=(_display(key[0]), str(exc)))
                    stack.pop()
                    continue
                loaded[key] = tree
                todo = [k for k in self._children(key[0], tree) if k not in self._memo]
                todo = [k for k in todo if k not in loaded]
                if todo:
                    stack.extend(todo)
                    continue
            self._memo[key] = self._rewrite(key, tree)
            del loaded[key]
            stack.pop()
        done = self._memo[start]
        return done.tree, done.damaged

    def _excluded(self, path: bytes, node: Node) -> bool:
        return self._matcher.excluded(path, node.type is NodeType.DIR)

    def _children(self, path: bytes, tree: Tree) -> list[_Key]:
        """The subdirectories to decide first (dropped ones are never read)."""
        out = []
        for node in tree.nodes:
            child = path + b"/" + node.name
            subtree = node.subtree
            if (
                node.type is NodeType.DIR
                and subtree is not None
                and not self._excluded(child, node)
            ):
                out.append((child, subtree))
        return out

    def _rewrite(self, key: _Key, tree: Tree) -> _Filtered:
        """One tree whose subdirectories are all decided."""
        path, tid = key
        nodes: list[Node] = []
        removed: list[Node] = []
        below: list[_Key] = []
        for node in tree.nodes:
            child = path + b"/" + node.name
            if self._excluded(child, node):
                removed.append(node)
                continue
            if node.type is NodeType.DIR and node.subtree is not None:
                # A subtree still open here would be a cycle (content addressing rules it
                # out): it is kept as it is.
                sub = self._memo.get((child, node.subtree))
                if sub is not None and sub.damaged is not None:
                    return _Filtered(tid, damaged=sub.damaged)
                if sub is not None and sub.tree != node.subtree:
                    below.append((child, node.subtree))
                    node = replace(node, subtree=sub.tree)  # noqa: PLW2901
            nodes.append(node)
        if not removed and not below:
            return _Filtered(tid)
        data = Tree(nodes=tuple(nodes)).encode()
        new_id = self._repo.sealer.blob_id(data)
        self.new_trees[new_id] = data
        return _Filtered(new_id, removed=tuple(removed), below=tuple(below))

    def rewritten(self, root: ObjectId) -> list[ObjectId]:
        """The new trees the filtered tree ``root`` is made of (those to store for it)."""
        out: list[ObjectId] = []
        stack: list[_Key] = [(b"", root)]
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
        stack: list[_Key] = [(b"", root)]
        while stack:
            key = stack.pop()
            done = self._memo.get(key)
            if done is None:
                continue
            out.extend(
                Removed(
                    path=_display(key[0] + b"/" + node.name),
                    type=node.type.value,
                    size=node.size if node.type is NodeType.FILE else 0,
                )
                for node in done.removed
            )
            stack.extend(done.below)
        out.sort(key=lambda r: r.path)
        return out
