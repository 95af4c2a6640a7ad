"""Verification ledger files (design.md §8c): which packs a read-back proved, when, and by which
host. Stored like drill records (canonical JSON, compressed, sealed, named by storage id under
``ledger/``); a compacted file names the files it replaces in ``supersedes``, as index files
do, and readers ignore those.

A proof says: every byte of the pack was read back, its content matched its name (the hash
of its bytes), its header opened, and every blob in it decrypted and matched its id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from s3vault.errors import IntegrityError
from s3vault.format import codec
from s3vault.ids import ObjectId

LEDGER_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Proof:
    """One pack read back whole and found intact."""

    pack: ObjectId
    size: int  # bytes read
    time: float  # when (Unix seconds, the reading host's clock)
    host: int  # index into the file's ``hosts``


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerFile:
    """The proofs of one read-back (or, compacted, the newest proof of every pack)."""

    time: datetime  # when the file was written
    hostname: str  # the host that wrote it
    operation: str  # "verify", "restore-test", "compaction", …
    hosts: tuple[str, ...]  # the hosts the proofs name
    proofs: tuple[Proof, ...]
    supersedes: tuple[ObjectId, ...] = ()

    def encode(self) -> bytes:
        """Canonical JSON bytes; each proof is ``[pack id hex, size, time, host index]``."""
        obj: dict[str, Any] = {
            "v": LEDGER_VERSION,
            "time": self.time.isoformat(),
            "hostname": self.hostname,
            "operation": self.operation,
            "hosts": list(self.hosts),
            "proofs": [[p.pack.hex(), p.size, p.time, p.host] for p in self.proofs],
            "supersedes": [oid.hex() for oid in self.supersedes],
        }
        return codec.dumps(obj)

    @classmethod
    def decode(cls, data: bytes) -> LedgerFile:
        """Parse.

        Raises:
            IntegrityError: malformed (a proof naming no listed host included).
            FormatVersionError: newer version.
        """
        what = "ledger file"
        obj = codec.loads(data, what)
        codec.check_version(obj.get("v"), LEDGER_VERSION, what)
        try:
            hosts = tuple(codec.field(obj, "hosts", list, what))
            if not all(isinstance(h, str) for h in hosts):
                raise TypeError("a host name is not text")
            proofs = tuple(
                _proof(item, len(hosts)) for item in codec.field(obj, "proofs", list, what)
            )
            return cls(
                time=datetime.fromisoformat(codec.field(obj, "time", str, what)),
                hostname=codec.field(obj, "hostname", str, what),
                operation=codec.field(obj, "operation", str, what),
                hosts=hosts,
                proofs=proofs,
                supersedes=tuple(
                    ObjectId.from_hex(x) for x in codec.field(obj, "supersedes", list, what)
                ),
            )
        except (TypeError, ValueError) as exc:
            msg = f"{what}: {exc}"
            raise IntegrityError(msg) from None


def _proof(item: object, hosts: int) -> Proof:
    """One ``[pack, size, time, host]`` entry.

    Raises:
        TypeError, ValueError: malformed.
    """
    if not isinstance(item, list) or len(item) != 4:
        raise TypeError("a proof is not [pack, size, time, host]")
    pack, size, time, host = item
    if not isinstance(pack, str) or len(pack) != 64:
        raise ValueError("a proof's pack is not an id")
    if type(size) is not int or size < 0 or type(host) is not int or not 0 <= host < hosts:
        raise ValueError("a proof's size or host is out of range")
    if type(time) not in (int, float) or not math.isfinite(time):
        raise ValueError("a proof's time is not a number")
    return Proof(pack=ObjectId.from_hex(pack), size=size, time=float(time), host=host)
