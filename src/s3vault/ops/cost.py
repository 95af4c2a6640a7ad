"""cost: what the repository costs per month, from its real contents and real traffic.

Every figure is a line item with its quantity, unit, unit price and where the quantity came
from, so a bill can be checked line by line:

- storage, per storage class, from a listing of the repository (what S3 reports per object);
- early-deletion charges: packs in a class with a minimum storage duration that prune has
  marked before they reached it (they are billed for the whole minimum);
- requests, from the request counts the audit log recorded for the runs of the last 30 days
  (PUT and LIST at the PUT price of the data packs' class, GET and HEAD at its GET price;
  DELETE is free);
- data transfer out, from the bytes those runs downloaded (restores, verify, drills), priced
  as transfer to the internet (zero when the hosts run in the bucket's region: --egress none);
- KMS requests with --sse-kms (one per PUT and GET without S3 bucket keys);
- replication to --replica-region: the replica's storage and the transfer of each month's
  new data;
- a projection over --months under the observed growth (stats).

Prices: a table for a few regions, dated, in ops/data/prices.json; --prices FILE overrides it
(same shape).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from s3vault.backend.accounting import RequestCounts
from s3vault.backend.base import ObjectInfo
from s3vault.clock import Clock, SystemClock
from s3vault.errors import UsageError
from s3vault.format.layout import ObjectKind
from s3vault.ops.stats import stats
from s3vault.repository.audit import read_chains
from s3vault.repository.marks import load_marks
from s3vault.repository.names import pack_name
from s3vault.repository.repository import Repository

GB = 1024**3
DAY = 86400.0
MONTH_DAYS = 30.44


def load_prices(path: Path | None = None) -> dict[str, Any]:
    """The price table (the shipped one, or a file with the same shape).

    Raises:
        UsageError: the file cannot be read or parsed.
    """
    try:
        if path is None:
            text = resources.files("s3vault.ops.data").joinpath("prices.json").read_text()
        else:
            text = path.read_text()
        table: dict[str, Any] = json.loads(text)
    except OSError as exc:
        raise UsageError(f"cannot read the price file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"price file {path} is not valid JSON: {exc}") from None
    return table


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """What the repository holds and did: the inputs of the estimate."""

    stored_by_class: dict[str, int]  # bytes per storage class
    objects_by_class: dict[str, int]
    early_deletes: list[tuple[str, int, float]] = field(
        default_factory=list
    )  # class, bytes, age days
    put: int = 0  # requests in the traffic window
    get: int = 0
    head: int = 0
    list: int = 0
    bytes_down: int = 0
    window_days: float = 30.0  # how many days the request counts cover
    growth_bytes_per_day: float = 0.0
    data_class: str = "STANDARD"


@dataclass(frozen=True, slots=True, kw_only=True)
class LineItem:
    """One traceable figure of the bill."""

    item: str
    quantity: float
    unit: str
    unit_price: float
    cost: float
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    """The monthly bill and its projection."""

    region: str
    currency: str
    prices_as_of: str
    items: tuple[LineItem, ...]
    monthly: float
    projection: dict[int, float]  # months ahead → monthly cost then


def _item(item: str, quantity: float, unit: str, price: float, source: str) -> LineItem:
    return LineItem(
        item=item,
        quantity=quantity,
        unit=unit,
        unit_price=price,
        cost=quantity * price,
        source=source,
    )


def _region(prices: dict[str, Any], region: str) -> dict[str, Any]:
    table = prices.get("regions", {}).get(region)
    if table is None:
        known = ", ".join(sorted(prices.get("regions", {})))
        raise UsageError(f"no prices for region {region!r} (known: {known}); use --prices FILE")
    return dict(table)


def estimate(
    usage: Usage,
    prices: dict[str, Any],
    *,
    region: str,
    months: int = 12,
    egress: str = "internet",
    sse_kms: bool = False,
    replica_region: str | None = None,
) -> Estimate:
    """Price a month of this usage, and the months ahead under its growth.

    Raises:
        UsageError: a region or storage class without prices.
    """
    p = _region(prices, region)
    scale = MONTH_DAYS / usage.window_days if usage.window_days else 1.0
    items: list[LineItem] = []
    for cls, size in sorted(usage.stored_by_class.items()):
        price = p["storage_gb_month"].get(cls)
        if price is None:
            raise UsageError(f"no storage price for class {cls} in {region}")
        items.append(
            _item(
                f"storage {cls}",
                size / GB,
                "GB-month",
                price,
                f"listing: {usage.objects_by_class.get(cls, 0)} objects",
            )
        )
    minimum = prices.get("minimum_days", {})
    for cls, size, age in usage.early_deletes:
        short = max(0.0, float(minimum.get(cls, 0)) - age)
        if short > 0:
            items.append(
                _item(
                    f"early deletion {cls}",
                    size / GB * short / MONTH_DAYS,
                    "GB-month",
                    p["storage_gb_month"][cls],
                    f"a pack marked by prune at {age:.0f} days, minimum {minimum[cls]} days",
                )
            )
    put_price = p["put_per_1000"].get(usage.data_class, p["put_per_1000"]["STANDARD"])
    get_price = p["get_per_1000"].get(usage.data_class, p["get_per_1000"]["STANDARD"])
    window = f"audit log, last {usage.window_days:.0f} days, scaled to a month"
    items.append(
        _item(
            "PUT/LIST requests",
            (usage.put + usage.list) * scale / 1000,
            "1000 requests",
            put_price,
            window,
        )
    )
    items.append(
        _item(
            "GET/HEAD requests",
            (usage.get + usage.head) * scale / 1000,
            "1000 requests",
            get_price,
            window,
        )
    )
    if egress != "none":
        key = "egress_internet_gb" if egress == "internet" else "egress_inter_region_gb"
        where = "internet" if egress == "internet" else "to another region"
        items.append(
            _item(
                f"data transfer out ({where})",
                usage.bytes_down * scale / GB,
                "GB",
                p[key],
                window,
            )
        )
    if sse_kms:
        kms = (usage.put + usage.get) * scale / 10000
        items.append(
            _item("KMS requests (SSE-KMS)", kms, "10000 requests", p["kms_per_10000"], window)
        )
    growth_gb_month = usage.growth_bytes_per_day * MONTH_DAYS / GB
    stored_gb = sum(usage.stored_by_class.values()) / GB
    if replica_region:
        r = _region(prices, replica_region)
        items.append(
            _item(
                f"replica storage in {replica_region}",
                stored_gb,
                "GB-month",
                r["storage_gb_month"][usage.data_class],
                "the stored bytes, replicated",
            )
        )
        items.append(
            _item(
                "replication transfer",
                growth_gb_month,
                "GB",
                p["egress_inter_region_gb"],
                "new data per month (stats growth)",
            )
        )
    monthly = sum(i.cost for i in items)
    storage_price = p["storage_gb_month"].get(usage.data_class, p["storage_gb_month"]["STANDARD"])
    projection = {
        m: monthly + growth_gb_month * m * storage_price * (2 if replica_region else 1)
        for m in range(1, months + 1)
    }
    return Estimate(
        region=region,
        currency="USD",
        prices_as_of=str(prices.get("as_of", "")),
        items=tuple(items),
        monthly=monthly,
        projection=projection,
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
