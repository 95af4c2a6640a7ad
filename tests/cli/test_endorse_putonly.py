"""Dedup across put-only hosts (design.md §6a, issue 20) through the real CLI: a full key's
`verify --read-data` endorses the put-only packs it proved, so another put-only host stores no
blob again that one of them stored; before that proof it stores it itself (dedup poisoning);
prune keeps the endorsement, and an unproven pack prune rewrites is endorsed by the next
read-back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from s3vault import InitOptions, add_put_only_key, init
from tests.conftest import S3VAULT, TEST_SETTINGS, RepoHandle, RunCli, write_file

HOSTS = {"web-01": "web-01 secret", "web-02": "web-02 secret"}
X = os.urandom(30_000)  # content both hosts have
Y = os.urandom(40_000)
Z = os.urandom(25_000)
NOBODY = 65534


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository of format version 2 with a put-only key for each of two hosts (made once)."""
    base = tmp_path_factory.mktemp("endorse")
    handle = RepoHandle(url=str(base / "repo"), cache=base / "cache")
    init(handle.options, InitOptions(settings=replace(TEST_SETTINGS, pack_size=1 << 20)))
    for host, secret in HOSTS.items():
        add_put_only_key(handle.open(), secret.encode(), host=host, kdf_cost="minimum", switch=True)
    return base / "repo"


@pytest.fixture
def fleet(template: Path, tmp_path: Path) -> str:
    """A copy of the template for one test."""
    shutil.copytree(template, tmp_path / "repo")
    return str(tmp_path / "repo")


def _backup(
    run_cli: RunCli, url: str, env: dict[str, str], host: str, src: Path
) -> dict[str, object]:
    done = run_cli(
        "-r", url, "--json", "backup", str(src), "--host", host,
        env={**env, "S3VAULT_PASSWORD": HOSTS[host]},
    )  # fmt: skip
    assert done.code == 0, done.stderr
    summary: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return summary


def _verify(run_cli: RunCli, url: str) -> dict[str, object]:
    done = run_cli("-r", url, "--json", "verify", "--read-data")
    assert done.code == 0, done.stdout + done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    summary: dict[str, object] = next(s for s in lines if s.get("message_type") == "summary")
    return summary


def _restores(run_cli: RunCli, url: str, host: str, src: Path, out: Path) -> None:
    done = run_cli("-r", url, "restore", "latest", "--host", host, "--target", str(out))
    assert done.code == 0, done.stderr
    restored = out / str(src).lstrip("/")
    for path in src.iterdir():
        assert (restored / path.name).read_bytes() == path.read_bytes()


def test_a_put_only_host_deduplicates_against_anothers_blobs_once_a_full_key_proved_them(
    fleet: str, run_cli: RunCli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    a = tmp_path / "a"
    write_file(a / "x", X)
    write_file(a / "y", Y)
    assert _backup(run_cli, fleet, cli_env, "web-01", a)["data_blobs"] == 2
    # not proven yet: web-02 stores X itself (another put-only writer's claim reaches nobody)
    b1 = write_file(tmp_path / "b1" / "x", X).parent
    assert _backup(run_cli, fleet, cli_env, "web-02", b1)["data_blobs"] == 1
    proof = _verify(run_cli, fleet)
    assert proof["endorsed_index_files"] == 2  # web-01's and web-02's index files
    assert proof["packs_proven"] == proof["packs"]
    # proven: web-02 stores nothing of Y, which only web-01 stored
    b2 = write_file(tmp_path / "b2" / "y", Y).parent
    second = _backup(run_cli, fleet, cli_env, "web-02", b2)
    assert second["data_blobs"] == 0
    assert isinstance(second["data_added"], int) and second["data_added"] < len(Y)
    # a second read-back has nothing new to endorse but web-02's last index file
    assert _verify(run_cli, fleet)["endorsed_index_files"] == 1
    _restores(run_cli, fleet, "web-01", a, tmp_path / "out-a")
    _restores(run_cli, fleet, "web-02", b2, tmp_path / "out-b")


def test_prune_keeps_the_endorsement_and_a_pack_it_rewrote_unproven_is_endorsed_later(
    fleet: str, run_cli: RunCli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    a = tmp_path / "a"
    write_file(a / "x", X)
    _backup(run_cli, fleet, cli_env, "web-01", a)
    assert _verify(run_cli, fleet)["endorsed_index_files"] == 1
    write_file(a / "y", Y)  # web-01's second pack: not proven when prune runs
    write_file(a / "z", Z)
    _backup(run_cli, fleet, cli_env, "web-01", a)
    done = run_cli("-r", fleet, "--json", "prune")  # replaces every index file by its own
    assert done.code == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["views_deleted"] == 1  # the endorsed one
    # X's pack kept its endorsement through prune's new index files; Y's is not proven yet
    b1 = tmp_path / "b1"
    write_file(b1 / "x", X)
    write_file(b1 / "y", Y)
    assert _backup(run_cli, fleet, cli_env, "web-02", b1)["data_blobs"] == 1
    # the read-back endorses the index file prune stored without a view for Y's pack
    assert _verify(run_cli, fleet)["endorsed_index_files"] == 2  # and web-02's
    b2 = write_file(tmp_path / "b2" / "z", Z).parent
    assert _backup(run_cli, fleet, cli_env, "web-02", b2)["data_blobs"] == 0
    _restores(run_cli, fleet, "web-02", b2, tmp_path / "out-b2")


def test_a_store_that_refuses_views_leaves_the_read_back_standing_with_one_warning(
    fleet: str, run_cli: RunCli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """A credential that may write ledger files but not views (here: the CLI run as nobody,
    who may write ``ledger/`` only): the read-back passes and is recorded, one warning line
    says the views were not written, and a later read-back with the right endorses them."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv(1) to run the CLI as another user")
    a = write_file(tmp_path / "a" / "x", X).parent
    _backup(run_cli, fleet, cli_env, "web-01", a)
    base = Path(tempfile.mkdtemp(prefix="s3vault-endorse-"))  # nobody must reach it
    try:
        repo = base / "repo"
        shutil.copytree(fleet, repo)
        (repo / "ledger").mkdir(exist_ok=True)
        subprocess.run(["chmod", "-R", "a+rX", str(base)], check=True)
        os.chown(repo / "ledger", NOBODY, NOBODY)
        env = {**cli_env, "HOME": str(base), "XDG_CACHE_HOME": str(base / "cache")}
        done = subprocess.run(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", S3VAULT,
             "-r", str(repo), "--no-cache", "verify", "--read-data"],
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1 and "the endorsed dedup views" in warnings[0], done.stderr
        assert "endorsed" not in done.stdout
        assert not [p for p in (repo / "views").rglob("*") if p.is_file()]
        assert list((repo / "ledger").iterdir())  # the proof is recorded all the same
        assert _verify(run_cli, str(repo))["endorsed_index_files"] == 1
    finally:
        shutil.rmtree(base, ignore_errors=True)
