"""Stage 2b, the unchanged run: compare a directory with its parent snapshot's tree as the tree
blob records it, and keep the parent's tree id when nothing in the directory changed.

Most of an unchanged backup went into bookkeeping: decoding every node of the parent's trees
into Node records, building a Node for every entry, then encoding and hashing every tree again
only to find the id the parent already had. Here the parent's tree of a directory is parsed
into its nodes' JSON objects alone (``ParentListing``), and an unchanged file is compared with
its parent's object field by field (``_same_file_metadata``; ``keep_unchanged`` does a whole
directory in one pass); when some field differs, its object is built from its lstat result
(``file_object``: the object ``node_to_json(metadata_node(..))`` makes; tests/archiver/
test_reuse.py holds the three together). A directory whose entries all equal the parent's
nodes of the same names, as many as the parent's tree holds, and whose subdirectories are kept
the same way, keeps the parent's tree id (``PendingDir.finalise``): no encoding, no hashing, no
index lookup of the tree; nothing is stored, as before. Any difference, and the tree is encoded
from the objects as before, to the same bytes.

Change detection is archiver/changes.py's, in JSON terms (``unchanged_object``): size, mtime,
inode and ctime as the rules say, the content hash present, every content blob in the index.
An unchanged file's extended attributes are the parent's when the ctime is compared (the
default): setting or removing one changes the ctime. With ``--ignore-ctime`` or
``--ignore-inode`` they are read.

Damage: a parent tree that cannot be loaded or parsed (not JSON, not a tree, a node that is
not an object or whose name does not decode) raises, and the archiver backs the directory up
as if it had no parent (it says so). A node whose other fields are malformed is not equal to
any object built here, so its file is read again (as new when the node does not decode). The
parent's trees are trusted to be canonical, as s3vault's encoder writes them: a node is kept
when its decoded JSON equals the object built now.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import Any

from s3vault.archiver.changes import ChangeRules
from s3vault.archiver.scan import group_name, user_name
from s3vault.errors import IntegrityError
from s3vault.format import codec
from s3vault.format.packfile import BlobType
from s3vault.format.tree import Node, node_objects, node_to_json
from s3vault.ids import ID_SIZE, ObjectId
from s3vault.repository.index import BlobIndex

JsonNode = dict[str, Any]


class ParentListing:
    """The parent snapshot's tree of one directory: its nodes' JSON objects by name."""

    __slots__ = ("count", "objects")

    def __init__(self, objects: list[JsonNode]) -> None:
        """Index ``objects`` (a tree's nodes, from ``node_objects``) by name.

        Raises:
            IntegrityError: a node's name does not decode.
        """
        self.count = len(objects)  # nodes in the tree (a duplicate name counts twice)
        self.objects: dict[bytes, JsonNode] = {}
        for obj in objects:
            text = obj.get("name")
            if type(text) is str:
                try:
                    name = text.encode()
                except UnicodeEncodeError:  # a lone surrogate
                    raise IntegrityError("tree node: name is not valid Unicode") from None
            else:
                name = codec.decode_name(obj, "tree node")
            self.objects[name] = obj

    @classmethod
    def parse(cls, data: bytes) -> ParentListing:
        """A tree blob's listing.

        Raises:
            IntegrityError: not a tree, or a node's name does not decode.
            FormatVersionError: a newer tree version.
        """
        return cls(node_objects(data))

    def get(self, name: bytes) -> JsonNode | None:
        """The parent's node of this name, as its tree records it."""
        return self.objects.get(name)


def xattr_objects(xattrs: tuple[tuple[bytes, bytes], ...]) -> list[list[str]]:
    """Extended attributes as a node's JSON records them."""
    return [[codec.b64(k), codec.b64(v)] for k, v in xattrs]


def file_object(
    name: bytes,
    st: os.stat_result,
    *,
    content: list[str],
    content_hash: str,
    xattrs: object,
    with_atime: bool = False,
) -> JsonNode:
    """A regular file's node as its tree records it (``node_to_json`` of ``metadata_node``
    with this content): ``content`` and ``content_hash`` in hex, ``xattrs`` as the JSON holds
    them (None or empty: none)."""
    obj = codec.encode_name(name)
    obj["type"] = "file"
    for key, value in (
        ("mode", stat.S_IMODE(st.st_mode)),
        ("uid", st.st_uid),
        ("gid", st.st_gid),
        ("mtime_ns", st.st_mtime_ns),
        ("atime_ns", st.st_atime_ns if with_atime else 0),
        ("ctime_ns", st.st_ctime_ns),
        ("inode", st.st_ino),
        ("device", st.st_dev),
        ("links", st.st_nlink),
        ("size", st.st_size),
    ):
        if value:
            obj[key] = value
    user = user_name(st.st_uid)
    if user:
        obj["user"] = user
    group = group_name(st.st_gid)
    if group:
        obj["group"] = group
    obj["content"] = content
    obj["content_hash"] = content_hash
    if xattrs:
        obj["xattrs"] = xattrs
    return obj


def _id(text: object) -> bytes | None:
    """The id a node's hex field holds, when it is one as the encoder writes it (64
    lowercase hex digits)."""
    if type(text) is not str or len(text) != 2 * ID_SIZE:
        return None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    return raw if raw.hex() == text else None


def unchanged_object(
    parent: JsonNode,
    name: bytes,
    st: os.stat_result,
    *,
    index: BlobIndex,
    rules: ChangeRules,
    xattrs: Callable[[], tuple[tuple[bytes, bytes], ...]],
    with_atime: bool = False,
) -> JsonNode | None:
    """The node of a regular file that need not be read (its content the parent's), as its
    tree records it: ``parent`` itself when nothing in it changed; None when the file must be
    read: changed by the rules of archiver/changes.py, some content blob not in the index, or
    a parent node this cannot vouch for. ``xattrs`` reads the file's extended attributes
    (called only when the ctime is left out).

    Raises:
        OSError: reading the extended attributes failed.
    """
    get = parent.get
    if (
        get("type") != "file"
        or get("size", 0) != st.st_size
        or get("mtime_ns", 0) != st.st_mtime_ns
    ):
        return None
    ctime_counts = not (rules.ignore_ctime or rules.ignore_inode)
    if (not rules.ignore_inode and get("inode", 0) != st.st_ino) or (
        ctime_counts and get("ctime_ns", 0) != st.st_ctime_ns
    ):
        return None
    content, content_hash = get("content"), get("content_hash")
    if type(content) is not list or _id(content_hash) is None:
        return None
    has = index.has
    for text in content:
        bid = _id(text)
        if bid is None or not has(BlobType.DATA, bid):
            return None
    if ctime_counts and not with_atime and _same_file_metadata(parent, st):
        return parent
    return file_object(
        name,
        st,
        content=content,
        content_hash=content_hash,  # type: ignore[arg-type]  # _id: a str
        xattrs=get("xattrs") if ctime_counts else xattr_objects(xattrs()),
        with_atime=with_atime,
    )


def keep_unchanged(
    entries: list[tuple[bytes, os.stat_result | OSError]],
    parent: ParentListing,
    *,
    index: BlobIndex,
    rules: ChangeRules,
    with_atime: bool = False,
) -> tuple[
    list[tuple[bytes, os.stat_result, JsonNode]], list[tuple[bytes, os.stat_result | OSError]]
]:
    """Split a directory's listing into the regular files whose parent node stays exactly as
    it is (``unchanged_object`` returns it) and the rest, in order. Only with the ctime
    compared and no access times: otherwise every file takes the general path."""
    if rules.ignore_ctime or rules.ignore_inode or with_atime:
        return [], entries
    kept, rest = [], []
    find = parent.objects.get
    for entry in entries:
        name, st = entry
        obj = find(name)
        if (
            obj is not None
            and type(st) is os.stat_result
            and stat.S_ISREG(st.st_mode)
            and unchanged_object(obj, name, st, index=index, rules=rules, xattrs=_none) is obj
        ):
            kept.append((name, st, obj))
        else:
            rest.append(entry)
    return kept, rest


def _none() -> tuple[tuple[bytes, bytes], ...]:
    raise AssertionError("extended attributes are not read with the ctime compared")


def _same_file_metadata(parent: JsonNode, st: os.stat_result) -> bool:
    """``file_object`` of this lstat result, with the parent's content and extended
    attributes, would equal ``parent`` (size, mtime, ctime and inode are compared already).
    The common case of an unchanged run, without building the object: every field the
    encoder writes is compared, and the parent holds no other (its key count)."""
    get = parent.get
    user, group = user_name(st.st_uid), group_name(st.st_gid)
    mode = stat.S_IMODE(st.st_mode)
    xattrs = get("xattrs")
    if (
        type(get("name")) is not str  # a name in base64 is rare: built and compared
        or get("mode", 0) != mode
        or get("uid", 0) != st.st_uid
        or get("gid", 0) != st.st_gid
        or get("links", 0) != st.st_nlink
        or get("device", 0) != st.st_dev
        or get("user", "") != user
        or get("group", "") != group
        or (xattrs is not None and not xattrs)  # written only when there are some
    ):
        return False
    expected = (
        4  # name, type, content, content_hash
        + (mode != 0)
        + (st.st_uid != 0)
        + (st.st_gid != 0)
        + (st.st_mtime_ns != 0)
        + (st.st_ctime_ns != 0)
        + (st.st_ino != 0)
        + (st.st_dev != 0)
        + (st.st_nlink != 0)
        + (st.st_size != 0)
        + (user != "")
        + (group != "")
        + (xattrs is not None)
    )
    return len(parent) == expected


def subtree_of(parent: JsonNode) -> ObjectId | None:
    """The subtree id a parent directory node records (None: none, or not an id as the
    encoder writes it, so the directory is backed up as new)."""
    raw = _id(parent.get("subtree"))
    return None if raw is None else ObjectId(raw)


def same_dir_node(meta: Node, parent: JsonNode | None) -> bool:
    """A directory's node (``meta``, without its subtree) equals the parent's node of it,
    the subtree aside."""
    if parent is None:
        return False
    obj = node_to_json(meta)
    return len(obj) + ("subtree" in parent) == len(parent) and all(
        parent.get(key) == value for key, value in obj.items()
    )
