"""stats, cost and iam-policy (issue 7): figures from the real repository, a cost model checked
against hand-computed bills, least-privilege policies per role."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from s3vault.cloud.cost import GB, Usage, estimate, load_prices
from s3vault.cloud.iam import policy
from s3vault.errors import UsageError
from tests.conftest import RunCli, write_file

PRICES = {
    "as_of": "test",
    "regions": {
        "r1": {
            "storage_gb_month": {"STANDARD": 0.02, "STANDARD_IA": 0.01},
            "put_per_1000": {"STANDARD": 0.005, "STANDARD_IA": 0.01},
            "get_per_1000": {"STANDARD": 0.0004, "STANDARD_IA": 0.001},
            "egress_internet_gb": 0.09,
            "egress_inter_region_gb": 0.02,
            "kms_per_10000": 0.03,
        },
        "r2": {
            "storage_gb_month": {"STANDARD": 0.03, "STANDARD_IA": 0.015},
            "put_per_1000": {"STANDARD": 0.005},
            "get_per_1000": {"STANDARD": 0.0004},
            "egress_internet_gb": 0.09,
            "egress_inter_region_gb": 0.02,
            "kms_per_10000": 0.03,
        },
    },
    "minimum_days": {"STANDARD_IA": 30},
}


def test_cost_matches_a_hand_computed_bill() -> None:
    usage = Usage(
        stored_by_class={"STANDARD": 10 * GB, "STANDARD_IA": 100 * GB},
        objects_by_class={"STANDARD": 40, "STANDARD_IA": 6000},
        early_deletes=[("STANDARD_IA", 3 * GB, 10.0)],  # 20 days short of 30
        put=20_000,
        get=1_000,
        head=1_000,
        list=0,
        bytes_down=5 * GB,
        window_days=30.44,  # one month: no scaling
        growth_bytes_per_day=1 * GB / 30.44,  # 1 GB a month
        data_class="STANDARD_IA",
    )
    e = estimate(usage, PRICES, region="r1", months=12, sse_kms=True, replica_region="r2")
    items = {i.item: round(i.cost, 6) for i in e.items}
    # by hand: 10 GB x 0.02; 100 GB x 0.01; 3 GB x 20/30.44 months x 0.01; 20 x 0.01;
    # 2 x 0.001; 5 GB x 0.09; 21000/10000 x 0.03; 110 GB x 0.015 in r2; 1 GB x 0.02
    assert items == {
        "storage STANDARD": 0.2,
        "storage STANDARD_IA": 1.0,
        "early deletion STANDARD_IA": round(3 * 20 / 30.44 * 0.01, 6),
        "PUT/LIST requests": 0.2,
        "GET/HEAD requests": 0.002,
        "data transfer out (internet)": 0.45,
        "KMS requests (SSE-KMS)": 0.063,
        "replica storage in r2": 1.65,
        "replication transfer": 0.02,
    }
    assert e.monthly == pytest.approx(sum(items.values()), abs=1e-6)
    # each month adds 1 GB, stored twice (here and in the replica) at the data class's price
    assert e.projection[12] - e.monthly == pytest.approx(12 * 1 * 0.01 * 2)
    assert all(i.source for i in e.items)
    half = estimate(
        Usage(stored_by_class={}, objects_by_class={}, put=1000, window_days=15.22),
        PRICES,
        region="r1",
        egress="none",
    )
    assert {i.item: round(i.cost, 6) for i in half.items}["PUT/LIST requests"] == 0.01  # x2
    with pytest.raises(UsageError, match="no prices for region"):
        estimate(usage, PRICES, region="mars-1")


def test_the_shipped_price_table_is_complete() -> None:
    table = load_prices()
    assert table["as_of"] and table["source"]
    for region in table["regions"].values():
        assert set(region["storage_gb_month"]) == set(region["put_per_1000"])
        assert region["storage_gb_month"]["STANDARD"] > region["storage_gb_month"]["DEEP_ARCHIVE"]


def test_stats_and_cost_of_a_real_repository(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    src = tmp_path / "src"
    write_file(src / "a.bin", os.urandom(1 << 20))
    write_file(src / "copy.bin", (src / "a.bin").read_bytes())  # deduplicated
    write_file(src / "text.txt", b"compressible line\n" * 50_000)
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    write_file(src / "b.bin", os.urandom(1 << 20))
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    done = run_cli("-r", cli_repo, "--json", "stats", "--history")
    assert done.code == 0, done.stderr
    s = json.loads(done.stdout)
    restore = (3 << 20) + 18 * 50_000
    assert s["snapshots"] == 2 and s["restore_bytes"] == restore
    assert s["dedup_ratio"] > 1.3  # a.bin stored once for two files
    assert s["compression_ratio"] > 1.2  # the text compresses
    (host,) = s["hosts"]
    assert len(host["history"]) == 2 and host["growth_bytes_per_day"] > 0
    assert s["projection"]["12"] > s["stored_bytes"]
    priced = run_cli("-r", cli_repo, "--json", "cost", "--region", "eu-west-1")
    assert priced.code == 0, priced.stderr
    bill = json.loads(priced.stdout)
    items = {i["item"]: i for i in bill["items"]}
    stored = items["storage STANDARD"]
    assert stored["quantity"] == pytest.approx(s["stored_bytes"] / GB, rel=0.2)
    assert stored["unit_price"] == 0.023 and "listing" in stored["source"]
    assert items["PUT/LIST requests"]["quantity"] > 0  # from the audit log of the backups
    assert "audit log" in items["PUT/LIST requests"]["source"]
    text = run_cli("-r", cli_repo, "cost")
    assert "total" in text.stdout and "prices as of" in text.stdout


def test_iam_policies_are_least_privilege(run_cli: RunCli) -> None:
    backup = policy("backup", "acme", "fleet/web", object_lock=True)
    allowed = {a for st in backup["Statement"] if st["Effect"] == "Allow" for a in st["Action"]}
    assert "s3:PutObject" in allowed and "s3:PutObjectRetention" in allowed
    assert not any("Delete" in a for a in allowed)
    denied = {a for st in backup["Statement"] if st["Effect"] == "Deny" for a in st["Action"]}
    assert {"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"} <= denied
    listing = backup["Statement"][0]
    assert listing["Condition"]["StringLike"]["s3:prefix"] == ["fleet/web", "fleet/web/*"]
    maintenance = policy("maintenance", "acme", "fleet/web", object_lock=True)
    allowed = {a for st in maintenance["Statement"] for a in st["Action"]}
    assert {"s3:DeleteObject", "s3:DeleteObjectVersion"} <= allowed
    assert "s3:BypassGovernanceRetention" not in allowed
    with_kms = policy("maintenance", "acme", "fleet/web", kms_key_arns=("arn:k",))
    kms = next(st for st in with_kms["Statement"] if st["Sid"] == "Kms")
    assert set(kms["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"}
    backup_kms = policy("backup", "acme", "fleet/web", kms_key_arns=("arn:k",))
    assert (
        "kms:Encrypt"
        not in next(st for st in backup_kms["Statement"] if st["Sid"] == "Kms")["Action"]
    )
    auditor = policy("auditor", "acme", "")
    objects = auditor["Statement"][1]
    assert objects["Resource"] == "arn:aws:s3:::acme/*"
    assert set(objects["Action"]) == {"s3:GetObject", "s3:GetObjectRetention"}
    done = run_cli(
        "-r", "s3://acme/fleet", "iam-policy", "--role", "restore-test", "--kms-key", "arn:k"
    )
    assert done.code == 0, done.stderr
    doc = json.loads(done.stdout)
    records = next(st for st in doc["Statement"] if st["Sid"] == "Records")
    assert records["Resource"] == [
        "arn:aws:s3:::acme/fleet/audit/*",
        "arn:aws:s3:::acme/fleet/ledger/*",
        "arn:aws:s3:::acme/fleet/drills/*",
    ]
    assert run_cli("-r", "/tmp/local", "iam-policy", "--role", "backup").code == 2
