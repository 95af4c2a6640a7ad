"""docs/design.md cannot drift from the code: its field tables list exactly the record fields."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from s3vault.format.auditfile import AuditRecord
from s3vault.format.configfile import ConfigFile, KeyEpoch
from s3vault.format.dedupview import DedupView, ViewPack
from s3vault.format.deletionfile import DeletionFile, MarkedPack
from s3vault.format.drillfile import DrillFile
from s3vault.format.hoststatefile import HostStateFile
from s3vault.format.indexfile import IndexFile
from s3vault.format.keyfile import KeyFile, KeyPayload
from s3vault.format.leasefile import LeaseFile
from s3vault.format.ledgerfile import LedgerFile, Proof
from s3vault.format.packfile import PackEntry
from s3vault.format.putpayload import PutEpoch, PutOnlyPayload
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.format.tree import Node

DESIGN = Path(__file__).resolve().parents[2] / "docs" / "design.md"


def documented_fields(record: str) -> set[str]:
    text = DESIGN.read_text()
    match = re.search(
        rf"^\| {record} field \| meaning \|\n\|[-| ]+\|\n((?:\|.*\|\n)+)", text, re.MULTILINE
    )
    assert match, f"no field table for {record} in docs/design.md"
    names: set[str] = set()
    for row in match.group(1).splitlines():
        names.update(n.strip() for n in row.split("|")[1].split(","))
    return names


@pytest.mark.parametrize(
    "record",
    [
        PackEntry,
        IndexFile,
        KeyFile,
        KeyPayload,
        PutOnlyPayload,
        PutEpoch,
        DedupView,
        ViewPack,
        ConfigFile,
        KeyEpoch,
        SnapshotFile,
        Node,
        DrillFile,
        HostStateFile,
        AuditRecord,
        DeletionFile,
        MarkedPack,
        LeaseFile,
        LedgerFile,
        Proof,
    ],
)
def test_design_doc_lists_every_field(record: type) -> None:
    fields = {f.name for f in dataclasses.fields(record)}
    assert documented_fields(record.__name__) == fields
