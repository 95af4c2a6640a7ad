"""A put-only host's incremental state (design.md §6a, "The host's own state").

After each backup a put-only host stores what its next backup compares with, since it cannot
read the snapshot it wrote: the snapshot's id, time and paths, its root tree, and every tree
blob of it (a whole copy: no state depends on an older one). Canonical JSON (then compressed
and sealed for the host, repository/hoststate.py):

    {"v": 1, "snapshot": <hex>, "time": <ISO 8601>, "paths": [...], "tree": <hex>,
     "trees": {"<tree id hex>": "<tree blob, base64>", ...}}
"""

from __future__ import annotations

from dataclasses import dataclass, field

from s3vault.errors import IntegrityError, UsageError
from s3vault.format import codec
from s3vault.ids import ObjectId

STATE_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class HostStateFile:
    """What a put-only host keeps of its last backup."""

    snapshot: ObjectId
    time: str
    paths: tuple[str, ...]
    tree: ObjectId
    trees: dict[ObjectId, bytes] = field(default_factory=dict)

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
        try:
            return cls(
                snapshot=ObjectId.from_hex(codec.field(obj, "snapshot", str, what)),
                time=codec.field(obj, "time", str, what),
                paths=tuple(str(p) for p in paths),
                tree=ObjectId.from_hex(codec.field(obj, "tree", str, what)),
                trees={ObjectId.from_hex(k): codec.unb64(v, what) for k, v in trees.items()},
            )
        except (ValueError, TypeError, UsageError):
            msg = f"{what}: bad id"
            raise IntegrityError(msg) from None
