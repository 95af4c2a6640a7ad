"""s3vault cost through the real entry point: network paths, --plan, the profile's [cost]
table, and the unhappy paths (unknown region, a bad price file, a plan without its sizes)."""

from __future__ import annotations

import json
import os
from importlib.resources import files
from pathlib import Path

import pytest

from tests.conftest import RunCli, write_file

PLAN = ("cost", "--plan", "--hosts", "10", "--data-per-host", "100G", "--daily-change", "1G")


def _items(stdout: str) -> dict[str, float]:
    bill = json.loads(stdout)
    return {i["item"]: round(i["cost"], 2) for i in bill["items"]}


def test_plan_prices_a_fleet_over_each_network_path(run_cli: RunCli) -> None:
    nat = run_cli("--json", *PLAN, "--network", "nat", "--region", "us-east-1")
    assert nat.code == 0, nat.stderr
    items = _items(nat.stdout)
    assert items["NAT gateway hours"] == 32.85  # 730 h x $0.045
    assert items["NAT gateway data processed"] == 18.20  # (304.4 + 100) GB x $0.045
    bill = json.loads(nat.stdout)
    assert bill["prices_as_of"] and bill["one_time_total"] > 45  # 1000 GB through the NAT
    free = run_cli("--json", *PLAN, "--network", "gateway-endpoint")
    assert round(json.loads(free.stdout)["monthly"], 2) == round(bill["monthly"] - 32.85 - 18.20, 2)
    text = run_cli(*PLAN, "--network", "interface-endpoint", "--azs", "3", "--bucket-key")
    assert text.code == 0, text.stderr
    assert "interface endpoint hours" in text.stdout and "2190.0000" in text.stdout  # 3 x 730
    assert "KMS requests" in text.stdout and "once:" in text.stdout


def test_cost_unhappy_paths_exit_2_with_one_line(run_cli: RunCli, tmp_path: Path) -> None:
    unknown = run_cli(*PLAN, "--region", "mars-1")
    assert unknown.code == 2
    assert "no prices for region 'mars-1'" in unknown.stderr and "--prices FILE" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1
    missing = run_cli("cost", "--plan", "--hosts", "3")
    assert missing.code == 2 and "--data-per-host" in missing.stderr
    size = run_cli(
        "cost", "--plan", "--hosts", "3", "--data-per-host", "lots", "--daily-change", "1"
    )
    assert size.code == 2 and "not a size" in size.stderr
    stray = run_cli("cost", "--hosts", "3")
    assert stray.code == 2 and "add --plan" in stray.stderr
    bad = tmp_path / "prices.json"
    bad.write_text("{not json")
    broken = run_cli(*PLAN, "--prices", str(bad))
    assert broken.code == 2 and "not valid JSON" in broken.stderr
    bad.write_text('{"as_of": "x", "regions": {}}')
    empty = run_cli(*PLAN, "--prices", str(bad), "--region", "eu-west-1")
    assert empty.code == 2 and "--prices FILE" in empty.stderr
    # a word where a price goes, and numbers that are none (an attack pass, 2026-12-07)
    table = json.loads(files("s3vault.cloud.data").joinpath("prices.json").read_text())
    table["regions"]["us-east-1"]["storage_gb_month"]["STANDARD"] = "cheap"
    bad.write_text(json.dumps(table))
    word = run_cli(*PLAN, "--prices", str(bad))
    assert word.code == 2, word.stderr
    assert "us-east-1/storage_gb_month/STANDARD is not a number" in word.stderr
    for flag in ("--dedup-ratio", "--compression-ratio", "--retention-days", "--drill-percent"):
        for value in ("nan", "inf"):
            done = run_cli(*PLAN, flag, value)
            assert done.code == 2 and f"Invalid value for '{flag}'" in done.stderr, (flag, value)
    for argv in (("--days", "nan"), ("--days", "inf")):
        done = run_cli("-r", str(tmp_path / "none"), "cost", *argv)
        assert done.code == 2 and "Invalid value for '--days'" in done.stderr, argv


def test_the_profile_names_the_network_path(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[profiles.fleet.cost]\nnetwork = "nat"\nazs = 2\nregion = "eu-west-1"\n')
    done = run_cli("--config", str(config), "-P", "fleet", "--json", *PLAN)
    assert done.code == 0, done.stderr
    bill = json.loads(done.stdout)
    assert bill["region"] == "eu-west-1"
    assert _items(done.stdout)["NAT gateway hours"] == round(2 * 730 * 0.048, 2)
    flag = run_cli("--config", str(config), "-P", "fleet", "--json", *PLAN, "--network", "internet")
    assert "NAT gateway hours" not in _items(flag.stdout)  # the flag wins
    config.write_text("[profiles.fleet.cost]\nnetwork = 3\n")
    wrong = run_cli("--config", str(config), "-P", "fleet", *PLAN)
    assert wrong.code == 2


def test_cost_of_a_repository_over_a_nat_gateway(
    run_cli: RunCli, cli_repo: str, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write_file(src / "a.bin", os.urandom(1 << 20))
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    done = run_cli("-r", cli_repo, "--json", "cost", "--network", "nat", "--days", "1")
    assert done.code == 0, done.stderr
    bill = json.loads(done.stdout)
    items = {i["item"]: i for i in bill["items"]}
    processed = items["NAT gateway data processed"]
    assert processed["quantity"] > 30 * (1 << 20) / (1 << 30)  # a MiB a day, for a month
    assert "(2 runs, with their audit writes)" in items["PUT/LIST requests"]["source"]
    legacy = run_cli("-r", cli_repo, "--json", "cost", "--egress", "none")  # the old spelling
    assert legacy.code == 0 and "S3 gateway endpoint (free)" in legacy.stdout


def test_a_copy_targets_bill_shows_the_sources_part_apart(
    run_cli: RunCli, cli_repo: str, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    src = tmp_path / "src"
    write_file(src / "a.bin", os.urandom(1 << 20))
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    dr = str(tmp_path / "dr")
    init = ("init", "--kdf-cost", "minimum", "--no-recovery-key")
    assert run_cli("-r", dr, *init).code == 0
    env = {**cli_env, "S3VAULT_TO_PASSWORD": cli_env["S3VAULT_PASSWORD"]}
    assert run_cli("-r", cli_repo, "copy", "--to", dr, env=env).code == 0
    text = run_cli("-r", dr, "cost", "--network", "inter-region", "--days", "1")
    assert text.code == 0, text.stderr
    theirs = text.stdout.split("billed to the source account", 1)[1]
    assert "source GET/HEAD requests" in theirs and "source data transfer out" in theirs
    bill = json.loads(run_cli("-r", dr, "--json", "cost", "--days", "1").stdout)
    source = [i for i in bill["items"] if i["billed_to"] == "source account"]
    read = next(i for i in source if i["item"].startswith("source data transfer"))
    assert read["quantity"] > 30 * (1 << 20) / (1 << 30)  # the MiB copied, for a month
    assert bill["other_accounts"] == pytest.approx(sum(i["cost"] for i in source))
