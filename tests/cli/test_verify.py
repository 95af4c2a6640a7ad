"""verify, repair index and restore-test through the real entry point."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import RunCli, write_file
from tests.trees import snapshot_tree


@pytest.fixture
def filled(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> Path:
    src = tmp_path / "src"
    for i in range(6):
        write_file(src / f"big{i}.bin", os.urandom(1_500_000))
    for i in range(20):
        write_file(src / "small" / f"s{i}.txt", f"small file {i}\n".encode() * 100)
    assert run_cli("-r", cli_repo, "backup", str(src)).code == 0
    return src


def lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(x) for x in stdout.splitlines()]


def data_packs(repo: str) -> list[Path]:
    return sorted(p for p in Path(repo, "data").rglob("*") if p.is_file())


def corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))


def test_verify_clean_then_damaged(filled: Path, cli_repo: str, run_cli: RunCli) -> None:
    assert run_cli("-r", cli_repo, "verify").code == 0
    clean = run_cli("-r", cli_repo, "verify", "--read-data", "--json")
    assert clean.code == 0
    assert lines(clean.stdout)[-1]["ok"] is True
    victim = data_packs(cli_repo)[0]
    corrupt(victim)
    assert run_cli("-r", cli_repo, "verify").code == 0  # same size: only read-data can tell
    done = run_cli("-r", cli_repo, "verify", "--read-data", "--json")
    assert done.code == 13
    findings = [x for x in lines(done.stdout) if x["message_type"] == "finding"]
    (finding,) = [f for f in findings if f["severity"] == "error"]
    assert finding["object"] == victim.relative_to(cli_repo).as_posix()
    assert finding["snapshots"] and finding["paths"]
    assert all(str(p).startswith(str(filled)) for p in finding["paths"])


def test_verify_reads_tree_packs_from_the_store_not_the_hosts_cache(
    filled: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """The backup left its tree packs in this host's cache; the store's copy is then damaged
    (same size). verify (structure only: every tree loads) must load the store's: the
    cache's good copy passed it (exit 0), where restic's check fails."""
    (victim,) = sorted(p for p in Path(cli_repo, "tree").rglob("*") if p.is_file())
    sound = run_cli("-r", cli_repo, "verify", "--json")
    assert sound.code == 0, sound.stderr
    whole = lines(sound.stdout)[-1]["requests"]["bytes_down"]  # the tree pack once, and more
    data = bytearray(victim.read_bytes())
    data[100:104] = bytes(b ^ 0xFF for b in data[100:104])  # inside the first tree blob
    victim.write_bytes(bytes(data))
    for _ in range(2):  # and the damaged copy did not replace the cache's good one
        done = run_cli("-r", cli_repo, "verify", "--json")
        assert done.code == 13, done.stderr
        findings = [x for x in lines(done.stdout) if x["message_type"] == "finding"]
        assert any(
            f["severity"] == "error" and victim.name[:8] in json.dumps(f) for f in findings
        ), findings
        # downloaded whole once, its trees by range after (it was once per tree: an attack
        # pass counted 2,011 downloads of one 686 KB pack, 1.37 GB)
        got = lines(done.stdout)[-1]["requests"]["bytes_down"]
        assert got <= whole + 2 * victim.stat().st_size, (got, whole, victim.stat().st_size)
    listed = run_cli("-r", cli_repo, "ls", "latest")  # other commands keep the good copy
    assert listed.code == 0, listed.stderr
    # without that copy a directory is lost, and said as one (it was "1 file not restored")
    lost = run_cli("-r", cli_repo, "--no-cache", "restore", "latest", "-t", str(filled) + "-r")
    assert lost.code == 13, lost.stderr
    assert "(and all in it) not restored" in lost.stderr, lost.stderr


def test_verify_finds_a_tree_pack_gone_from_the_store_while_the_cache_holds_it(
    filled: Path, cli_repo: str, run_cli: RunCli
) -> None:
    """The store lost its tree pack; the backup host's cache still has it. verify names the
    pack and the paths it costs (exit 13); ls goes on from the cache."""
    (victim,) = sorted(p for p in Path(cli_repo, "tree").rglob("*") if p.is_file())
    victim.unlink()
    done = run_cli("-r", cli_repo, "verify", "--json")
    assert done.code == 13, done.stderr
    findings = [x for x in lines(done.stdout) if x["message_type"] == "finding"]
    assert any(f["object"] == victim.relative_to(cli_repo).as_posix() for f in findings), findings
    assert run_cli("-r", cli_repo, "ls", "latest").code == 0


def test_read_data_subsets_cover_every_pack(filled: Path, cli_repo: str, run_cli: RunCli) -> None:
    total = None
    read = 0
    for n in (1, 2, 3):
        done = run_cli("-r", cli_repo, "verify", "--read-data-subset", f"{n}/3", "--json")
        assert done.code == 0, done.stderr
        summary = lines(done.stdout)[-1]
        total = summary["packs"]
        read += int(summary["packs_read"])
    assert read == total


def test_restore_after_pack_damage_keeps_the_rest(
    filled: Path, tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    victim = data_packs(cli_repo)[0]
    corrupt(victim)
    verdict = run_cli("-r", cli_repo, "verify", "--read-data", "--json")
    lost = {p for f in lines(verdict.stdout) if f["message_type"] == "finding" for p in f["paths"]}  # type: ignore[attr-defined]
    assert lost
    target = tmp_path / "t"
    done = run_cli("-r", cli_repo, "restore", "latest", "-t", str(target), "--json")
    assert done.code == 13
    failed = {x["item"] for x in lines(done.stdout) if x["message_type"] == "error"}
    restored_root = target / str(filled).lstrip("/")
    assert failed == lost  # the same paths as verify's findings name
    before = snapshot_tree(filled)
    after = snapshot_tree(restored_root)
    for rel, entry in before.items():
        if str(filled / os.fsdecode(rel)) not in lost:
            assert after.get(rel) == entry, rel


def test_repair_index_after_losing_every_index(
    filled: Path, tmp_path: Path, cli_repo: str, run_cli: RunCli
) -> None:
    before = sorted(p.relative_to(cli_repo) for p in Path(cli_repo).rglob("*") if p.is_file())
    nothing = run_cli("-r", cli_repo, "repair", "index", "--json")
    assert nothing.code == 0
    assert lines(nothing.stdout)[-1]["changed"] is False
    assert (
        sorted(p.relative_to(cli_repo) for p in Path(cli_repo).rglob("*") if p.is_file()) == before
    )
    for index in Path(cli_repo, "index").iterdir():
        index.unlink()
    assert run_cli("-r", cli_repo, "--no-cache", "verify").code == 13
    fixed = run_cli("-r", cli_repo, "repair", "index")
    assert fixed.code == 0, fixed.stderr
    assert "rebuilt the index" in fixed.stdout
    assert run_cli("-r", cli_repo, "--no-cache", "verify", "--read-data").code == 0
    target = tmp_path / "t"
    assert run_cli("-r", cli_repo, "--no-cache", "restore", "latest", "-t", str(target)).code == 0
    assert snapshot_tree(target / str(filled).lstrip("/")) == snapshot_tree(filled)


def test_restore_test_passes_fails_and_records(
    filled: Path, cli_repo: str, run_cli: RunCli
) -> None:
    ok = run_cli("-r", cli_repo, "restore-test", "--json", "--rto-target", "1h")
    assert ok.code == 0, ok.stderr
    summary = lines(ok.stdout)[-1]
    assert summary["passed"] is True
    assert summary["files_checked"] == 26
    assert summary["projected_rto_seconds"] >= 0
    sample = run_cli(
        "-r", cli_repo, "restore-test", "--no-disk", "--sample", "5", "--seed", "7", "--json"
    )
    assert sample.code == 0
    assert lines(sample.stdout)[-1]["files_checked"] == 5
    slow = run_cli("-r", cli_repo, "restore-test", "--rto-target", "0.000001s", "--no-disk")
    assert slow.code == 13
    assert "FAIL" in slow.stdout
    corrupt(data_packs(cli_repo)[0])
    bad = run_cli("-r", cli_repo, "restore-test", "--json")
    assert bad.code == 13
    mismatches = [x for x in lines(bad.stdout) if x["message_type"] == "mismatch"]
    assert mismatches and all(str(filled) in str(m["item"]) for m in mismatches)
    # data that cannot be read is an error, on disk and streamed alike, and said so (every
    # line said "mismatch", and a streamed drill counted it as one: an attack pass)
    streamed = run_cli("-r", cli_repo, "restore-test", "--no-disk", "--json")
    for done in (bad, streamed):
        failures = [x for x in lines(done.stdout) if x["message_type"] == "mismatch"]
        summary = lines(done.stdout)[-1]
        assert {f["kind"] for f in failures} == {"error"}, failures
        assert (summary["errors"], summary["mismatches"]) == (len(failures), 0)
    text = run_cli("-r", cli_repo, "--no-cache", "restore-test", "--no-record")
    said = [line for line in text.stderr.splitlines() if line.startswith(("error: ", "mismatch: "))]
    assert said and all(line.startswith("error: ") for line in said), text.stderr
    history = run_cli("-r", cli_repo, "restore-test", "--history", "--json")
    drills = lines(history.stdout)
    assert [d["passed"] for d in drills] == [True, True, False, False, False]


def test_restore_test_of_one_hosts_latest(tmp_path: Path, cli_repo: str, run_cli: RunCli) -> None:
    made = {}
    for host in ("web1", "db1"):  # db1 backs up last
        write_file(tmp_path / host / "f.txt", host.encode())
        done = run_cli("-r", cli_repo, "backup", "--host", host, str(tmp_path / host), "--json")
        made[host] = json.loads(done.stdout.splitlines()[-1])["snapshot_id"]
    for host, args in (("web1", ("--host", "web1")), ("db1", ())):
        drill = run_cli("-r", cli_repo, "restore-test", *args, "--json")
        assert drill.code == 0, drill.stderr
        assert lines(drill.stdout)[-1]["snapshot"] == made[host]
    none = run_cli("-r", cli_repo, "restore-test", "--host", "mail1")
    assert none.code == 2 and "mail1" in none.stderr
