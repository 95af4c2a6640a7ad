"""Trees and nodes (design.md §9): a directory listing, stored as a tree blob.

A tree blob is canonical JSON ``{"nodes": [...]}`` with nodes sorted by name bytes. Names and link
targets are arbitrary bytes: UTF-8 names are stored as text (``name``), others as base64
(``name_b64``), so every name round-trips exactly.

``Tree.decode`` refuses a tree with any malformed node. ``Tree.decode_each`` is for readers that
can go on without one entry (restore): the blob itself must still parse as a tree (it has been
authenticated before either is called), but a node that does not decode is returned as a
NodeError, by name, and the other nodes are kept.
"""

from __future__ import annotations

import operator
import stat
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from s3vault.errors import IntegrityError
from s3vault.format import codec
from s3vault.ids import ObjectId

TREE_VERSION = 1


class NodeType(StrEnum):
    """What a directory entry is."""

    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    FIFO = "fifo"
    CHARDEV = "chardev"
    BLOCKDEV = "blockdev"
    SOCKET = "socket"


# The Unix file type of each node type (stat's S_IF* bits, as a mode carries them): what a
# mounted view and a zip archive say an entry is
TYPE_BITS = {
    NodeType.FILE: stat.S_IFREG,
    NodeType.DIR: stat.S_IFDIR,
    NodeType.SYMLINK: stat.S_IFLNK,
    NodeType.FIFO: stat.S_IFIFO,
    NodeType.CHARDEV: stat.S_IFCHR,
    NodeType.BLOCKDEV: stat.S_IFBLK,
    NodeType.SOCKET: stat.S_IFSOCK,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """One directory entry with its metadata and, for files, its content."""

    name: bytes
    type: NodeType
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    user: str = ""
    group: str = ""
    mtime_ns: int = 0
    atime_ns: int = 0
    ctime_ns: int = 0
    inode: int = 0
    device: int = 0
    links: int = 1
    size: int = 0
    content: tuple[ObjectId, ...] = ()
    content_hash: ObjectId | None = None
    subtree: ObjectId | None = None
    link_target: bytes | None = None
    rdev: int = 0
    xattrs: tuple[tuple[bytes, bytes], ...] = ()

    @property
    def display_name(self) -> str:
        """The name as listings show it: bytes that are no UTF-8 as ``\\xNN``, and so that no
        other name shows alike, a backslash of the name's own as ``\\\\`` (``caf\\xe9`` is
        the byte e9, ``caf\\\\xe9`` the four characters). ``codec.unshown_name`` reads it
        back."""
        return shown_name(self.name)

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        """Pickled (backup workers send the files of a directory that has subdirectories to
        their parent process) as its fields' values in order: the dataclass default looks the
        fields up for every node, a third of the time, twice."""
        return (_node_of, (_NODE_VALUES(self),))


_NODE_FIELDS = tuple(f.name for f in fields(Node))
_NODE_VALUES = operator.attrgetter(*_NODE_FIELDS)
# Each field's slot, set directly: the generated __init__ takes its twenty fields by keyword
# and sets each through object.__setattr__, 2.5 µs a node against 1.5 µs here (a restore
# plans, and verify walks, every node of a snapshot: 30,000 on the bench corpus)
_SLOT_SETTERS = tuple(getattr(Node, name).__set__ for name in _NODE_FIELDS)
_TYPE_OF = {t.value: t for t in NodeType}


def _node_of(values: tuple[object, ...]) -> Node:
    """A Node from its fields' values in field order (decoding, and unpickling: ``__reduce__``;
    Node has no ``__post_init__`` to run)."""
    node = object.__new__(Node)
    for put, value in zip(_SLOT_SETTERS, values, strict=True):
        put(node, value)
    return node


_INTS = (
    "mode",
    "uid",
    "gid",
    "mtime_ns",
    "atime_ns",
    "ctime_ns",
    "inode",
    "device",
    "links",
    "size",
    "rdev",
)
_ZEROS = (0,) * len(_INTS)
_INT_ONLY = {int}


def _node_to_json(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = codec.encode_name(node.name)
    out["type"] = node.type.value
    for key in _INTS:
        value = getattr(node, key)
        if value:
            out[key] = value
    if node.user:
        out["user"] = node.user
    if node.group:
        out["group"] = node.group
    if node.type is NodeType.FILE:
        out["content"] = [c.hex() for c in node.content]
    if node.content_hash is not None:
        out["content_hash"] = node.content_hash.hex()
    if node.subtree is not None:
        out["subtree"] = node.subtree.hex()
    if node.link_target is not None:
        target = codec.encode_name(node.link_target)
        out.update({"link_" + k: v for k, v in target.items()})
    if node.xattrs:
        out["xattrs"] = [[codec.b64(k), codec.b64(v)] for k, v in node.xattrs]
    return out


def _hex_id(text: object, what: str) -> ObjectId:
    try:
        return ObjectId(bytes.fromhex(text))  # type: ignore[arg-type]  # not a str: TypeError
    except (ValueError, TypeError):
        msg = f"{what}: bad id"
        raise IntegrityError(msg) from None


def _node_from_json(obj: dict[str, Any]) -> Node:
    what = "tree node"
    if not isinstance(obj, dict):
        raise IntegrityError(what + ": not an object")
    # The hot path of every walk of stored trees (a backup's parent, a restore's plan,
    # verify): each field looked up once, the integers checked in one pass (type() is int:
    # not a bool), the rest only when present.
    get = obj.get
    kind = get("type")
    ntype = _TYPE_OF.get(kind) if type(kind) is str else None
    if ntype is None:
        msg = f"{what}: unknown type {kind!r}"
        raise IntegrityError(msg)
    ints = list(map(get, _INTS, _ZEROS))
    if set(map(type, ints)) != _INT_ONLY:
        key = next(k for k, v in zip(_INTS, ints, strict=True) if type(v) is not int)
        msg = f"{what}: {key} is not an integer"
        raise IntegrityError(msg)
    mode, uid, gid, mtime_ns, atime_ns, ctime_ns, inode, device, links, size, rdev = ints
    content = get("content", ())
    if not isinstance(content, list | tuple):
        raise IntegrityError(what + ": content is not a list")
    link_target = None
    if "link_name" in obj or "link_name_b64" in obj:
        link_target = codec.decode_name(obj, what, "link_name")
    xattrs: tuple[tuple[bytes, bytes], ...] = ()
    if "xattrs" in obj:
        listed = obj["xattrs"]
        if not isinstance(listed, list) or not all(
            isinstance(x, list) and len(x) == 2 and all(isinstance(p, str) for p in x)
            for x in listed
        ):
            raise IntegrityError(what + ": bad xattrs")
        xattrs = tuple((codec.unb64(k, what), codec.unb64(v, what)) for k, v in listed)
    return _node_of(
        (
            codec.decode_name(obj, what),
            ntype,
            mode,
            uid,
            gid,
            str(get("user", "")),
            str(get("group", "")),
            mtime_ns,
            atime_ns,
            ctime_ns,
            inode,
            device,
            links,
            size,
            tuple([_hex_id(c, what) for c in content]),
            _hex_id(obj["content_hash"], what) if "content_hash" in obj else None,
            _hex_id(obj["subtree"], what) if "subtree" in obj else None,
            link_target,
            rdev,
            xattrs,
        )
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeError:
    """A node of a tree blob that does not decode, and why."""

    name: str  # the node's name for messages, or "#N" (its position) when even that is unreadable
    reason: str


def _shown_name(obj: object, position: int) -> str:
    """A malformed node's name for messages, as far as it can be read."""
    if isinstance(obj, dict):
        try:
            return shown_name(codec.decode_name(obj, "tree node"))
        except IntegrityError:
            pass
    return f"#{position}"


def _node_list(data: bytes) -> list[Any]:
    obj = codec.loads(data, "tree")
    codec.check_version(obj.get("v"), TREE_VERSION, "tree")
    nodes = obj.get("nodes")
    if not isinstance(nodes, list):
        raise IntegrityError("tree: nodes is not a list")
    return nodes


@dataclass(frozen=True, slots=True, kw_only=True)
class Tree:
    """A directory listing: nodes sorted by name."""

    nodes: tuple[Node, ...] = ()

    def encode(self) -> bytes:
        """Canonical JSON bytes (nodes sorted by name)."""
        nodes = sorted(self.nodes, key=lambda n: n.name)
        return codec.dumps({"v": TREE_VERSION, "nodes": [_node_to_json(n) for n in nodes]})

    @classmethod
    def decode(cls, data: bytes) -> Tree:
        """Parse a tree blob.

        Raises:
            IntegrityError: malformed.
            FormatVersionError: a newer tree version.
        """
        return cls(nodes=tuple(_node_from_json(n) for n in _node_list(data)))

    @classmethod
    def decode_each(cls, data: bytes) -> tuple[Tree, tuple[NodeError, ...]]:
        """Parse a tree blob node by node: the nodes that decode, and the ones that do not.

        Raises:
            IntegrityError: the blob is not a tree at all (not JSON, no node list).
            FormatVersionError: a newer tree version.
        """
        nodes: list[Node] = []
        errors: list[NodeError] = []
        for position, obj in enumerate(_node_list(data)):
            try:
                nodes.append(_node_from_json(obj))
            except IntegrityError as exc:
                errors.append(NodeError(name=_shown_name(obj, position), reason=str(exc)))
        return cls(nodes=tuple(nodes)), tuple(errors)

    def find(self, name: bytes) -> Node | None:
        """The node with this name, if any."""
        for node in self.nodes:
            if node.name == name:
                return node
        return None


def shown_name(name: bytes) -> str:
    """A name (or a path of names) as listings and messages show it: bytes that are no UTF-8
    as ``\\xNN``, the name's own backslashes doubled, so that no two names show alike
    (``codec.unshown_name`` reads it back; a terminal's listing escapes control characters
    on top: cli/render.py ``printable``)."""
    if b"\\" in name:
        name = name.replace(b"\\", b"\\\\")
    return name.decode("utf-8", "backslashreplace")


def find_shown(tree: Tree, name: bytes) -> Node | None:
    """The node named ``name`` as ``ls`` shows it, else as given: ``caf\\xe9`` pasted from a
    listing finds the name whose byte is e9, ``new\\nline`` the one with a line break (such
    names were "not in snapshot" for ls, dump and SNAPSHOT:PATH, whose listings show them
    so); a name with a backslash of its own typed as it is (``C:\\temp``, whose listing
    doubles the backslash) is found where no name shows so (it was "not in snapshot": a
    restic user's attack pass, 2026-12-07). Where both exist the listing's spelling wins,
    so that every line of a listing reaches its own file."""
    if b"\\" not in name:
        return tree.find(name)
    shown = tree.find(codec.unshown_name(name))
    return shown if shown is not None else tree.find(name)


# Trees as their JSON objects, for a reader that compares a directory with its parent
# snapshot's tree without decoding every node (archiver/reuse.py, the unchanged run).


def node_objects(data: bytes) -> list[dict[str, Any]]:
    """A tree blob's nodes as the JSON objects it records, in its order, undecoded.

    Raises:
        IntegrityError: not a tree (not JSON, no node list, a node that is not an object).
        FormatVersionError: a newer tree version.
    """
    nodes = _node_list(data)
    if not all(type(obj) is dict for obj in nodes):
        raise IntegrityError("tree node: not an object")
    return nodes


def node_to_json(node: Node) -> dict[str, Any]:
    """A node as a tree blob records it: the object the canonical encoding writes."""
    return _node_to_json(node)


def node_from_json(obj: dict[str, Any]) -> Node:
    """Decode one node's JSON object.

    Raises:
        IntegrityError: malformed.
    """
    return _node_from_json(obj)


def encode_objects(objects: list[dict[str, Any]]) -> bytes:
    """A tree blob from its nodes' JSON objects, already in name order: the same bytes as
    ``Tree.encode`` of the nodes they record."""
    return codec.dumps({"v": TREE_VERSION, "nodes": objects})
