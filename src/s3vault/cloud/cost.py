"""The S3 bill: price tables and the estimate of a month (and the months ahead) from a
repository's usage (``s3vault cost``; ops/cost.py measures the usage).

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

Prices: a table for a few regions, dated, in cloud/data/prices.json; --prices FILE overrides it
(same shape).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from s3vault.errors import UsageError

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
            text = resources.files("s3vault.cloud.data").joinpath("prices.json").read_text()
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


def _storage_items(
    usage: Usage, prices: dict[str, Any], p: dict[str, Any], region: str
) -> list[LineItem]:
    """Storage per class, and the early-deletion charges of packs prune marked young."""
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
    return items


def _traffic_items(
    usage: Usage, p: dict[str, Any], *, egress: str, sse_kms: bool
) -> list[LineItem]:
    """Requests, data transfer out and KMS requests of the traffic window, scaled to a month."""
    scale = MONTH_DAYS / usage.window_days if usage.window_days else 1.0
    put_price = p["put_per_1000"].get(usage.data_class, p["put_per_1000"]["STANDARD"])
    get_price = p["get_per_1000"].get(usage.data_class, p["get_per_1000"]["STANDARD"])
    window = f"audit log, last {usage.window_days:.0f} days, scaled to a month"
    items = [
        _item(
            "PUT/LIST requests",
            (usage.put + usage.list) * scale / 1000,
            "1000 requests",
            put_price,
            window,
        ),
        _item(
            "GET/HEAD requests",
            (usage.get + usage.head) * scale / 1000,
            "1000 requests",
            get_price,
            window,
        ),
    ]
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
    return items


def _replica_items(
    usage: Usage, prices: dict[str, Any], p: dict[str, Any], replica_region: str
) -> list[LineItem]:
    """The replica's storage and the transfer of each month's new data."""
    r = _region(prices, replica_region)
    return [
        _item(
            f"replica storage in {replica_region}",
            sum(usage.stored_by_class.values()) / GB,
            "GB-month",
            r["storage_gb_month"][usage.data_class],
            "the stored bytes, replicated",
        ),
        _item(
            "replication transfer",
            usage.growth_bytes_per_day * MONTH_DAYS / GB,
            "GB",
            p["egress_inter_region_gb"],
            "new data per month (stats growth)",
        ),
    ]


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
    items = _storage_items(usage, prices, p, region)
    items += _traffic_items(usage, p, egress=egress, sse_kms=sse_kms)
    if replica_region:
        items += _replica_items(usage, prices, p, replica_region)
    monthly = sum(i.cost for i in items)
    growth_gb_month = usage.growth_bytes_per_day * MONTH_DAYS / GB
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
