"""verify --coverage and the verification ledger through the real entry point: what it says,
its JSON and metrics, the refusals, and prune's compaction (killed half-way too)."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

from s3vault.ids import ObjectId
from s3vault.repository import ledger as ledgers
from s3vault.repository.repository import Repository
from tests.cli.test_profiles import metric
from tests.cli.test_repair import open_lib
from tests.cliserver import CliServer, run_s3vault
from tests.conftest import RunCli, write_file


def ledger_files(repo: str) -> list[str]:
    return sorted(p.name for p in Path(repo, "ledger").glob("*"))


def a_backup(tmp_path: Path, run_cli: RunCli, repo: str) -> None:
    src = tmp_path / "src"
    for i in range(40):  # about 5 MB of random data: two data packs of 4 MiB, and a tree pack
        write_file(src / f"d{i % 4}" / f"f{i}", os.urandom(120_000))
    assert run_cli("-r", repo, "backup", str(src)).code == 0


def test_coverage_reads_the_unproven_first_and_says_how_far_behind(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    a_backup(tmp_path, run_cli, cli_repo)
    prom = tmp_path / "s3vault.prom"
    first = run_cli(
        "-r", cli_repo, "--metrics-file", str(prom), "verify", "--coverage", "30d", "--budget", "1K"
    )
    assert first.code == 0, first.stderr
    assert "proven within 30 days; this run proved 1 pack" in first.stdout, first.stdout
    assert "behind:" in first.stdout and "never proven" in first.stdout
    assert "a night keeps every pack proven once per 30 days" in first.stdout
    text = prom.read_text()
    assert 0 < metric(text, "verify_proven_ratio", "verify") < 1
    assert metric(text, "verify_unproven_bytes", "verify") > 0
    done = run_cli("-r", cli_repo, "--json", "verify", "--coverage", "30d", "--budget", "100%")
    assert done.code == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    coverage = summary["coverage"]
    assert coverage["proven_ratio"] == 1.0 and coverage["behind_bytes"] == 0
    assert summary["packs_proven"] == summary["packs_read"] >= 2  # the unproven ones only
    assert coverage["oldest_proof_age_seconds"] >= 0
    assert len(ledger_files(cli_repo)) == 2
    again = run_cli("-r", cli_repo, "verify", "--coverage", "30d")
    assert "coverage: 100.0% of" in again.stdout and "behind" not in again.stdout


def test_coverage_refuses_what_does_not_mix(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    for args, words in (
        (("--budget", "5%"), "--budget goes with --coverage"),
        (("--coverage", "30d", "--read-data"), "does not mix"),
        (("--coverage", "30d", "--budget", "1/7"), "--budget 1/7"),
        (("--coverage", "30m"), "months"),  # m: minutes or months? refused, as for locks
    ):
        done = run_cli("-r", cli_repo, "verify", *args)
        assert done.code == 2 and words in done.stderr, (args, done.stderr)
    assert ledger_files(cli_repo) == []


def test_prune_compacts_the_ledger_and_a_kill_midway_loses_no_proof(
    tmp_path: Path, cli_repo: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    a_backup(tmp_path, run_cli, cli_repo)
    for budget in ("1K", "1K", "100%"):
        assert run_cli("-r", cli_repo, "verify", "--coverage", "30d", "--budget", budget).code == 0
    assert len(ledger_files(cli_repo)) == 3
    env = {**cli_env, "S3VAULT_TEST_CRASH_AT": "ledger-after-compaction"}
    killed = run_cli("-r", cli_repo, "prune", env=env)
    assert killed.code < 0 or killed.code == 137, killed.stderr
    assert len(ledger_files(cli_repo)) == 4  # the compacted file beside the three it replaces
    check = run_cli("-r", cli_repo, "--json", "verify", "--coverage", "30d", "--budget", "1K")
    assert json.loads(check.stdout.splitlines()[-1])["coverage"]["proven_ratio"] == 1.0
    assert run_cli("-r", cli_repo, "unlock").code == 0
    assert run_cli("-r", cli_repo, "prune").code == 0
    assert len(ledger_files(cli_repo)) == 1
    final = run_cli("-r", cli_repo, "--json", "verify", "--coverage", "30d", "--budget", "1K")
    assert json.loads(final.stdout.splitlines()[-1])["coverage"]["proven_ratio"] == 1.0


def test_hosts_proving_at_once_beside_pruners_lose_no_proof(
    tmp_path: Path,
    cli_repo: str,
    cli_env: dict[str, str],
    run_cli: RunCli,
    cli_server: CliServer | None,
) -> None:
    """Four hosts each prove a quarter of the packs at the same time while prunes compact the
    ledger over and over: afterwards every pack is proven (no file was lost or overwritten by
    another host's, none dropped by a compaction that did not read it)."""
    a_backup(tmp_path, run_cli, cli_repo)
    src = tmp_path / "src2"
    for i in range(40):  # more packs: two more data packs
        write_file(src / f"f{i}", os.urandom(120_000))
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    errors: list[str] = []
    pruned: list[int] = []
    done = threading.Event()

    def prover(n: int) -> None:
        env = {**cli_env, "XDG_CACHE_HOME": str(tmp_path / f"cache{n}")}
        p = run_s3vault(
            cli_server, ["-r", cli_repo, "verify", "--read-data-subset", f"{n}/4"], env=env
        )
        if p.returncode != 0:
            errors.append(f"verify {n}/4: {p.returncode} {p.stderr.decode()}")

    def pruner() -> None:
        env = {**cli_env, "XDG_CACHE_HOME": str(tmp_path / "pcache")}
        while not done.is_set():
            p = run_s3vault(cli_server, ["-r", cli_repo, "prune"], env=env)
            pruned.append(p.returncode)
            if p.returncode not in (0, 11):
                errors.append(f"prune: {p.returncode} {p.stderr.decode()}")

    provers = [threading.Thread(target=prover, args=(n,)) for n in range(1, 5)]
    prune = threading.Thread(target=pruner)
    prune.start()
    for t in provers:
        t.start()
    for t in provers:
        t.join()
    done.set()
    prune.join()
    assert not errors, errors
    assert 0 in pruned  # a compaction ran beside the provers
    repo = open_lib(cli_repo)
    assert set(ledgers.load(repo).proofs) == set(repo.list_packs())


def data_packs(repo: Repository) -> set[ObjectId]:
    return {p for p, info in repo.list_packs().items() if info.name.startswith("data/")}


def test_a_full_drill_that_passes_proves_the_packs_it_read_whole(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """restore-test of the whole snapshot opens every blob of it: with one snapshot every pack
    holds only its blobs, so every pack is proven, tree packs only when the drill read them
    from the store: on the backup host (its tree-pack cache warm since the backup) only the
    data packs; with an empty cache every pack. A sampled drill proves no pack whole."""
    a_backup(tmp_path, run_cli, cli_repo)
    sampled = run_cli("-r", cli_repo, "restore-test", "--sample", "3", "--no-disk")
    assert sampled.code == 0, sampled.stderr
    assert ledger_files(cli_repo) == []
    warm = run_cli("-r", cli_repo, "restore-test", "--no-disk")
    assert warm.code == 0, warm.stderr
    repo = open_lib(cli_repo)
    assert set(ledgers.load(repo).proofs) == data_packs(repo) != set(repo.list_packs())
    empty = tmp_path / "empty-cache"
    drill = run_cli("-r", cli_repo, "--cache-dir", str(empty), "restore-test", "--no-disk")
    assert drill.code == 0, drill.stderr
    proofs = ledgers.load(repo).proofs
    assert set(proofs) == set(repo.list_packs())
    assert {p.host for p in proofs.values()} == {socket.gethostname()}
    src = tmp_path / "more"  # a second snapshot: the packs of the first stay proven,
    write_file(src / "new.bin", os.urandom(50_000))  # the new ones are not
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    again = run_cli("-r", cli_repo, "--json", "verify", "--coverage", "30d", "--budget", "1")
    coverage = json.loads(again.stdout.splitlines()[-1])["coverage"]
    assert 0 < coverage["never_proven_bytes"] < coverage["total_bytes"]


def test_a_full_restore_with_verify_proves_the_packs_a_partial_one_does_not(
    tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """A partial restore --verify proves nothing; a full one on the backup host (warm tree-pack
    cache) the data packs; with --no-cache (every tree read from the store) every pack."""
    a_backup(tmp_path, run_cli, cli_repo)
    part = run_cli(
        "-r", cli_repo, "restore", "latest", "-t", str(tmp_path / "p"), "--verify",
        "--include", "*/d1/*",
    )  # fmt: skip
    assert part.code == 0, part.stderr
    assert ledger_files(cli_repo) == []
    full = run_cli("-r", cli_repo, "restore", "latest", "-t", str(tmp_path / "f"), "--verify")
    assert full.code == 0, full.stderr
    repo = open_lib(cli_repo)
    assert set(ledgers.load(repo).proofs) == data_packs(repo) != set(repo.list_packs())
    cold = run_cli(
        "-r", cli_repo, "--no-cache", "restore", "latest", "-t", str(tmp_path / "c"), "--verify"
    )
    assert cold.code == 0, cold.stderr
    assert set(ledgers.load(repo).proofs) == set(repo.list_packs())
