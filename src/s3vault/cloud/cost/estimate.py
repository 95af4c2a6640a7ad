"""The bill of an existing repository: a month of its measured usage (ops/cost.py measures it),
priced line by line, and the months ahead under its growth (``s3vault cost``).

Every figure is a line item with its quantity, unit, unit price and where the quantity came
from, so a bill can be checked line by line:

- storage, per storage class, from a listing of the repository (what S3 reports per object);
- early-deletion charges: packs in a class with a minimum storage duration that prune has
  marked before they reached it (they are billed for the whole minimum);
- requests, from the request counts the audit log recorded for the runs of the window, plus
  each run's own audit write (counted by ops/cost.py), scaled to a month: PUT and LIST at the
  PUT price of the data packs' class, GET and HEAD at its GET price; DELETE is free;
- retrieval fees of the classes that charge them (Standard-IA, One Zone-IA, Glacier), on the
  bytes read, split by the classes' shares of the stored bytes;
- the network path (cloud/cost/network.py) on the bytes the runs sent and received;
- KMS requests with SSE-KMS: one per PUT and GET without S3 bucket keys, 1 % of that with
  them (AWS: bucket keys cut KMS requests by up to 99 %), and the key's monthly fee;
- replication to another region: the replica's storage, a replication PUT per object written,
  the inter-region transfer of the bytes written; once: the first replication of the existing
  data (S3 Batch Replication: a job, per object, their PUTs and transfer);
- what a DR copy read from its source (the copy records of this repository's audit log):
  billed to the source's account, shown apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from s3vault.cloud.cost.items import (
    SOURCE_ACCOUNT,
    Estimate,
    LineItem,
    line,
    tiered_line,
    total,
)
from s3vault.cloud.cost.network import network_items
from s3vault.cloud.cost.prices import GB, MONTH_DAYS, RegionPrices, region_prices

BUCKET_KEY_FACTOR = 0.01  # AWS: S3 Bucket Keys reduce KMS requests "by up to 99 %"


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """What the repository holds and did: the inputs of the estimate."""

    stored_by_class: dict[str, int]  # bytes per storage class
    objects_by_class: dict[str, int]
    early_deletes: list[tuple[str, int, float]] = field(
        default_factory=list
    )  # class, bytes, age days
    put: int = 0  # requests in the traffic window (with the runs' audit writes)
    get: int = 0
    head: int = 0
    list: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    runs: int = 0  # audit records in the window (one per run)
    source: dict[str, int] = field(default_factory=dict)  # a copy's requests at its source
    window_days: float = 30.0  # how many days the request counts cover
    growth_bytes_per_day: float = 0.0
    data_class: str = "STANDARD"


@dataclass(frozen=True, slots=True, kw_only=True)
class Pricing:
    """How the repository is reached and kept: the choices the bill depends on."""

    region: str = "us-east-1"
    network: str = "internet"  # cloud/cost/network.py NETWORK_PATHS
    azs: int = 1  # NAT gateways / interface endpoint AZs
    sse_kms: bool = False
    bucket_key: bool = False
    replica_region: str | None = None


def _storage_items(usage: Usage, p: RegionPrices) -> list[LineItem]:
    """Storage per class, and the early-deletion charges of packs prune marked young."""
    items = [
        item
        for cls, size in sorted(usage.stored_by_class.items())
        for item in tiered_line(
            f"storage {cls}",
            p.storage_parts(cls, size / GB),
            "GB-month",
            f"listing: {usage.objects_by_class.get(cls, 0)} objects",
        )
    ]
    for cls, size, age in usage.early_deletes:
        minimum = p.minimum_days(cls)
        short = max(0.0, minimum - age)
        if short > 0:
            items.append(
                line(
                    f"early deletion {cls}",
                    size / GB * short / MONTH_DAYS,
                    "GB-month",
                    p.storage(cls),
                    f"a pack marked by prune at {age:.0f} days, minimum {minimum:g} days",
                )
            )
    return items


def _request_items(usage: Usage, p: RegionPrices, scale: float, window: str) -> list[LineItem]:
    """Requests and the retrieval fees of what was read."""
    runs = f"{window} ({usage.runs} runs, with their audit writes)"
    items = [
        line(
            "PUT/LIST requests",
            (usage.put + usage.list) * scale / 1000,
            "1000 requests",
            p.put(usage.data_class),
            runs,
        ),
        line(
            "GET/HEAD requests",
            (usage.get + usage.head) * scale / 1000,
            "1000 requests",
            p.get(usage.data_class),
            runs,
        ),
    ]
    stored = sum(usage.stored_by_class.values())
    for cls, size in sorted(usage.stored_by_class.items()):
        fee = p.retrieval(cls)
        if fee and stored:
            share = size / stored
            items.append(
                line(
                    f"retrieval {cls}",
                    usage.bytes_down * scale * share / GB,
                    "GB",
                    fee,
                    f"{window}: bytes read x {share:.1%} of the stored bytes in {cls}",
                )
            )
    return items


def _kms_items(usage: Usage, p: RegionPrices, scale: float, pricing: Pricing) -> list[LineItem]:
    """SSE-KMS: a request per PUT and GET (1 % of that with bucket keys), the key's fee."""
    if not pricing.sse_kms:
        return []
    factor = BUCKET_KEY_FACTOR if pricing.bucket_key else 1.0
    how = "with S3 bucket keys: 1 % of" if pricing.bucket_key else "without bucket keys:"
    return [
        line(
            "KMS requests (SSE-KMS)",
            (usage.put + usage.get) * scale * factor / 10000,
            "10000 requests",
            p.number("kms_per_10000"),
            f"{how} one per PUT and GET, scaled to a month",
        ),
        line("KMS key", 1, "key-month", p.number("kms_key_month"), "the repository's key"),
    ]


def _replica_items(
    usage: Usage, table: dict[str, Any], p: RegionPrices, scale: float, pricing: Pricing
) -> tuple[list[LineItem], list[LineItem]]:
    """Monthly: the replica's storage, replication requests and transfer (and its KMS
    requests); once: the first replication of the existing objects (Batch Replication)."""
    target = pricing.replica_region
    if not target:
        return [], []
    r = region_prices(table, target)
    stored = sum(usage.stored_by_class.values())
    objects = sum(usage.objects_by_class.values())
    cls = usage.data_class
    monthly = [
        *tiered_line(
            f"replica storage in {target}", r.storage_parts(cls, stored / GB), "GB-month", "listing"
        ),
        line(
            "replication requests",
            usage.put * scale / 1000,
            "1000 requests",
            r.put(cls),
            "a replication PUT per object written",
        ),
        line(
            f"replication transfer to {target}",
            usage.bytes_up * scale / GB,
            "GB",
            p.number("inter_region_out_gb"),
            "the bytes written, scaled to a month",
        ),
    ]
    if pricing.sse_kms:
        monthly.append(
            line(
                "KMS requests (replication)",
                2 * usage.put * scale / 10000,
                "10000 requests",
                r.number("kms_per_10000"),
                "a decrypt at the source and an encrypt at the replica per object",
            )
        )
    first = [
        line("first replication: batch job", 1, "job", p.batch_replication("job"), "once"),
        line(
            "first replication: objects",
            objects / 1e6,
            "million objects",
            p.batch_replication("per_million_objects"),
            "S3 Batch Replication of the existing objects",
        ),
        line("first replication: requests", objects / 1000, "1000 requests", r.put(cls), "listing"),
        line(
            f"first replication: transfer to {target}",
            stored / GB,
            "GB",
            p.number("inter_region_out_gb"),
            "the stored bytes",
        ),
    ]
    return monthly, first


def _source_items(usage: Usage, p: RegionPrices, scale: float) -> list[LineItem]:
    """What copies into this repository read at their source: the source account's bill."""
    s = usage.source
    if not any(s.values()):
        return []
    where = "copy runs' reads at the source, scaled to a month"
    paid = {"billed_to": SOURCE_ACCOUNT}
    return [
        line(
            "source GET/HEAD requests",
            (s.get("get", 0) + s.get("head", 0)) * scale / 1000,
            "1000 requests",
            p.get("STANDARD"),
            where,
            **paid,
        ),
        line(
            "source PUT/LIST requests",
            (s.get("put", 0) + s.get("list", 0)) * scale / 1000,
            "1000 requests",
            p.put("STANDARD"),
            where,
            **paid,
        ),
        line(
            "source data transfer out (to another region)",
            s.get("bytes_down", 0) * scale / GB,
            "GB",
            p.number("inter_region_out_gb"),
            f"{where}; a source in the same region as the copying host: free",
            **paid,
        ),
    ]


def estimate(
    usage: Usage, prices: dict[str, Any], pricing: Pricing, *, months: int = 12
) -> Estimate:
    """Price a month of this usage, and the months ahead under its growth.

    Raises:
        UsageError: a region, storage class or price the table does not have.
    """
    p = region_prices(prices, pricing.region)
    scale = MONTH_DAYS / usage.window_days if usage.window_days else 1.0
    window = f"audit log, last {usage.window_days:g} days, scaled to a month"
    items = _storage_items(usage, p)
    items += _request_items(usage, p, scale, window)
    items += network_items(
        p,
        path=pricing.network,
        gb_up=usage.bytes_up * scale / GB,
        gb_down=usage.bytes_down * scale / GB,
        azs=pricing.azs,
        source=window,
    )
    items += _kms_items(usage, p, scale, pricing)
    replica, first = _replica_items(usage, prices, p, scale, pricing)
    items += replica
    items += _source_items(usage, p, scale)
    monthly = total(items)
    growth_gb_month = usage.growth_bytes_per_day * MONTH_DAYS / GB
    storage_price = p.storage(usage.data_class)
    copies = 2 if pricing.replica_region else 1
    projection = {
        m: monthly + growth_gb_month * m * storage_price * copies for m in range(1, months + 1)
    }
    return Estimate.of(
        region=pricing.region, prices=prices, items=items, projection=projection, one_time=first
    )
