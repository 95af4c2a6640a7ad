"""The tree decoder's fast path (format/tree.py: slots set directly, one pass over the
integers) decodes exactly what the plain reading of design.md §9 decodes, and refuses what it
refuses: compared here, node by node, with that plain reading written out for any JSON object
a damaged or forged tree could hold in a node's place."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from s3vault.errors import IntegrityError
from s3vault.format import codec
from s3vault.format.tree import Node, NodeType, Tree, node_from_json
from s3vault.ids import ObjectId
from tests import strategies as s

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


def _plain_id(text: object) -> ObjectId:
    try:
        return ObjectId(bytes.fromhex(text))  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise IntegrityError("bad id") from None


def _plain(obj: Any) -> Node:
    """A node's JSON object read field by field through Node's own constructor."""
    if not isinstance(obj, dict):
        raise IntegrityError("not an object")
    try:
        ntype = NodeType(str(obj.get("type")))
    except ValueError:
        raise IntegrityError("unknown type") from None
    ints = {key: obj.get(key, 0) for key in _INTS}
    if any(type(v) is not int for v in ints.values()):
        raise IntegrityError("not an integer")
    content = obj.get("content", ())
    if not isinstance(content, list | tuple):
        raise IntegrityError("content")
    link = None
    if "link_name" in obj or "link_name_b64" in obj:
        link = codec.decode_name(obj, "n", "link_name")
    xattrs: tuple[tuple[bytes, bytes], ...] = ()
    if "xattrs" in obj:
        listed = obj["xattrs"]
        if not isinstance(listed, list) or not all(
            isinstance(x, list) and len(x) == 2 and all(isinstance(p, str) for p in x)
            for x in listed
        ):
            raise IntegrityError("xattrs")
        xattrs = tuple((codec.unb64(k, "n"), codec.unb64(v, "n")) for k, v in listed)
    return Node(
        name=codec.decode_name(obj, "n"),
        type=ntype,
        user=str(obj.get("user", "")),
        group=str(obj.get("group", "")),
        content=tuple(_plain_id(c) for c in content),
        content_hash=_plain_id(obj["content_hash"]) if "content_hash" in obj else None,
        subtree=_plain_id(obj["subtree"]) if "subtree" in obj else None,
        link_target=link,
        xattrs=xattrs,
        **ints,
    )


def _outcome(decode: Any, obj: object) -> Node | str:
    try:
        return decode(obj)  # type: ignore[no-any-return]
    except IntegrityError:
        return "refused"


_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from([t.value for t in NodeType] + ["ab" * 32, "zz" * 32, "YQ==", "\ud800"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=5,
)
_KEYS = st.sampled_from(
    [
        *_INTS,
        "name",
        "name_b64",
        "type",
        "user",
        "group",
        "content",
        "content_hash",
        "subtree",
        "link_name",
        "link_name_b64",
        "xattrs",
        "other",
    ]
)


@given(s.trees, st.data())
def test_the_decoder_reads_and_refuses_as_the_plain_reading_does(tree: Tree, data: Any) -> None:
    objects = json.loads(tree.encode())["nodes"] or [{"name": "f", "type": "file"}]
    for obj in objects:
        assert node_from_json(obj) == _plain(obj)
        changed = dict(obj)
        for key in data.draw(st.lists(_KEYS, min_size=1, max_size=3)):
            if data.draw(st.booleans()):
                changed.pop(key, None)
            else:
                changed[key] = data.draw(_VALUES)
        assert _outcome(node_from_json, changed) == _outcome(_plain, changed)
    assert _outcome(node_from_json, ["not", "a", "node"]) == "refused"
