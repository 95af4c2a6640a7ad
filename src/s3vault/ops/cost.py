"""cost: what the repository costs per month, from its real contents and real traffic.

The usage is measured here (a listing, prune's marks, the audit log's request counts, the
growth of the snapshots); cloud/cost.py prices it line by line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from s3vault.backend.accounting import RequestCounts
from s3vault.backend.base import ObjectInfo
from s3vault.clock import Clock, SystemClock
from s3vault.cloud.cost import DAY, Estimate, Usage, estimate, load_prices
from s3vault.format.layout import ObjectKind
from s3vault.ops.stats import stats
from s3vault.repository.audit import read_chains
from s3vault.repository.marks import load_marks
from s3vault.repository.names import pack_name
from s3vault.repository.repository import Repository


@dataclass(frozen=True, slots=True, kw_only=True)
class CostOptions:
    """Where and how to price the repository (cloud/cost.py's estimate)."""

    region: str = "us-east-1"
    prices_file: Path | None = None  # None: the shipped table
    months: int = 12  # projection horizon
    days: float = 30.0  # traffic: the audit log of this many days
    egress: str = "internet"  # internet, region or none
    sse_kms: bool = False
    replica_region: str | None = None


def cost(repo: Repository, options: CostOptions, *, clock: Clock | None = None) -> Estimate:
    """The monthly bill of the repository (its index must be loaded), line by line.

    Raises:
        UsageError: the price file cannot be read, or has no prices for a region or class.
    """
    usage = measure_usage(repo, days=options.days, clock=clock)
    return estimate(
        usage,
        load_prices(options.prices_file),
        region=options.region,
        months=options.months,
        egress=options.egress,
        sse_kms=options.sse_kms,
        replica_region=options.replica_region,
    )


def measure_usage(repo: Repository, *, days: float = 30.0, clock: Clock | None = None) -> Usage:
    """The inputs of the estimate, from the repository itself (its index must be loaded):
    a listing (sizes and storage classes), prune's marks (early deletions), the audit log of
    the last ``days`` (requests and bytes downloaded) and the growth of the snapshots."""
    now = (clock or SystemClock()).now()
    by_class: dict[str, int] = {}
    count: dict[str, int] = {}
    listed: dict[str, ObjectInfo] = {}
    data_classes: dict[str, int] = {}
    for info in repo.list_everything():
        cls = info.storage_class or "STANDARD"
        by_class[cls] = by_class.get(cls, 0) + info.size
        count[cls] = count.get(cls, 0) + 1
        listed[info.name] = info
        if info.name.startswith(ObjectKind.DATA.value + "/"):
            data_classes[cls] = data_classes.get(cls, 0) + info.size
    early = []
    for pack, since in load_marks(repo).packs.values():
        marked = listed.get(pack_name(pack))
        if marked is not None:
            age = (since - marked.modified) / DAY
            early.append((marked.storage_class or "STANDARD", marked.size, age))
    totals = RequestCounts()
    since_time = now - timedelta(days=days)
    for chain in read_chains(repo):
        for rec in chain.records:
            counts = rec.details.get("requests") if rec.time >= since_time else None
            if isinstance(counts, dict):
                for key in ("put", "get", "head", "list", "delete", "bytes_up", "bytes_down"):
                    setattr(totals, key, getattr(totals, key) + int(counts.get(key, 0)))
    return Usage(
        stored_by_class=by_class,
        objects_by_class=count,
        early_deletes=early,
        put=totals.put,
        get=totals.get,
        head=totals.head,
        list=totals.list,
        bytes_down=totals.bytes_down,
        window_days=days,
        growth_bytes_per_day=stats(repo).growth_bytes_per_day,
        data_class=max(data_classes, key=lambda c: data_classes[c]) if data_classes else "STANDARD",
    )
