"""The bill of a fleet that does not exist yet (``s3vault cost --plan``): a steady month, and
what is paid once, from the fleet's parameters.

    stored      = hosts × (first backup + daily change × retention days) / (dedup × compression)
    uploaded    = hosts × daily change × 30.44 / (dedup × compression)         per month
    PUT         = runs × (packs a run fills, rounded up + the PUTs a run adds: index,
                  snapshot, tree pack, audit record)
    HEAD        = PUT (S3 checks each upload's size) + runs × a run's own HEADs
    GET         = drill reads / 1 MiB (a ranged read per blob) + runs × a run's own GETs
    drill reads = hosts × drills a month × first backup × drill % / compression   per month
    first backup (once) = hosts × first backup / (dedup × compression), in packs

A run's own requests besides its packs (RUN_REQUESTS, DRILL_REQUESTS) are those a small
backup and a restore drill sent to the S3 test server (tests/cloud/test_cost_requests.py keeps
them honest). Metadata (trees, index, snapshots) stays STANDARD whatever the data class:
METADATA_SHARE of the stored bytes, a typical share (``stats`` shows the real one).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from s3vault.cloud.cost.estimate import BUCKET_KEY_FACTOR, Pricing
from s3vault.cloud.cost.items import Estimate, LineItem, line, tiered_line, total
from s3vault.cloud.cost.network import network_items
from s3vault.cloud.cost.prices import MONTH_DAYS, RegionPrices, region_prices
from s3vault.errors import UsageError

METADATA_SHARE = 0.01
# What one backup run sends besides its data packs (an unchanged backup: snapshot, index,
# tree pack, audit record, the reads of the index and snapshot lists; index/ is listed twice,
# docs/design.md §11), and one restore drill besides the blobs it reads (one index/ listing
# asks whether the index it opened with is still current); each PUT on S3 is checked by a
# HEAD. Measured against the S3 test server (tests/cloud/test_cost_requests.py keeps them
# equal).
RUN_REQUESTS = {"put": 4, "get": 4, "head": 4, "list": 7}
DRILL_REQUESTS = {"put": 3, "get": 0, "head": 3, "list": 9}
DRILL_READ_MIB = 1.0  # a drill reads blob by blob: a ranged GET per MiB (the average blob)


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetPlan:
    """A fleet's parameters (sizes in GB of 2^30 bytes)."""

    hosts: int
    data_gb: float  # a host's first backup (what it would restore)
    daily_change_gb: float  # new and changed data per host per day
    dedup_ratio: float = 1.0  # restore size / unique data
    compression_ratio: float = 1.0  # unique data / stored
    retention_days: float = 30.0  # how long changed data stays in the repository
    storage_class: str = "STANDARD"  # of the data packs
    backups_per_day: float = 1.0  # per host
    drills_per_month: float = 1.0  # restore drills per host
    drill_percent: float = 10.0  # of a host's data each drill restores
    pack_mib: float = 16.0

    def check(self) -> None:
        """Raises:
        UsageError: a parameter out of range."""
        if self.hosts < 1 or self.data_gb < 0 or self.daily_change_gb < 0:
            raise UsageError("a plan needs --hosts >= 1 and sizes >= 0")
        if min(self.dedup_ratio, self.compression_ratio, self.pack_mib) <= 0:
            raise UsageError("--dedup-ratio, --compression-ratio and the pack size must be > 0")
        if not 0 <= self.drill_percent <= 100:
            raise UsageError("--drill-percent must be between 0 and 100")


@dataclass(frozen=True, slots=True)
class _Volumes:
    """The plan's monthly (and one-time) quantities."""

    stored_gb: float
    upload_gb: float  # per month
    first_gb: float  # once
    drill_gb: float  # per month
    runs: float  # backup runs per month
    drills: float  # drills per month
    put: float  # requests per month
    get: float
    head: float
    list: float
    first_put: float  # once


def _volumes(plan: FleetPlan) -> _Volumes:
    ratio = plan.dedup_ratio * plan.compression_ratio
    pack_gb = plan.pack_mib / 1024
    upload = plan.hosts * plan.daily_change_gb * MONTH_DAYS / ratio
    drill = plan.hosts * plan.drills_per_month * plan.data_gb * plan.drill_percent / 100
    drill /= plan.compression_ratio
    runs = plan.hosts * plan.backups_per_day * MONTH_DAYS
    drills = plan.hosts * plan.drills_per_month
    first = plan.hosts * plan.data_gb / ratio
    # a run ends its last pack part-full: packs per run, rounded up
    per_run = plan.daily_change_gb / plan.backups_per_day / ratio if plan.backups_per_day else 0
    packs = runs * math.ceil(per_run / pack_gb - 1e-9)
    first_packs = plan.hosts * math.ceil(plan.data_gb / ratio / pack_gb - 1e-9)

    def per(kind: str) -> float:
        return runs * RUN_REQUESTS[kind] + drills * DRILL_REQUESTS[kind]

    return _Volumes(
        stored_gb=plan.hosts * (plan.data_gb + plan.daily_change_gb * plan.retention_days) / ratio,
        upload_gb=upload,
        first_gb=first,
        drill_gb=drill,
        runs=runs,
        drills=drills,
        put=packs + per("put"),
        get=drill * 1024 / DRILL_READ_MIB + per("get"),
        head=packs + per("head"),
        list=per("list"),
        first_put=first_packs + plan.hosts * RUN_REQUESTS["put"],
    )


def _storage(plan: FleetPlan, v: _Volumes, p: RegionPrices) -> list[LineItem]:
    cls = plan.storage_class
    meta = METADATA_SHARE if cls != "STANDARD" else 0.0
    items = tiered_line(
        f"storage {cls}",
        p.storage_parts(cls, v.stored_gb * (1 - meta)),
        "GB-month",
        f"{plan.hosts} hosts x ({plan.data_gb:g} GB + {plan.daily_change_gb:g} GB/day x "
        f"{plan.retention_days:g} days) / {plan.dedup_ratio:g} dedup "
        f"/ {plan.compression_ratio:g} compression",
    )
    if meta:
        items.append(
            line(
                "storage STANDARD (trees, index, snapshots)",
                v.stored_gb * meta,
                "GB-month",
                p.storage("STANDARD"),
                f"{meta:.0%} of the stored bytes (typical; stats shows yours)",
            )
        )
    short = p.minimum_days(cls) - plan.retention_days
    if short > 0:
        items.append(
            line(
                f"early deletion {cls}",
                v.upload_gb * short / MONTH_DAYS,
                "GB-month",
                p.storage(cls),
                f"data deleted at {plan.retention_days:g} days, billed to {p.minimum_days(cls):g}",
            )
        )
    return items


def _requests(plan: FleetPlan, v: _Volumes, p: RegionPrices) -> list[LineItem]:
    cls = plan.storage_class
    basis = (
        f"{v.runs:,.0f} backups and {v.drills:,.0f} drills a month; packs of {plan.pack_mib:g} MiB"
    )
    items = [
        line("PUT/LIST requests", (v.put + v.list) / 1000, "1000 requests", p.put(cls), basis),
        line("GET/HEAD requests", (v.get + v.head) / 1000, "1000 requests", p.get(cls), basis),
    ]
    if p.retrieval(cls):
        items.append(
            line(f"retrieval {cls}", v.drill_gb, "GB", p.retrieval(cls), "the drills' reads")
        )
    return items


def _kms(v: _Volumes, p: RegionPrices, pricing: Pricing) -> list[LineItem]:
    if not pricing.sse_kms:
        return []
    factor = BUCKET_KEY_FACTOR if pricing.bucket_key else 1.0
    how = "with bucket keys: 1 % of" if pricing.bucket_key else "without bucket keys:"
    return [
        line(
            "KMS requests (SSE-KMS)",
            (v.put + v.get) * factor / 10000,
            "10000 requests",
            p.number("kms_per_10000"),
            f"{how} one per PUT and GET",
        ),
        line("KMS key", 1, "key-month", p.number("kms_key_month"), "the repository's key"),
    ]


def _replica(
    plan: FleetPlan, v: _Volumes, table: dict[str, Any], p: RegionPrices, pricing: Pricing
) -> tuple[list[LineItem], list[LineItem]]:
    target = pricing.replica_region
    if not target:
        return [], []
    r = region_prices(table, target)
    cls = plan.storage_class
    transfer = p.number("inter_region_out_gb")
    monthly = [
        *tiered_line(
            f"replica storage in {target}", r.storage_parts(cls, v.stored_gb), "GB-month", "stored"
        ),
        line("replication requests", v.put / 1000, "1000 requests", r.put(cls), "a PUT per PUT"),
        line(f"replication transfer to {target}", v.upload_gb, "GB", transfer, "uploaded"),
    ]
    first = [
        line("first backup: replication requests", v.first_put / 1000, "1000 requests",
             r.put(cls), "a PUT per PUT of the first backups"),
        line(f"first backup: replication transfer to {target}", v.first_gb, "GB", transfer,
             "the first backups, replicated as they are written"),
    ]  # fmt: skip
    return monthly, first


def plan_bill(plan: FleetPlan, prices: dict[str, Any], pricing: Pricing) -> Estimate:
    """The plan's bill: a steady month (``items``, ``monthly``), what the first backups cost
    once (``one_time``), and the monthly bill in each of the first 12 months while the
    retention window fills (``projection``).

    Raises:
        UsageError: a parameter out of range, or a region, class or price the table lacks.
    """
    plan.check()
    p = region_prices(prices, pricing.region)
    v = _volumes(plan)
    items = _storage(plan, v, p) + _requests(plan, v, p)
    basis = "the backups' uploads and the drills' reads"
    items += network_items(
        p, path=pricing.network, gb_up=v.upload_gb, gb_down=v.drill_gb, azs=pricing.azs,
        source=basis,
    )  # fmt: skip
    items += _kms(v, p, pricing)
    replica, first_replica = _replica(plan, v, prices, p, pricing)
    items += replica
    first = [
        line("first backup: PUT requests", v.first_put / 1000, "1000 requests",
             p.put(plan.storage_class), f"{plan.hosts} hosts' first backups, in packs"),
        line("first backup: HEAD requests", v.first_put / 1000, "1000 requests",
             p.get(plan.storage_class), "S3 checks each upload's size"),
        *[
            dataclasses.replace(i, item=f"first backup: {i.item}")
            for i in network_items(p, path=pricing.network, gb_up=v.first_gb, gb_down=0.0,
                                   azs=0, source="the first backups")
            if not i.unit.endswith("hour")  # the hours are in the monthly bill
        ],
        *first_replica,
    ]  # fmt: skip
    monthly = total(items)
    copies = 2 if pricing.replica_region else 1
    unfilled = plan.hosts * plan.daily_change_gb / (plan.dedup_ratio * plan.compression_ratio)
    price = p.storage(plan.storage_class) * copies
    projection = {
        m: monthly - price * unfilled * max(0.0, plan.retention_days - m * MONTH_DAYS)
        for m in range(1, 13)
    }
    return Estimate.of(
        region=pricing.region, prices=prices, items=items, projection=projection, one_time=first
    )
