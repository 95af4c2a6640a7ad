"""Repository config (design.md §7).

Stored as ``config``: a small plaintext JSON marker that says "this is an s3vault repository",
its format version and id (readable without keys, so a wrong URL or a newer format gets a clear
message), wrapping the sealed settings below (authenticated, so nobody can change the chunker or
swap the repository id without the key).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from s3vault.errors import IntegrityError, NotARepositoryError
from s3vault.format import FORMAT_VERSION, PUT_ONLY_FORMAT, WRITTEN_VERSION, codec
from s3vault.ids import ObjectId

MARKER = "s3vault repository"


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyEpoch:
    """One master-key epoch: its key-check value (HMAC under a subkey of that epoch's master
    key: a key file holding a different key for it is refused) and when it began (seconds,
    the store's clock)."""

    epoch: int
    check: bytes
    started: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """As stored."""
        return {"epoch": self.epoch, "check": self.check.hex(), "started": self.started}


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigFile:
    """Settings fixed when the repository is created, and the live key epochs (which only
    ``key rotate-master`` and ``prune --reencrypt`` change)."""

    version: int = WRITTEN_VERSION
    repo_id: ObjectId
    chunker_min: int = 512 * 1024
    chunker_avg: int = 1024 * 1024
    chunker_max: int = 8 * 1024 * 1024
    pack_size: int = 16 * 1024 * 1024
    compression_level: int = 3
    current_epoch: int = 1
    epochs: tuple[KeyEpoch, ...] = ()
    created: str = ""
    min_grace: int = 24 * 3600  # seconds; prune never deletes a pack marked more recently
    store: dict[str, Any] = field(default_factory=dict)  # the S3 capability probe's findings
    object_lock: dict[str, Any] = field(default_factory=dict)  # mode, period, margin (S3 only)
    retention: dict[str, Any] = field(default_factory=dict)  # the policy forget uses by default
    revoked: dict[str, str] = field(default_factory=dict)  # removed put-only key id -> its host
    # removed put-only key id -> when it was removed (seconds, the store's clock): its
    # version 2 objects stored later are refused (design.md §6a); absent for keys removed
    # before this was recorded
    revoked_at: dict[str, float] = field(default_factory=dict)

    def encode(self) -> bytes:
        """Canonical JSON of the sealed part."""
        return codec.dumps(
            {
                "v": self.version,
                "repo_id": self.repo_id.hex(),
                "chunker": {
                    "min": self.chunker_min,
                    "avg": self.chunker_avg,
                    "max": self.chunker_max,
                },
                "pack_size": self.pack_size,
                "compression_level": self.compression_level,
                "current_epoch": self.current_epoch,
                "epochs": [e.to_json() for e in self.epochs],
                "created": self.created,
                "min_grace": self.min_grace,
                **({"store": self.store} if self.store else {}),
                **({"object_lock": self.object_lock} if self.object_lock else {}),
                **({"retention": self.retention} if self.retention else {}),
                **({"revoked": self.revoked} if self.revoked else {}),
                **({"revoked_at": self.revoked_at} if self.revoked_at else {}),
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> ConfigFile:
        """Parse the sealed part.

        Raises:
            IntegrityError: malformed.
            FormatVersionError: newer format.
        """
        what = "config"
        obj = codec.loads(data, what)
        version = codec.check_version(obj.get("v"), FORMAT_VERSION, what)
        chunker = codec.field(obj, "chunker", dict, what)
        try:
            epochs = tuple(
                KeyEpoch(
                    epoch=int(e["epoch"]),
                    check=bytes.fromhex(str(e["check"])),
                    started=float(e.get("started", 0.0)),
                )
                for e in codec.field(obj, "epochs", list, what)
            )
        except (KeyError, TypeError, AttributeError):
            msg = f"{what}: malformed key epochs"
            raise IntegrityError(msg) from None
        except ValueError as exc:
            msg = f"{what}: {exc}"
            raise IntegrityError(msg) from None
        current = codec.field(obj, "current_epoch", int, what)
        if current not in {e.epoch for e in epochs}:
            msg = f"{what}: the current key epoch {current} is not listed"
            raise IntegrityError(msg)
        try:
            return cls(
                version=version,
                repo_id=ObjectId(bytes.fromhex(codec.field(obj, "repo_id", str, what))),
                chunker_min=codec.field(chunker, "min", int, what),
                chunker_avg=codec.field(chunker, "avg", int, what),
                chunker_max=codec.field(chunker, "max", int, what),
                pack_size=codec.field(obj, "pack_size", int, what),
                compression_level=codec.field(obj, "compression_level", int, what),
                current_epoch=current,
                epochs=epochs,
                created=str(obj.get("created", "")),
                min_grace=int(obj.get("min_grace", 24 * 3600)),
                store=dict(codec.field(obj, "store", dict, what)) if "store" in obj else {},
                object_lock=dict(codec.field(obj, "object_lock", dict, what))
                if "object_lock" in obj
                else {},
                retention=dict(codec.field(obj, "retention", dict, what))
                if "retention" in obj
                else {},
                revoked={
                    str(k): str(v)
                    for k, v in (
                        codec.field(obj, "revoked", dict, what) if "revoked" in obj else {}
                    ).items()
                },
                revoked_at={
                    str(k): float(v)
                    for k, v in (
                        codec.field(obj, "revoked_at", dict, what) if "revoked_at" in obj else {}
                    ).items()
                },
            )
        except (ValueError, TypeError) as exc:
            msg = f"{what}: {exc}"
            raise IntegrityError(msg) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigMarker:
    """The plaintext outside of ``config``."""

    version: int
    repo_id: ObjectId
    sealed: bytes
    view: bytes = b""  # format version 2: the config's view for put-only keys (design.md §6a)

    def encode(self) -> bytes:
        """JSON bytes."""
        obj: dict[str, Any] = {
            "s3vault": MARKER,
            "v": self.version,
            "repo_id": self.repo_id.hex(),
            "sealed": codec.b64(self.sealed),
        }
        if self.view:
            obj["view"] = codec.b64(self.view)
        return codec.dumps(obj)

    @classmethod
    def decode(cls, data: bytes) -> ConfigMarker:
        """Parse the marker.

        Raises:
            NotARepositoryError: not an s3vault config.
            FormatVersionError: newer format.
        """
        try:
            obj = codec.loads(data, "config")
        except IntegrityError:
            obj = {}
        if obj.get("s3vault") != MARKER:
            if b"s3vault" in data or b'"repo_id"' in data:
                msg = "the config object is damaged"
                raise IntegrityError(msg)
            msg = "the config object is not an s3vault repository config"
            raise NotARepositoryError(msg)
        version = codec.check_version(obj.get("v"), FORMAT_VERSION, "repository")
        try:
            repo_id = ObjectId(bytes.fromhex(codec.field(obj, "repo_id", str, "config")))
        except ValueError:
            msg = "config: bad repository id"
            raise IntegrityError(msg) from None
        view = obj.get("view")
        if view is not None and (version < PUT_ONLY_FORMAT or not isinstance(view, str)):
            msg = f"config: format version {version} has no view"
            raise IntegrityError(msg)
        marker = cls(
            version=version,
            repo_id=repo_id,
            sealed=codec.unb64(codec.field(obj, "sealed", str, "config"), "config"),
            view=codec.unb64(view, "config") if view else b"",
        )
        if marker.encode() != data:
            msg = "config: not in canonical form (modified?)"
            raise IntegrityError(msg)
        return marker
