"""cat: one repository object, opened, for debugging (restic's ``cat``).

``config``, ``index``, ``snapshot``, ``key`` and ``tree`` give a JSON document; ``pack`` the
stored bytes as they are; ``blob`` a blob's plaintext. Ids may be abbreviated to any unique
prefix (``snapshot`` also takes ``latest`` and ``latest~N``; ``tree`` also restic 0.17's
``SNAPSHOT:PATH``, the tree of a directory of a snapshot, and ``latest``).

Secrets are never part of the answer (design.md §6, §7):

- ``key``: the key file's public fields only (id, repository id, kind, label, created, host and
  user, the X25519 *public* key, the KDF algorithm and costs, the KMS key ARN). Left out: the
  wrapped private key (``wrap``, ``kms.ct``), the sealed master keys (``payload``), the MAC and
  the KDF salt. None of them helps debugging, and a pasted ``cat key`` with the wrapped key and
  salt in it would let anyone guess the password offline.
- ``config``: every setting, but not the key-check values of the epochs (values derived from
  the master keys; ``key list`` and ``verify`` say whether keys match).
- index, snapshot and tree documents hold no key material; blob and pack bytes are what the
  caller asked for (a pack stays encrypted).

Snapshots, index files, keys and packs are read from the store, not the local cache (``cat``
shows what is stored); trees and blobs are read as every command reads them (a tree through the
local tree-pack cache, whose packs were checked against their names). A damaged object raises
``IntegrityError`` naming it, except ``pack``: its bytes are returned as stored (a damaged pack
is what one inspects) with ``damage`` saying what is wrong.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from s3vault.crypto.hashing import storage_id
from s3vault.errors import IntegrityError, ObjectNotFoundError, UsageError
from s3vault.format.indexfile import IndexFile
from s3vault.format.keyfile import KeyFile
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId, unique_prefix
from s3vault.repository import keyring
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import directory_tree, find_snapshot, split_subfolder
from s3vault.repository.writer import sealed_kind_for

CAT_KINDS = ("config", "index", "snapshot", "key", "pack", "blob", "tree")
NEEDS_INDEX = frozenset({"blob", "tree"})  # kinds found through the loaded index
_HEX = frozenset(string.hexdigits)


@dataclass(frozen=True, slots=True, kw_only=True)
class CatOptions:
    """Which object: a kind of CAT_KINDS and an id or unique id prefix (none for config)."""

    kind: str
    id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CatResult:
    """The object: ``document`` (a JSON object) for config, index, snapshot, key and tree;
    ``data`` (bytes) for pack and blob. ``name``: the stored object it came from; ``damage``:
    why a pack's bytes do not match its name (empty when they do)."""

    kind: str
    id: str  # the full id (hex); empty for config
    name: str
    document: dict[str, object] | None = None
    data: bytes = b""
    damage: str = ""


def cat(repo: Repository, options: CatOptions) -> CatResult:
    """One object of the repository, opened (``blob`` and ``tree`` need the loaded index).

    Raises:
        UsageError: an unknown kind, a missing id, or an id or prefix that names no object
            or several (the message lists a few).
        IntegrityError: the object is damaged (the message names it).
        BackendError: the store could not be read.
    """
    repo = repo.current(ask_the_store=True)  # what was stored since its index was read
    kind, ref = options.kind, options.id.strip()
    if kind not in CAT_KINDS:
        msg = f"cat {kind}: unknown type, use one of {', '.join(CAT_KINDS)}"
        raise UsageError(msg)
    if kind == "config":
        if ref:
            raise UsageError("cat config takes no id")
        return CatResult(kind=kind, id="", name="config", document=_config(repo))
    if not ref:
        msg = f"cat {kind} needs an id (or a unique prefix of one)"
        raise UsageError(msg)
    if kind == "snapshot":
        return _snapshot(repo, ref)
    if kind == "index":
        oid = _resolve(kind, ref, (i.hex() for i in repo.list_ids(ObjectKind.INDEX)))
        return _index(repo, ObjectId.from_hex(oid))
    if kind == "key":
        return _key(repo, ref)
    if kind == "pack":
        return _pack(repo, ref)
    return _blob(repo, kind, ref)


def _resolve(kind: str, ref: str, ids: Iterable[str]) -> str:
    """The one id among ``ids`` that ``ref`` names (ids.unique_prefix).

    Raises:
        UsageError: not hex, no match, or several.
    """
    return unique_prefix(ref, ids, command=f"cat {kind}", what=kind)


def _json(plaintext: bytes, name: str) -> dict[str, Any]:
    try:
        obj = json.loads(plaintext)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        msg = f"{name}: not a JSON document (damaged)"
        raise IntegrityError(msg)
    return obj


def _config(repo: Repository) -> dict[str, Any]:
    doc = _json(repo.config.encode(), "config")
    for epoch in doc.get("epochs", []):
        epoch.pop("check", None)  # derived from a master key: not shown
    return doc


def _snapshot(repo: Repository, ref: str) -> CatResult:
    if ref.startswith("latest"):
        sid, _snap = find_snapshot(repo, ref)
        text = sid.hex()
    else:
        text = _resolve("snapshot", ref, (i.hex() for i in repo.list_files(ObjectKind.SNAPSHOTS)))
        sid = ObjectId.from_hex(text)
    name = repo.name_of(ObjectKind.SNAPSHOTS, sid)
    doc = _json(_stored_file(repo, ObjectKind.SNAPSHOTS, sid, name), name)
    return CatResult(kind="snapshot", id=text, name=name, document=doc)


def _stored_file(repo: Repository, kind: ObjectKind, oid: ObjectId, name: str) -> bytes:
    """A standalone file opened from the store's copy (never the local cache's: ``cat``
    shows what is stored, damage included).

    Raises:
        IntegrityError: the bytes do not match the name or fail authentication.
    """
    sealed = repo.read_object(kind, oid)
    if storage_id(sealed) != oid:
        msg = f"{name}: content does not match its name (damaged or replaced)"
        raise IntegrityError(msg)
    try:
        return repo.sealer.open_file(sealed_kind_for(kind), sealed)
    except IntegrityError as exc:
        msg = f"{name}: {exc}"
        raise IntegrityError(msg) from None


def _index(repo: Repository, oid: ObjectId) -> CatResult:
    name = object_name(ObjectKind.INDEX, oid)
    plaintext = _stored_file(repo, ObjectKind.INDEX, oid, name)
    try:
        ifile = IndexFile.decode(plaintext)
    except IntegrityError as exc:
        msg = f"{name}: {exc}"
        raise IntegrityError(msg) from None
    doc = {
        "supersedes": [s.hex() for s in ifile.supersedes],
        "packs": [
            {
                "id": p.id.hex(),
                "size": p.size,
                "epoch": p.epoch,
                "blobs": [
                    {
                        "id": e.id.hex(),
                        "type": e.type.value,
                        "offset": e.offset,
                        "length": e.length,
                        "uncompressed_length": e.raw_length,
                    }
                    for e in p.entries
                ],
            }
            for p in ifile.packs
        ],
    }
    return CatResult(kind="index", id=oid.hex(), name=name, document=doc)


def public_key_fields(keyfile: KeyFile) -> dict[str, object]:
    """What ``cat key`` shows of a key file: its public fields, never a secret (module
    docstring)."""
    doc: dict[str, object] = {
        "id": keyfile.id.hex(),
        "repo_id": keyfile.repo_id.hex(),
        "kind": keyfile.kind,
        "label": keyfile.label,
        "created": keyfile.created,
        "hostname": keyfile.hostname,
        "username": keyfile.username,
        "public": keyfile.public.hex(),
    }
    if keyfile.kdf is not None:
        doc["kdf"] = {
            "alg": keyfile.kdf.alg,
            "memory_kib": keyfile.kdf.memory_kib,
            "iterations": keyfile.kdf.iterations,
            "lanes": keyfile.kdf.lanes,
        }
    if keyfile.kms_key_id:
        doc["kms_key_id"] = keyfile.kms_key_id
    return doc


def _key(repo: Repository, ref: str) -> CatResult:
    prefix = ObjectKind.KEYS.value + "/"
    listed = {info.name.removeprefix(prefix): info for info in repo.list_objects(ObjectKind.KEYS)}
    text = _resolve("key", ref, listed)
    info = listed[text]
    try:
        keyfile = KeyFile.decode(repo.read_listed(info))
    except IntegrityError as exc:
        msg = f"{info.name}: {exc}"
        raise IntegrityError(msg) from None
    if keyfile.repo_id != repo.id:
        msg = f"{info.name}: belongs to another repository"
        raise IntegrityError(msg)
    if keyfile.id.hex() != text or not keyring.check_key_mac(keyfile, repo.sealer.current):
        msg = f"{info.name}: its MAC or its id does not match (damaged or foreign)"
        raise IntegrityError(msg)
    return CatResult(kind="key", id=text, name=info.name, document=public_key_fields(keyfile))


def _pack(repo: Repository, ref: str) -> CatResult:
    packs = repo.list_packs()
    text = _resolve("pack", ref, (i.hex() for i in packs))
    oid = ObjectId.from_hex(text)
    info = packs[oid]
    data = repo.read_listed(info)
    damage = ""
    if storage_id(data) != oid:
        damage = f"{info.name}: content does not match its name (damaged or replaced)"
    return CatResult(kind="pack", id=text, name=info.name, data=data, damage=damage)


def _snapshot_tree(repo: Repository, ref: str) -> str:
    """The tree id of ``SNAPSHOT[:PATH]`` (restic 0.17's ``cat tree`` argument): the snapshot's
    root tree, or the tree of the directory PATH in it.

    Raises:
        UsageError: no such snapshot, or PATH is not a directory in it.
    """
    head, path = split_subfolder(ref)
    sid, snap = find_snapshot(repo, head)
    return directory_tree(repo, sid, snap.tree, path or "/").hex()


def _blob(repo: Repository, kind: str, ref: str) -> CatResult:
    if kind == "tree" and (":" in ref or ref.startswith("latest")):
        ref = _snapshot_tree(repo, ref)
    types = (BlobType.TREE,) if kind == "tree" else (BlobType.DATA, BlobType.TREE)
    found: dict[str, BlobType] = {}
    full = ObjectId.from_hex(ref.lower()) if len(ref) == 64 and set(ref) <= _HEX else None
    if full is not None:  # a whole id: one lookup, no walk over the index
        for btype in reversed(types):
            if repo.index.has(btype, full):
                found[full.hex()] = btype
    else:
        for btype, bid, _loc in repo.index.entries():
            if btype in types:
                found.setdefault(bid.hex(), btype)
    text = _resolve(kind, ref, found)
    btype = found[text]
    bid = ObjectId.from_hex(text)
    loc = repo.index.lookup(btype, bid)
    kind_of_pack = ObjectKind.TREE if btype is BlobType.TREE else ObjectKind.DATA
    name = object_name(kind_of_pack, loc.pack_id) if loc else f"{btype.value} blob {text}"
    try:
        plaintext = repo.load_blob(btype, bid)
    except ObjectNotFoundError:
        msg = f"{btype.value} blob {text}: its pack {name} is missing from the store"
        raise IntegrityError(msg) from None
    if kind == "tree":
        doc = _json(plaintext, f"tree {text} in {name}")
        return CatResult(kind=kind, id=text, name=name, document=doc)
    return CatResult(kind=kind, id=text, name=name, data=plaintext)
