"""Audit records (design.md §8b): one per mutating command, hash-chained per host.

Stored sealed (kind AUDIT) as ``audit/<host tag>/<seq, 10 digits>-<record id>``: the host tag
is a keyed hash of the host name (the store learns no host names), ``seq`` counts the host's
records from 1 and the record id is the storage id (BLAKE3 of the sealed bytes). Each record
names the id of the host's previous record, so removing or rewriting a record inside a chain
breaks the next record's link, and a removed tail shows against the host's local state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from s3vault.errors import IntegrityError
from s3vault.format import codec
from s3vault.ids import ObjectId

AUDIT_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    """What one mutating command did."""

    seq: int
    prev: ObjectId | None  # the host's previous record (None for its first)
    time: datetime
    hostname: str
    username: str
    operation: str  # e.g. "backup", "key rotate-master"
    key_id: str  # the key file the command opened the repository with
    arguments: tuple[str, ...]  # the command line, secrets scrubbed
    exit_code: int
    result: str  # "ok", or the error message
    details: dict[str, Any] = field(default_factory=dict)  # sizes, ids: what the command did
    program_version: str = ""

    def encode(self) -> bytes:
        """Canonical JSON bytes."""
        return codec.dumps(
            {
                "v": AUDIT_VERSION,
                "seq": self.seq,
                "prev": self.prev.hex() if self.prev else "",
                "time": self.time.isoformat(),
                "hostname": self.hostname,
                "username": self.username,
                "operation": self.operation,
                "key_id": self.key_id,
                "arguments": list(self.arguments),
                "exit_code": self.exit_code,
                "result": self.result,
                "details": self.details,
                "program_version": self.program_version,
            }
        )

    def to_json(self) -> dict[str, Any]:
        """As exported (JSON lines for a SIEM)."""
        obj = codec.loads(self.encode(), "audit record")
        obj.pop("v", None)
        return obj

    @classmethod
    def decode(cls, data: bytes) -> AuditRecord:
        """Parse.

        Raises:
            IntegrityError: malformed.
            FormatVersionError: newer version.
        """
        what = "audit record"
        obj = codec.loads(data, what)
        codec.check_version(obj.get("v"), AUDIT_VERSION, what)
        try:
            prev = str(obj["prev"])
            return cls(
                seq=int(obj["seq"]),
                prev=ObjectId.from_hex(prev) if prev else None,
                time=datetime.fromisoformat(str(obj["time"])),
                hostname=str(obj["hostname"]),
                username=str(obj["username"]),
                operation=str(obj["operation"]),
                key_id=str(obj["key_id"]),
                arguments=tuple(str(a) for a in obj["arguments"]),
                exit_code=int(obj["exit_code"]),
                result=str(obj["result"]),
                details=dict(obj["details"]),
                program_version=str(obj.get("program_version", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"{what}: {exc}"
            raise IntegrityError(msg) from None
