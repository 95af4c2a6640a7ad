"""cost: what the repository costs per month, from its real contents and real traffic; and
``plan_cost``: the bill of a fleet that does not exist yet, from its parameters.

The usage is measured here (a listing, prune's marks, the audit log's request counts, the
growth of the snapshots); cloud/cost/ prices it line by line.

Requests: every audit record carries the requests its run sent (counted on the wire by the
S3 store's request hook, retries included; init's record includes its probe). The record's
own write is not in it (it is counted before the write): one LIST of the host's audit prefix
(a page per 1,000 records already there), its PUT and, on S3, the HEAD that checks it, added
here. A copy's record carries its reads at the source apart (``source_requests``): the
source's account pays them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from s3vault.backend.base import ObjectInfo
from s3vault.clock import Clock, SystemClock
from s3vault.cloud.cost import (
    DAY,
    Estimate,
    FleetPlan,
    Pricing,
    Usage,
    estimate,
    load_prices,
    plan_bill,
)
from s3vault.format.auditfile import AuditRecord
from s3vault.format.layout import ObjectKind
from s3vault.ops.stats import stats
from s3vault.repository.audit import read_chains
from s3vault.repository.marks import load_marks
from s3vault.repository.names import pack_name
from s3vault.repository.repository import Repository

COUNTED = ("put", "get", "head", "list", "bytes_up", "bytes_down")
LIST_PAGE = 1000  # keys per LIST page (S3's maximum)


@dataclass(frozen=True, slots=True, kw_only=True)
class CostOptions:
    """Where and how to price the repository (cloud/cost/estimate.py)."""

    pricing: Pricing = field(default_factory=Pricing)
    prices_file: Path | None = None  # None: the shipped table
    months: int = 12  # projection horizon
    days: float = 30.0  # traffic: the audit log of this many days


def cost(repo: Repository, options: CostOptions, *, clock: Clock | None = None) -> Estimate:
    """The monthly bill of the repository (its index must be loaded), line by line.

    Raises:
        UsageError: the price file cannot be read, or has no prices for a region or class.
    """
    prices = load_prices(options.prices_file)  # a bad table fails before the listing
    usage = measure_usage(repo, days=options.days, clock=clock)
    return estimate(usage, prices, options.pricing, months=options.months)


def plan_cost(plan: FleetPlan, pricing: Pricing, *, prices_file: Path | None = None) -> Estimate:
    """The monthly bill of a fleet that does not exist yet (cloud/cost/plan.py).

    Raises:
        UsageError: the price file cannot be read, or lacks a region, class or price.
    """
    return plan_bill(plan, load_prices(prices_file), pricing)


def audit_write_requests(seq: int, store: dict[str, object] | None) -> dict[str, int]:
    """The requests of writing audit record number ``seq`` of a host's chain: a LIST of the
    host's prefix (holding ``seq - 1`` records: a page per 1,000, at least one) and the put of
    the record; on S3 (``store``: the probed dialect in the config) a put is checked by a HEAD,
    and preceded by one where the store has no create-only writes."""
    requests = {"list": max(1, -(-(seq - 1) // LIST_PAGE)), "put": 1}
    if store is not None:
        requests["head"] = 2 if store.get("create_only") == "none" else 1
    return requests


def _add(totals: dict[str, int], counts: object) -> None:
    if isinstance(counts, dict):
        for key in COUNTED:
            totals[key] = totals.get(key, 0) + int(counts.get(key, 0))


def run_requests(
    record: AuditRecord, store: dict[str, object] | None = None
) -> tuple[dict[str, int], dict[str, int]]:
    """What the run of one audit record sent: (to this repository's store, including the
    record's own write; to a copy's source)."""
    own: dict[str, int] = {}
    _add(own, record.details.get("requests"))
    _add(own, audit_write_requests(record.seq, store))
    source: dict[str, int] = {}
    _add(source, record.details.get("source_requests"))
    return own, source


def measure_usage(repo: Repository, *, days: float = 30.0, clock: Clock | None = None) -> Usage:
    """The inputs of the estimate, from the repository itself (its index must be loaded):
    a listing (sizes and storage classes), prune's marks (early deletions), the audit log of
    the last ``days`` (requests and bytes moved) and the growth of the snapshots."""
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
    totals: dict[str, int] = {}
    source: dict[str, int] = {}
    runs = 0
    since_time = now - timedelta(days=days)
    for chain in read_chains(repo):
        for rec in chain.records:
            if rec.time >= since_time:
                own, theirs = run_requests(rec, repo.config.store or None)
                _add(totals, own)
                _add(source, theirs)
                runs += 1
    return Usage(
        stored_by_class=by_class,
        objects_by_class=count,
        early_deletes=early,
        put=totals.get("put", 0),
        get=totals.get("get", 0),
        head=totals.get("head", 0),
        list=totals.get("list", 0),
        bytes_up=totals.get("bytes_up", 0),
        bytes_down=totals.get("bytes_down", 0),
        runs=runs,
        source=source,
        window_days=days,
        growth_bytes_per_day=stats(repo).growth_bytes_per_day,
        data_class=max(data_classes, key=lambda c: data_classes[c]) if data_classes else "STANDARD",
    )
