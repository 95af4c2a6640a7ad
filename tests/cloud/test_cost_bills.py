"""The cost model against bills computed by hand, one fixture per line item, to the cent.

Prices come from a small table written here (round figures, the shipped table's shape), so
each expected figure can be checked with pencil and paper; the usage covers exactly one month
(window = 30.44 days), so nothing is scaled unless a test says so."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from s3vault.cloud.cost import (
    GB,
    MONTH_DAYS,
    Estimate,
    FleetPlan,
    Pricing,
    Usage,
    estimate,
    load_prices,
    plan_bill,
)
from s3vault.errors import UsageError

TIERS = [[10240, 0.09], [51200, 0.085], [153600, 0.07], [None, 0.05]]


def _region(storage: float, nat: float) -> dict[str, Any]:
    return {
        "storage_gb_month": {"STANDARD": storage, "STANDARD_IA": 0.0125, "GLACIER_IR": 0.004},
        "storage_standard_gb_tiers": [[51200, storage], [512000, storage - 0.001], [None, 0.01]],
        "put_per_1000": {"STANDARD": 0.005, "STANDARD_IA": 0.01, "GLACIER_IR": 0.02},
        "get_per_1000": {"STANDARD": 0.0004, "STANDARD_IA": 0.001, "GLACIER_IR": 0.01},
        "retrieval_gb": {"STANDARD_IA": 0.01, "GLACIER_IR": 0.03},
        "internet_out_gb_tiers": TIERS,
        "inter_region_out_gb": 0.02,
        "nat_gateway_hour": nat,
        "nat_gateway_gb": nat,
        "interface_endpoint_hour": 0.01,
        "interface_endpoint_gb_tiers": [[1048576, 0.01], [None, 0.006]],
        "kms_per_10000": 0.03,
        "kms_key_month": 1.0,
    }


PRICES: dict[str, Any] = {
    "as_of": "test",
    "currency": "USD",
    "hours_per_month": 730,
    "internet_free_gb_month": 100,
    "minimum_days": {"STANDARD_IA": 30, "GLACIER_IR": 90},
    "batch_replication": {"job": 0.25, "per_million_objects": 1.0},
    "regions": {"r1": _region(0.023, 0.045), "r2": _region(0.03, 0.05)},
}


def usage(**kw: Any) -> Usage:
    base: dict[str, Any] = {
        "stored_by_class": {"STANDARD": 100 * GB},
        "objects_by_class": {"STANDARD": 1000},
        "window_days": MONTH_DAYS,
    }
    return Usage(**{**base, **kw})


def bill(u: Usage, **pricing: Any) -> dict[str, float]:
    e = estimate(u, PRICES, Pricing(region="r1", **pricing))
    assert e.monthly == pytest.approx(sum(i.cost for i in e.items if not i.billed_to))
    return {i.item: round(i.cost, 2) for i in e.items}


def test_storage_is_tiered_for_standard() -> None:
    got = bill(usage(stored_by_class={"STANDARD": 60_000 * GB, "STANDARD_IA": 200 * GB}))
    assert got["storage STANDARD (tier 1)"] == 1177.60  # 51,200 GB x 0.023
    assert got["storage STANDARD (tier 2)"] == 193.60  # 8,800 GB x 0.022
    assert got["storage STANDARD_IA"] == 2.50  # 200 GB x 0.0125


def test_early_deletion_bills_the_rest_of_the_minimum() -> None:
    u = usage(early_deletes=[("STANDARD_IA", 304 * GB, 10.0), ("GLACIER_IR", 10 * GB, 100.0)])
    got = bill(u)
    assert got["early deletion STANDARD_IA"] == 2.50  # 304 GB x 20/30.44 months x 0.0125
    assert "early deletion GLACIER_IR" not in got  # kept past its 90 days


def test_requests_are_scaled_from_the_window_to_a_month() -> None:
    got = bill(usage(put=10_000, list=2_000, get=50_000, head=10_000, window_days=MONTH_DAYS / 2))
    assert got["PUT/LIST requests"] == 0.12  # 12,000 x 2 / 1000 x 0.005
    assert got["GET/HEAD requests"] == 0.05  # 60,000 x 2 / 1000 x 0.0004 = 0.048


def test_retrieval_fees_follow_the_classes_shares() -> None:
    u = usage(
        stored_by_class={"STANDARD": 100 * GB, "STANDARD_IA": 300 * GB},
        bytes_down=1000 * GB,
    )
    got = bill(u, network="gateway-endpoint")
    assert got["retrieval STANDARD_IA"] == 7.50  # 1000 GB x 75 % x 0.01
    assert "retrieval STANDARD" not in got  # no fee


@pytest.mark.parametrize(
    ("network", "azs", "expected"),
    [
        ("gateway-endpoint", 1, {"S3 gateway endpoint (free)": 0.0}),
        # 730 h x 0.045 = 32.85; (1 TB up + 100 GB down) x 0.045 = 1124 x 0.045 = 50.58:
        # about $46 per TB uploaded
        ("nat", 1, {"NAT gateway hours": 32.85, "NAT gateway data processed": 50.58}),
        # 2 AZ x 730 h x 0.01 = 14.60; 1124 GB x 0.01 = 11.24
        (
            "interface-endpoint",
            2,
            {"interface endpoint hours": 14.60, "interface endpoint data processed": 11.24},
        ),
        # uploads free; 100 GB down, all inside the free 100 GB
        ("internet", 1, {"data transfer out (internet)": 0.0}),
        ("inter-region", 1, {"data transfer out (to the hosts' region)": 2.00}),  # 100 x 0.02
    ],
)
def test_each_network_path(network: str, azs: int, expected: dict[str, float]) -> None:
    got = bill(usage(bytes_up=1024 * GB, bytes_down=100 * GB), network=network, azs=azs)
    assert {k: got[k] for k in expected} == expected
    paths = ("NAT", "endpoint", "transfer out")
    assert sum(1 for k in got if any(p in k for p in paths)) == len(expected)


def test_internet_egress_is_tiered_after_the_free_allowance() -> None:
    got = bill(usage(bytes_down=20_000 * GB), network="internet")
    assert got["data transfer out (internet) (tier 1)"] == 921.60  # 10,240 x 0.09
    assert got["data transfer out (internet) (tier 2)"] == 821.10  # (19,900 - 10,240) x 0.085


def test_kms_with_and_without_bucket_keys() -> None:
    u = usage(put=1_000_000, get=1_000_000)
    plain = bill(u, sse_kms=True)
    assert plain["KMS requests (SSE-KMS)"] == 6.00  # 2,000,000 / 10,000 x 0.03
    assert plain["KMS key"] == 1.00
    keyed = bill(u, sse_kms=True, bucket_key=True)
    assert keyed["KMS requests (SSE-KMS)"] == 0.06  # 1 %
    assert "KMS requests (SSE-KMS)" not in bill(u)


def test_replication_monthly_and_its_first_run() -> None:
    u = usage(
        stored_by_class={"STANDARD": 1000 * GB},
        objects_by_class={"STANDARD": 2_000_000},
        put=100_000,
        bytes_up=500 * GB,
    )
    e = estimate(u, PRICES, Pricing(region="r1", replica_region="r2", sse_kms=True))
    got = {i.item: round(i.cost, 2) for i in e.items}
    assert got["replica storage in r2"] == 30.00  # 1000 GB x 0.03
    assert got["replication requests"] == 0.50  # 100,000 / 1000 x 0.005
    assert got["replication transfer to r2"] == 10.00  # 500 GB x 0.02
    assert got["KMS requests (replication)"] == 0.60  # 2 x 100,000 / 10,000 x 0.03
    once = {i.item: round(i.cost, 2) for i in e.one_time}
    assert once == {
        "first replication: batch job": 0.25,
        "first replication: objects": 2.00,  # 2 million x $1
        "first replication: requests": 10.00,  # 2,000,000 / 1000 x 0.005
        "first replication: transfer to r2": 20.00,  # 1000 GB x 0.02
    }
    assert round(e.one_time_total, 2) == 32.25


def test_a_dr_copys_reads_are_billed_to_the_source() -> None:
    u = usage(source={"get": 250_000, "head": 0, "list": 2000, "bytes_down": 50 * GB})
    e = estimate(u, PRICES, Pricing(region="r1"))
    theirs = {i.item: round(i.cost, 2) for i in e.items if i.billed_to}
    assert theirs == {
        "source GET/HEAD requests": 0.10,  # 250,000 / 1000 x 0.0004
        "source PUT/LIST requests": 0.01,  # 2,000 / 1000 x 0.005
        "source data transfer out (to another region)": 1.00,  # 50 GB x 0.02
    }
    assert round(e.other_accounts, 2) == 1.11
    assert e.monthly == pytest.approx(sum(i.cost for i in e.items if not i.billed_to))


def test_the_projection_adds_the_growth() -> None:
    u = usage(growth_bytes_per_day=10 * GB / MONTH_DAYS)  # 10 GB a month
    e = estimate(u, PRICES, Pricing(region="r1", replica_region="r2"), months=12)
    assert e.projection[12] - e.monthly == pytest.approx(12 * 10 * 0.023 * 2)


def test_a_planned_fleet_by_hand() -> None:
    plan = FleetPlan(hosts=10, data_gb=100, daily_change_gb=1, drills_per_month=1)
    e: Estimate = plan_bill(plan, PRICES, Pricing(region="r1", network="nat"))
    got = {i.item: round(i.cost, 2) for i in e.items}
    # stored 10 x (100 + 1 x 30) = 1300 GB; uploads 10 x 1 x 30.44 = 304.4 GB a month, in
    # 16 MiB packs (64 a GB); drills 10 x 10 % of 100 GB = 100 GB read; 304.4 backups, 10 drills
    assert got == {
        "storage STANDARD": 29.90,  # 1300 x 0.023
        # PUT 304.4 x 64 + 304.4 x 4 + 10 x 2 = 20,719.2; LIST 304.4 x 6 + 10 x 7 = 1,896.4
        "PUT/LIST requests": 0.11,  # 22.6156 x 0.005
        # GET 100 x 1024 + 304.4 x 4 = 103,617.6; HEAD = PUT = 20,719.2
        "GET/HEAD requests": 0.05,  # 124.3368 x 0.0004
        "NAT gateway hours": 32.85,
        "NAT gateway data processed": 18.20,  # (304.4 + 100) x 0.045
    }
    assert round(e.monthly, 2) == 81.11
    once = {i.item: round(i.cost, 2) for i in e.one_time}
    # first backups 1000 GB: 64,000 packs + 10 x 4 PUTs
    assert once == {
        "first backup: PUT requests": 0.32,  # 64,040 / 1000 x 0.005
        "first backup: HEAD requests": 0.03,  # 64,040 / 1000 x 0.0004 = 0.0256
        "first backup: NAT gateway data processed": 45.00,  # 1000 GB x 0.045
    }


def test_plan_early_deletion_and_retrieval_of_a_cold_class() -> None:
    plan = FleetPlan(
        hosts=1, data_gb=1000, daily_change_gb=10, retention_days=10, storage_class="STANDARD_IA"
    )
    got = {i.item: round(i.cost, 2) for i in plan_bill(plan, PRICES, Pricing(region="r1")).items}
    assert got["storage STANDARD_IA"] == 13.61  # 1100 GB x 99 % x 0.0125
    assert got["storage STANDARD (trees, index, snapshots)"] == 0.25  # 11 GB x 0.023
    assert got["early deletion STANDARD_IA"] == 2.50  # 304.4 GB x 20/30.44 x 0.0125
    assert got["retrieval STANDARD_IA"] == 1.00  # 100 GB drilled x 0.01


def test_unknown_region_names_the_override_flag() -> None:
    with pytest.raises(UsageError, match=r"no prices for region 'mars-1'.*--prices FILE"):
        estimate(usage(), PRICES, Pricing(region="mars-1"))
    with pytest.raises(UsageError, match="unknown network path"):
        estimate(usage(), PRICES, Pricing(region="r1", network="carrier-pigeon"))
    with pytest.raises(UsageError, match="--hosts"):
        plan_bill(FleetPlan(hosts=0, data_gb=1, daily_change_gb=1), PRICES, Pricing(region="r1"))


COMMERCIAL = {
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "ca-west-1",
    "mx-central-1", "sa-east-1", "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1",
    "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "il-central-1", "me-south-1",
    "me-central-1", "af-south-1", "ap-east-1", "ap-south-1", "ap-south-2", "ap-northeast-1",
    "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
    "ap-southeast-4", "ap-southeast-5", "ap-southeast-7",
}  # fmt: skip


def test_the_shipped_table_is_dated_sourced_and_complete() -> None:
    table = load_prices()
    assert table["as_of"] and "aws.amazon.com" in table["source"]
    assert set(table["regions"]) == COMMERCIAL
    for name in COMMERCIAL:
        u = usage(
            stored_by_class={"STANDARD": 10 * GB, "GLACIER": GB, "DEEP_ARCHIVE": GB},
            bytes_up=GB,
            bytes_down=GB,
        )
        for network in ("nat", "interface-endpoint", "internet", "inter-region"):
            e = estimate(u, table, Pricing(region=name, network=network, sse_kms=True))
            assert e.monthly > 0 and all(i.source for i in e.items)
        region = table["regions"][name]
        assert set(region["storage_gb_month"]) == set(region["put_per_1000"])
        assert region["storage_gb_month"]["STANDARD"] > region["storage_gb_month"]["DEEP_ARCHIVE"]
    nat = estimate(
        usage(bytes_up=1024 * GB), table, Pricing(region="us-east-1", network="nat")
    ).items
    assert {i.item: round(i.cost, 2) for i in nat}["NAT gateway data processed"] == 46.08  # a TB


def test_the_worked_example_of_capacity_md_is_what_plan_says() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "capacity.md").read_text()
    example = text.split("**Worked example.**", 1)[1].split("\n\n(", 1)[0]
    rows = re.findall(
        r"^\| (?:\*\*)?([^|]+?)(?:\*\*)? \|[^|]*\| ([^|]+) \| ([^|]+) \|$", example, re.M
    )
    table = {name: (nat.strip("* "), free.strip("* ")) for name, nat, free in rows[1:]}
    assert "total per month" in table and len(table) == 11
    plan = FleetPlan(hosts=1000, data_gb=1024 / 1000, daily_change_gb=50 / 1000, retention_days=30)
    bills = [
        plan_bill(
            plan, load_prices(), Pricing(region="us-east-1", replica_region="us-west-2", network=n)
        )
        for n in ("nat", "gateway-endpoint")
    ]
    for column, e in enumerate(bills):
        items = {i.item: f"{i.cost:.2f}" for i in e.items}
        for name, figures in table.items():
            want = figures[column]
            if name == "total per month":
                assert want == f"{e.monthly:.2f}"
            elif name.startswith("once"):
                assert want == f"{e.one_time_total:.2f}"
            else:
                assert items.get(name, "—") == want, name
        assert len(items) == sum(1 for f in table.values() if f[column] != "—") - 2
