"""The price table: the shipped one (cloud/data/prices.json, dated, with its source) or a file
of the same shape (``--prices FILE``), and one region's prices out of it.

Shape: top-level ``as_of``, ``currency``, ``source``, ``hours_per_month``,
``internet_free_gb_month``, ``minimum_days`` (per storage class), ``batch_replication``, and
``regions``: region code → its prices (``storage_gb_month``, ``put_per_1000``, ``get_per_1000``
per class; ``retrieval_gb`` and ``restore_per_1000`` for the classes that charge them;
``storage_standard_gb_tiers``, ``internet_out_gb_tiers`` and ``interface_endpoint_gb_tiers`` as
``[[up to GB, price], ..., [null, price]]``; ``inter_region_out_gb``, ``nat_gateway_hour``,
``nat_gateway_gb``, ``interface_endpoint_hour``, ``kms_per_10000``, ``kms_key_month``).
Dicts stay at this edge: callers get prices through ``RegionPrices``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from s3vault.errors import UsageError

GB = 1024**3
DAY = 86400.0
MONTH_DAYS = 30.44  # a calendar month on average (365.25 / 12)
HOURS_PER_MONTH = 730  # what AWS bills an always-on resource per month
PRICES_FLAG = "--prices FILE"
NETWORK_KEYS = (
    "internet_out_gb_tiers",
    "inter_region_out_gb",
    "nat_gateway_hour",
    "nat_gateway_gb",
    "interface_endpoint_hour",
    "interface_endpoint_gb_tiers",
)


def load_prices(path: Path | None = None) -> dict[str, Any]:
    """The price table (the shipped one, or a file with the same shape).

    Raises:
        UsageError: the file cannot be read, is not JSON, or has no ``regions`` table.
    """
    where = path or "shipped"
    try:
        if path is None:
            text = resources.files("s3vault.cloud.data").joinpath("prices.json").read_text()
        else:
            text = path.read_text()
        table: dict[str, Any] = json.loads(text)
    except OSError as exc:
        raise UsageError(f"cannot read the price file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"price file {where} is not valid JSON: {exc}") from None
    if not isinstance(table, dict) or not isinstance(table.get("regions"), dict):
        raise UsageError(f'price file {where} has no "regions" table (see the shipped one)')
    bad = _not_a_price(table["regions"])
    if bad is not None:
        raise UsageError(f"price file {where}: {bad} is not a number (see the shipped one)")
    return table


WORDS = frozenset({"name", "note"})  # a region's fields that are words, not prices


def _not_a_price(regions: dict[str, Any]) -> str | None:
    """The first price in the regions' tables that is no number (WORDS are words; tier
    bounds may be null), as ``region/key/...``; None when every one is. A word
    where a price goes had been an internal error (an attack pass, 2026-12-07)."""
    todo: list[tuple[str, Any]] = list(regions.items())
    while todo:
        path, value = todo.pop()
        if isinstance(value, dict):
            todo += [(f"{path}/{k}", v) for k, v in value.items() if k not in WORDS]
        elif isinstance(value, list):
            todo += [(f"{path}[{i}]", v) for i, v in enumerate(value)]
        elif value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            return path
    return None


def tiered(quantity: float, tiers: list[list[Any]]) -> list[tuple[float, float]]:
    """Split ``quantity`` over price tiers ``[[up to, price], ..., [null, price]]`` (cumulative
    bounds, as AWS lists them): (quantity in the tier, its price) for each tier used."""
    parts: list[tuple[float, float]] = []
    floor = 0.0
    for bound, price in tiers:
        if quantity <= floor:
            break
        top = quantity if bound is None else min(quantity, float(bound))
        parts.append((top - floor, float(price)))
        if bound is None:
            break
        floor = float(bound)
    return parts


@dataclass(frozen=True, slots=True)
class RegionPrices:
    """One region's prices (and the table-wide figures: minimum durations, free allowance)."""

    region: str
    table: dict[str, Any]
    prices: dict[str, Any]

    def _get(self, key: str) -> Any:
        try:
            return self.prices[key]
        except KeyError:
            msg = f"the price table has no {key!r} for region {self.region}; add it ({PRICES_FLAG})"
            raise UsageError(msg) from None

    def storage(self, cls: str) -> float:
        """Per GB-month of ``cls``.

        Raises:
            UsageError: no price for the class in this region.
        """
        price = self._get("storage_gb_month").get(cls)
        if price is None:
            raise UsageError(f"no storage price for class {cls} in {self.region} ({PRICES_FLAG})")
        return float(price)

    def storage_parts(self, cls: str, gb: float) -> list[tuple[float, float]]:
        """``gb`` GB-months of ``cls`` split over the class's price tiers (STANDARD is tiered
        where the table says so: ``storage_standard_gb_tiers``).

        Raises:
            UsageError: no price for the class in this region.
        """
        tiers = self.prices.get("storage_standard_gb_tiers") if cls == "STANDARD" else None
        if tiers:
            return tiered(gb, tiers)
        return [(gb, self.storage(cls))]

    def put(self, cls: str) -> float:
        """Per 1,000 PUT, COPY, POST or LIST requests on ``cls`` (STANDARD's if not listed)."""
        table = self._get("put_per_1000")
        return float(table.get(cls, table["STANDARD"]))

    def get(self, cls: str) -> float:
        """Per 1,000 GET, HEAD (and other) requests on ``cls`` (STANDARD's if not listed)."""
        table = self._get("get_per_1000")
        return float(table.get(cls, table["STANDARD"]))

    def retrieval(self, cls: str) -> float:
        """Per GB read back from ``cls`` (0 for classes without a retrieval fee)."""
        return float(self.prices.get("retrieval_gb", {}).get(cls, 0.0))

    def restore_requests(self, cls: str) -> float:
        """Per 1,000 restore requests of an archived ``cls`` (GLACIER, DEEP_ARCHIVE), else 0."""
        return float(self.prices.get("restore_per_1000", {}).get(cls, 0.0))

    def minimum_days(self, cls: str) -> float:
        """The class's minimum storage duration (0: none)."""
        return float(self.table.get("minimum_days", {}).get(cls, 0))

    def number(self, key: str) -> float:
        """A scalar price (``nat_gateway_hour``, ``kms_per_10000``, ...)."""
        return float(self._get(key))

    def tiers(self, key: str) -> list[list[Any]]:
        """A tiered price (``internet_out_gb_tiers``, ``interface_endpoint_gb_tiers``)."""
        value = self._get(key)
        if isinstance(value, (int, float)):
            return [[None, value]]
        return list(value)

    @property
    def hours_per_month(self) -> float:
        """Hours billed per month for an always-on resource."""
        return float(self.table.get("hours_per_month", HOURS_PER_MONTH))

    @property
    def internet_free_gb(self) -> float:
        """AWS's monthly free data transfer out to the internet (account-wide)."""
        return float(self.table.get("internet_free_gb_month", 0))

    def batch_replication(self, key: str) -> float:
        """S3 Batch Replication: ``job`` (per job) or ``per_million_objects``."""
        return float(self.table.get("batch_replication", {}).get(key, 0.0))


def region_prices(table: dict[str, Any], region: str) -> RegionPrices:
    """The prices of ``region``.

    Raises:
        UsageError: the table has no such region (the message names the override flag).
    """
    regions = table.get("regions", {})
    prices = regions.get(region)
    if not isinstance(prices, dict):
        known = ", ".join(sorted(regions))
        msg = (
            f"no prices for region {region!r} in the price table (as of "
            f"{table.get('as_of', '?')}; known: {known}): give one with {PRICES_FLAG}"
        )
        raise UsageError(msg)
    return RegionPrices(region, table, prices)
