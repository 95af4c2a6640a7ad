"""A put-only host's incremental state (design.md §6a, "The host's own state").

After each backup a put-only host stores what its next backup compares with, since it cannot
read the snapshot it wrote: the snapshot's id, time and paths, its root tree, and every tree
blob of it (a whole copy: no state depends on an older one). Canonical JSON (then compressed
and sealed for the host, repository/hoststate.py):

    {"v": 1, "snapshot": <hex>, "time": <ISO 8601>, "paths": [...], "tree": <hex>,
     "trees": {"<tree id hex>": "<tree blob, base64>", ...},
     "packs": {"<pack id hex>": {"size": <bytes>, "data": [<blob id hex>...],
                                 "tree": [<blob id hex>...]}, ...}}

``packs`` (added 2026-12-05, optional, so the version stays 1: an older reader ignores it)
names the host's own packs that hold blobs of the snapshot, with their sizes and those blobs:
what the host checks against a listing (its next backup trusts a blob of the state only while
its pack is listed with that size; its `verify` names a missing pack). A blob of the snapshot
that no own pack holds was deduplicated against an endorsed view's pack and is not named. A
state without ``packs`` (written before) names none: ``packs`` is None.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from s3vault.errors import IntegrityError, UsageError
from s3vault.format import codec
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId

STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class OwnPack:
    """A pack the host stored that holds blobs of its last snapshot: its size when stored and
    those blobs."""

    size: int
    blobs: tuple[tuple[BlobType, ObjectId], ...]

    def encode(self) -> dict[str, object]:
        """The JSON object of the module docstring (blob ids sorted)."""
        ids = {t: sorted(b.hex() for bt, b in self.blobs if bt is t) for t in BlobType}
        return {"size": self.size, "data": ids[BlobType.DATA], "tree": ids[BlobType.TREE]}

    @classmethod
    def decode(cls, obj: object, what: str) -> OwnPack:
        """Parse one pack's entry.

        Raises:
            IntegrityError: malformed.
        """
        if not isinstance(obj, dict):
            msg = f"{what}: a pack's entry is not an object"
            raise IntegrityError(msg)
        size = codec.field(obj, "size", int, what)
        blobs = [
            (btype, ObjectId.from_hex(h))
            for btype, key in ((BlobType.DATA, "data"), (BlobType.TREE, "tree"))
            for h in codec.field(obj, key, list, what)
        ]
        if size < 0:
            msg = f"{what}: a pack of negative size"
            raise IntegrityError(msg)
        return cls(size=size, blobs=tuple(blobs))


@dataclass(frozen=True, slots=True, kw_only=True)
class HostStateFile:
    """What a put-only host keeps of its last backup."""

    snapshot: ObjectId
    time: str
    paths: tuple[str, ...]
    tree: ObjectId
    trees: dict[ObjectId, bytes] = field(default_factory=dict)
    packs: dict[ObjectId, OwnPack] | None = None  # None: a state written before they were

    def __repr__(self) -> str:  # the trees hold file names: never in a log
        return f"HostStateFile(snapshot={self.snapshot.short}, trees={len(self.trees)})"

    def encode(self) -> bytes:
        """Canonical JSON bytes."""
        return codec.dumps(
            {
                "v": STATE_VERSION,
                "snapshot": self.snapshot.hex(),
                "time": self.time,
                "paths": list(self.paths),
                "tree": self.tree.hex(),
                "trees": {tid.hex(): codec.b64(blob) for tid, blob in self.trees.items()},
                **(
                    {"packs": {p.hex(): own.encode() for p, own in self.packs.items()}}
                    if self.packs is not None
                    else {}
                ),
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> HostStateFile:
        """Parse.

        Raises:
            IntegrityError: malformed.
            FormatVersionError: a newer version.
        """
        what = "host state"
        obj = codec.loads(data, what)
        codec.check_version(obj.get("v"), STATE_VERSION, what)
        paths = codec.field(obj, "paths", list, what)
        trees = codec.field(obj, "trees", dict, what)
        packs = obj.get("packs")
        if packs is not None and not isinstance(packs, dict):
            msg = f"{what}: packs is not an object"
            raise IntegrityError(msg)
        try:
            return cls(
                snapshot=ObjectId.from_hex(codec.field(obj, "snapshot", str, what)),
                time=codec.field(obj, "time", str, what),
                paths=tuple(str(p) for p in paths),
                tree=ObjectId.from_hex(codec.field(obj, "tree", str, what)),
                trees={ObjectId.from_hex(k): codec.unb64(v, what) for k, v in trees.items()},
                packs=(
                    {ObjectId.from_hex(k): OwnPack.decode(v, what) for k, v in packs.items()}
                    if packs is not None
                    else None
                ),
            )
        except (ValueError, TypeError, UsageError):
            msg = f"{what}: bad id"
            raise IntegrityError(msg) from None
