"""stats, cost and iam-policy (issue 7): figures from the real repository, least-privilege
policies per role (the cost model's hand-computed bills: tests/cloud/test_cost_bills.py)."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from s3vault.clock import SystemClock
from s3vault.cloud.cost import GB
from s3vault.cloud.iam import policy
from tests.conftest import RunCli, write_file


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
    minutes = json.loads(run_cli("-r", cli_repo, "--json", "stats").stdout)
    # two backups minutes apart: no growth drawn from them (cost projected 107.91 a month
    # for a 12 MiB repository from such a pair: an attack pass, 2026-12-07)
    assert minutes["growth_bytes_per_day"] == 0
    assert minutes["projection"]["12"] == minutes["stored_bytes"]
    earlier = (SystemClock().now() - timedelta(days=2)).isoformat(timespec="seconds")
    assert run_cli("-r", cli_repo, "backup", "--time", earlier, str(src)).code == 0
    done = run_cli("-r", cli_repo, "--json", "stats", "--history")
    assert done.code == 0, done.stderr
    s = json.loads(done.stdout)
    restore = (3 << 20) + 18 * 50_000
    assert s["snapshots"] == 3 and s["restore_bytes"] == restore
    assert s["dedup_ratio"] > 1.3  # a.bin stored once for two files
    assert s["compression_ratio"] > 1.2  # the text compresses
    (host,) = s["hosts"]
    assert len(host["history"]) == 3 and host["growth_bytes_per_day"] > 0  # two days of it
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
    deletes = [st for st in backup["Statement"] if st["Effect"] == "Allow" and "Delete" in str(st)]
    assert [st["Resource"] for st in deletes] == [["arn:aws:s3:::acme/fleet/web/probe/*"]]
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
