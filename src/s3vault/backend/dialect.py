"""What a store was found to do: the result of the capability probe at ``init``.

Kept (sealed) in the repository config, so every later command talks to the store the way
that worked, without probing again. Only S3 stores are probed; a local directory has no
dialect. Field meanings, and what s3vault does with each, are in design.md §7.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from s3vault.errors import IntegrityError

CHECKSUM_MODES = ("when_supported", "when_required")
CREATE_ONLY = ("atomic", "sequential", "none")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreDialect:
    """A store's capabilities as probed."""

    checksum: str = "when_supported"  # boto3 checksum mode whose uploads the store accepts
    create_only: str = "atomic"  # If-None-Match: * — atomic, only one-after-another, or none
    compare_and_swap: bool = True  # If-Match on PutObject honoured
    object_lock: bool = False  # the bucket has Object Lock enabled
    max_parts: int = 10000  # highest multipart part number accepted
    probed_at: str = ""  # ISO time of the probe
    notes: tuple[str, ...] = ()  # one line per finding worth telling the user

    @property
    def compatible(self) -> bool:
        """The compatibility dialect (when_required checksums + Content-MD5) is in use."""
        return self.checksum == "when_required"

    def summary(self) -> str:
        """One line for ``init`` and ``doctor``."""
        lease = "single lease object" if self.exclusive else "claim objects"
        return (
            f"checksums {self.checksum}, create-only writes {self.create_only}, "
            f"If-Match {'yes' if self.compare_and_swap else 'no'} (maintenance lease: {lease}), "
            f"Object Lock {'on' if self.object_lock else 'off'}, up to {self.max_parts} parts"
        )

    @property
    def exclusive(self) -> bool:
        """Atomic create-only writes and compare-and-swap: one lease object is safe."""
        return self.create_only == "atomic" and self.compare_and_swap

    def to_dict(self) -> dict[str, Any]:
        """For the config file."""
        return {
            "checksum": self.checksum,
            "create_only": self.create_only,
            "compare_and_swap": self.compare_and_swap,
            "object_lock": self.object_lock,
            "max_parts": self.max_parts,
            "probed_at": self.probed_at,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> StoreDialect:
        """Parse what to_dict wrote.

        Raises:
            IntegrityError: unknown values or wrong types.
        """
        try:
            dialect = cls(
                checksum=str(obj["checksum"]),
                create_only=str(obj["create_only"]),
                compare_and_swap=bool(obj["compare_and_swap"]),
                object_lock=bool(obj.get("object_lock", False)),
                max_parts=int(obj.get("max_parts", 10000)),
                probed_at=str(obj.get("probed_at", "")),
                notes=tuple(str(n) for n in obj.get("notes", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"config: bad store dialect ({exc})"
            raise IntegrityError(msg) from None
        if dialect.checksum not in CHECKSUM_MODES or dialect.create_only not in CREATE_ONLY:
            msg = f"config: unknown store dialect values {dialect.checksum}/{dialect.create_only}"
            raise IntegrityError(msg)
        if dialect.max_parts < 1:
            msg = "config: bad store dialect (max_parts)"
            raise IntegrityError(msg)
        return dialect


@runtime_checkable
class ProbedBackend(Protocol):
    """A backend that can find out what its store does, and work by what was found."""

    def probe(self) -> StoreDialect:
        """Try the store's capabilities with a few small objects under ``probe/``, which it
        removes again."""
        ...

    def adopt(self, dialect: StoreDialect) -> None:
        """Talk to the store as the dialect says (an explicit --s3-checksum still wins)."""
        ...
