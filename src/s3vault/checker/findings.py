"""Finding and CheckReport: what verify found, named by object, snapshot and file."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from s3vault.errors import BackendError
from s3vault.ids import ObjectId

# The paths one snapshot loses that a report lists, at most: a damaged tree that many
# directories share loses a path through each (a tree graph that names one subtree twice per
# level, 2^40 of them, took verify and repair snapshots out of memory)
LISTED_PATHS = 100_000


class Severity(StrEnum):
    """Errors mean damage (exit 13); information never fails a check."""

    ERROR = "error"
    INFO = "info"


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One problem, with the object it is about and what it affects."""

    severity: Severity
    kind: str  # e.g. pack-missing, pack-damaged, index-damaged, snapshot-damaged, key-damaged
    object: str  # the repository object, e.g. data/ab/abcd…, index/…, snapshots/…, keys/…
    message: str
    snapshots: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()


@dataclass(slots=True)
class CheckReport:
    """Everything a verify run found and measured."""

    findings: list[Finding] = field(default_factory=list)
    snapshots: int = 0
    index_files: int = 0
    packs: int = 0
    packs_read: int = 0
    bytes_read: int = 0
    blobs_read: int = 0
    seconds: float = 0.0
    proven: list[tuple[ObjectId, int]] = field(default_factory=list)  # read whole and intact
    stored: dict[ObjectId, int] = field(default_factory=dict)  # every stored indexed pack: size
    # index file → the put-only writers' packs a read-back of which proves its entries (§6a)
    put_packs: dict[ObjectId, tuple[ObjectId, ...]] = field(default_factory=dict)
    # packs the store refused or did not give (after its retries): not checked, not damage
    refused: list[tuple[str, BackendError]] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        """The findings that mean damage."""
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def ok(self) -> bool:
        """No damage found."""
        return not self.errors
