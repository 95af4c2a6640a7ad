"""s3vault verify with a put-only key (design.md §6a, "`verify` with a put-only key") through
the real CLI: the structure checks of what a backup host may see, reading no pack and writing
nothing; damage named, reading the data refused with exit 12; and the host's metrics (verify's
and backup's) in the Prometheus textfile."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

import pytest

from s3vault import (
    RepoOptions,
    VerifyOptions,
    compression,
    open_put_only_repository,
    verify_put_only,
)
from s3vault.backend.base import Backend, ObjectInfo
from s3vault.crypto import aead
from s3vault.format.envelope import HEADER_SIZE, EnvelopeHeader
from s3vault.repository import views
from tests.cliserver import CliServer, run_s3vault
from tests.conftest import PASSWORD, RunCli, write_file

HOST_PASSWORD = "web-01 secret"


def _host(env: dict[str, str]) -> dict[str, str]:
    return {**env, "S3VAULT_PASSWORD": HOST_PASSWORD}


@dataclass(frozen=True)
class Fleet:
    root: Path  # the repository
    full_packs: tuple[str, ...]  # the full key's packs, which its endorsed view names


@pytest.fixture(scope="module")
def fleet_template(tmp_path_factory: pytest.TempPathFactory, cli_server: CliServer | None) -> Fleet:
    """Built once per module (four commands), copied for each test: a full-key backup (its
    packs named by an endorsed view), a put-only key for host web-01, one backup by that host."""
    base = tmp_path_factory.mktemp("fleet")
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3VAULT_")}
    env.update(S3VAULT_PASSWORD=PASSWORD, XDG_CACHE_HOME=str(base / "cache"))

    def run(*argv: str, password: str = PASSWORD) -> None:
        argv = ("-r", str(base / "repo"), *argv)
        done = run_s3vault(cli_server, list(argv), env={**env, "S3VAULT_PASSWORD": password})
        assert done.returncode == 0, done.stderr.decode()

    run("init", "--kdf-cost", "minimum", "--pack-size", "1", "--no-recovery-key")
    write_file(base / "etc" / "a", os.urandom(300_000))
    run("backup", str(base / "etc"))
    full = tuple(_packs(base / "repo"))
    pw = write_file(base / "host-pw", f"{HOST_PASSWORD}\n".encode())
    run(
        "key", "add", "--put-only", "--host", "web-01", "--switch-format",
        "--kdf-cost", "minimum", "--new-password-file", str(pw),
    )  # fmt: skip
    write_file(base / "src" / "b", os.urandom(200_000))
    run("backup", str(base / "src"), "--host", "web-01", password=HOST_PASSWORD)
    return Fleet(root=base / "repo", full_packs=full)


@pytest.fixture
def fleet(fleet_template: Fleet, tmp_path: Path) -> Fleet:
    """A copy of the module's repository, for one test to damage."""
    root = tmp_path / "repo"
    shutil.copytree(fleet_template.root, root)
    return replace(fleet_template, root=root)


def _packs(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root)) for p in root.glob("*/*/*") if p.parts[-3] in ("data", "tree")
    )


def _store(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _summary(stdout: str) -> dict[str, object]:
    line: dict[str, object] = json.loads(stdout.splitlines()[-1])
    assert line["message_type"] == "summary"
    return line


def test_verify_with_a_put_only_key_checks_what_it_sees_and_writes_nothing(
    fleet: Fleet, run_cli: RunCli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    root = fleet.root
    before = _store(root)
    metrics = tmp_path / "host.prom"
    done = run_cli("-r", str(root), "--metrics-file", str(metrics), "verify", env=_host(cli_env))
    assert done.code == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("put-only structure check (host web-01)")
    for check in ("config:", "views:", "packs:", "state:", "audit:"):
        assert any(line.startswith(check) for line in lines), (check, done.stdout)
    assert "views: 1 endorsed view of 2 listed index files opens and is signed" in done.stdout
    assert "state: this key's newest state opens and names snapshot" in done.stdout
    assert "audit: host web-01's chain has 1 record, numbered without a gap" in done.stdout
    assert sum(line.startswith("not checked: ") for line in lines) == 4
    assert "no ledger file written" in done.stdout
    assert lines[-1] == "no errors were found"
    text = metrics.read_text()
    assert re.search(r's3vault_verify_problems\{command="verify"[^}]*\} 0\.0', text), text
    assert re.search(r's3vault_exit_code\{command="verify"[^}]*\} 0\.0', text), text
    js = run_cli("-r", str(root), "--json", "verify", env=_host(cli_env))
    assert js.code == 0, js.stderr
    summary = _summary(js.stdout)
    assert (summary["ok"], summary["access"], summary["host"]) == (True, "put-only", "web-01")
    assert (summary["index_files"], summary["views"], summary["packs_read"]) == (2, 1, 0)
    assert summary["ledger_file"] is None and summary["audit_records"] == 1
    requests = summary["requests"]
    assert isinstance(requests, dict) and isinstance(summary["pack_bytes"], int)
    assert (requests["put"], requests["delete"]) == (0, 0)
    assert summary["pack_bytes"] > 300_000 > requests["bytes_down"]  # listed, never read
    checks = summary["checks"]
    assert isinstance(checks, list)
    assert [c["name"] for c in checks] == [
        "config",
        "views",
        "packs",
        "state",
        "own-packs",
        "audit",
    ]
    assert all(c["ok"] for c in checks)
    assert _store(root) == before  # no ledger, audit record or anything else written


def test_verify_with_a_put_only_key_names_a_missing_and_a_truncated_pack(
    fleet: Fleet, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    root = fleet.root
    named = sorted(fleet.full_packs)  # the full key's: its endorsed view names them
    assert len(named) == 2 and len(_packs(root)) == 4, _packs(root)  # and the host's two
    gone, short = root / named[0], root / named[1]
    gone.unlink()
    short.write_bytes(short.read_bytes()[:-10])
    before = _store(root)
    done = run_cli("-r", str(root), "verify", env=_host(cli_env))
    assert done.code == 13, done.stdout + done.stderr
    rel_gone = str(gone.relative_to(root))
    rel_short = str(short.relative_to(root))
    assert f"error: {rel_gone}: pack is missing" in done.stderr
    assert f"error: {rel_short}: pack has" in done.stderr
    assert "2 errors: repository damaged" in done.stdout
    js = run_cli("-r", str(root), "--json", "verify", env=_host(cli_env))
    assert js.code == 13
    found = [json.loads(line) for line in js.stdout.splitlines()]
    damaged = {f["object"] for f in found if f.get("kind") == "pack-damaged"}
    assert damaged == {rel_gone, rel_short}
    assert _store(root) == before


def test_verify_with_a_put_only_key_reports_forged_undecryptable_and_leftover_views(
    fleet: Fleet, run_cli: RunCli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    root = fleet.root
    (view,) = (root / "views").iterdir()
    put = open_put_only_repository(
        RepoOptions(url=str(root), password=HOST_PASSWORD.encode(), cache_dir=tmp_path / "c")
    )
    sealed = view.read_bytes()
    header = EnvelopeHeader.decode(sealed)
    key = put.payload.epochs[header.epoch].view
    aad = sealed[:HEADER_SIZE] + bytes(put.id) + views.ENDORSED
    plain = compression.decompress(aead.open_(key, header.nonce, sealed[HEADER_SIZE:], aad))
    # what a put-only host could do with V_e: a view of its own making, without σ's signature
    forged = plain[:-64] + bytes(64)
    body = compression.compress(forged, 3)
    view.write_bytes(sealed[:HEADER_SIZE] + aead.seal(key, header.nonce, body, aad))
    index_ids = sorted(p.name for p in (root / "index").iterdir())
    other = next(i for i in index_ids if i != view.name)
    (root / "views" / other).write_bytes(b"not a view")  # the host's own index file's name
    leftover = root / "views" / ("ab" * 32)
    leftover.write_bytes(sealed)  # a view of an index file that is not listed
    before = _store(root)
    done = run_cli("-r", str(root), "--json", "verify", env=_host(cli_env))
    assert done.code == 13, done.stdout + done.stderr
    found = {
        f["object"]: f for line in done.stdout.splitlines() if (f := json.loads(line)).get("kind")
    }
    assert found[f"views/{view.name}"]["kind"] == "view-damaged"
    assert "not signed by this repository" in found[f"views/{view.name}"]["message"]
    assert found[f"views/{other}"]["kind"] == "view-damaged"
    assert found[f"views/{leftover.name}"]["severity"] == "info"
    assert found[f"views/{leftover.name}"]["kind"] == "view-leftover"
    assert _summary(done.stdout)["errors"] == 2
    assert _store(root) == before


def test_verify_with_a_put_only_key_passes_over_names_nested_below_index_and_views(
    fleet: Fleet, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    """``index/sub/<id>`` and ``views/sub/<id>`` (strays, or another repository's) were a
    listed index file and a damaged view of it: exit 13 on an intact repository (an attack
    pass, 2026-12-07)."""
    stray = "cd" + "0" * 62
    write_file(fleet.root / "index" / "sub" / stray, b"stray\n")
    write_file(fleet.root / "views" / "sub" / stray, b"stray\n")
    done = run_cli("-r", str(fleet.root), "verify", env=_host(cli_env))
    assert done.code == 0, done.stdout + done.stderr
    assert "views: 1 endorsed view of 2 listed index files opens and is signed" in done.stdout


def test_verify_with_a_put_only_key_refuses_to_read_the_data(
    fleet: Fleet, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    root = fleet.root
    before = _store(root)
    for flags in (("--read-data",), ("--read-data-subset", "1/3"), ("--coverage", "30d")):
        done = run_cli("-r", str(root), "verify", *flags, env=_host(cli_env))
        assert done.code == 12, (flags, done.stdout + done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert f"verify {flags[0]} reads the data" in done.stderr
        assert "this needs a full key (a password, recovery or KMS key)" in done.stderr
        assert done.stdout == ""
    assert _store(root) == before


def test_verify_with_a_put_only_key_names_a_gap_in_its_audit_chain(
    fleet: Fleet, run_cli: RunCli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    root = fleet.root
    host = _host(cli_env)
    write_file(tmp_path / "src" / "b", os.urandom(1000))
    again = ("-r", str(root), "backup", str(tmp_path / "src"), "--host", "web-01")
    assert run_cli(*again, env=host).code == 0  # records 1 (the fixture's backup) and 2
    (tag,) = (p.name for p in (root / "state").iterdir())  # the host's tag: its state's
    (first,) = (root / "audit" / tag).glob("0000000001-*")
    first.unlink()
    done = run_cli("-r", str(root), "verify", env=host)
    assert done.code == 13, done.stdout + done.stderr
    assert "host web-01's audit chain: record(s) 1 missing (deleted)" in done.stderr


def test_verify_with_a_put_only_key_a_forgotten_snapshot_is_no_damage(
    fleet: Fleet, run_cli: RunCli, cli_env: dict[str, str]
) -> None:
    """A full key forgot the host's snapshot (its file gone): the host's state names it, so the
    next backup reads every file again; verify says so in an information line, exit 0."""
    root = fleet.root
    (mine,) = (p for p in (root / "snapshots").iterdir() if "." not in p.name)  # untagged: §6a
    mine.unlink()
    done = run_cli("-r", str(root), "verify", env=_host(cli_env))
    assert done.code == 0, done.stdout + done.stderr
    assert "state: none of this key's names a stored snapshot" in done.stdout
    assert "info: state/" in done.stdout and ": state passed over: " in done.stdout


def test_put_only_backup_reports_its_metrics(
    fleet: Fleet, run_cli: RunCli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    root = fleet.root
    write_file(tmp_path / "src" / "b", os.urandom(200_000))
    write_file(tmp_path / "src" / "c", os.urandom(50_000))
    metrics = tmp_path / "host.prom"
    argv = ("-r", str(root), "--metrics-file", str(metrics), "--json", "backup")
    done = run_cli(*argv, str(tmp_path / "src"), "--host", "web-01", env=_host(cli_env))
    assert done.code == 0, done.stderr
    summary = _summary(done.stdout)
    text = metrics.read_text()
    for name, value in (
        ("files_processed", 2),
        ("bytes_processed", 250_000),
        ("bytes_added", summary["data_added"]),
        ("errors", 0),
    ):
        pattern = rf's3vault_{name}\{{command="backup"[^}}]*\}} {value}\.0'
        assert re.search(pattern, text), (name, text)


class _PruneMeanwhile:
    """A store in which a prune removes an index file and its packs just as verify lists the
    packs (after it opened the index file's view)."""

    def __init__(self, inner: Backend, root: Path, index_id: str, packs: tuple[str, ...]) -> None:
        self._inner, self._root, self._index, self._packs = inner, root, index_id, packs
        self.pruned = False

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        if prefix == "data/" and not self.pruned:
            self.pruned = True
            (self._root / "index" / self._index).unlink()
            for name in self._packs:
                (self._root / name).unlink()
        return self._inner.list(prefix)

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


def test_verify_put_only_does_not_count_a_view_whose_index_file_a_prune_removed_meanwhile(
    fleet: Fleet, tmp_path: Path
) -> None:
    """The library call (as the CLI makes it): the index file is listed when its view is read,
    gone with its packs when the packs are listed; a view naming deleted packs is no damage once
    its index file is gone."""
    root = fleet.root
    put = open_put_only_repository(
        RepoOptions(url=str(root), password=HOST_PASSWORD.encode(), cache_dir=tmp_path / "c")
    )
    (view,) = (root / "views").iterdir()
    store = _PruneMeanwhile(put.backend, root, view.name, fleet.full_packs)
    result = verify_put_only(replace(put, backend=cast("Backend", store)), VerifyOptions())
    assert store.pruned
    assert result.ok, result.findings
    assert (result.views, result.packs) == (0, 0)
    assert [c.name for c in result.checks] == [
        "config",
        "views",
        "packs",
        "state",
        "own-packs",
        "audit",
    ]
