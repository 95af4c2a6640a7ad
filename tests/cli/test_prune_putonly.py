"""prune with put-only writers (design.md §6a) through the real CLI: it removes the dedup views
of the index files it removed and each host's older states (never the newest, never one
younger than the grace), a host backs up incrementally after a prune and after its snapshots
were forgotten, a full key restores what it wrote, and kills between prune's put-side steps
leave a repository that verifies and that the next prune finishes tidying."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.cli.test_s3 import s3_env
from tests.conftest import RunCli, write_file
from tests.timetravel import TimeTravel


def _names(url: str, prefix: str) -> set[str]:
    root = Path(url) / prefix
    return {p.name for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _age_states(url: str, seconds: float) -> None:
    """Make the host states look ``seconds`` older to the local store's clock (their content
    holds no time; the packs and deletion records, which do, are left alone)."""
    for p in (Path(url) / "state").rglob("*"):
        if p.is_file():
            st = p.stat()
            os.utime(p, (st.st_atime - seconds, st.st_mtime - seconds))


def _index_ids(url: str) -> set[str]:
    return {n.partition(".")[0] for n in _names(url, "index")}


def _backup(run_cli: RunCli, url: str, src: Path, env: dict[str, str]) -> dict[str, object]:
    done = run_cli("-r", url, "--json", "backup", str(src), "--host", "web-01", env=env)
    assert done.code == 0, done.stderr
    line: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return line


@pytest.fixture
def fleet(tmp_path: Path, run_cli: RunCli, cli_env: dict[str, str]) -> tuple[str, dict[str, str]]:
    """A repository (grace 1 s) with a full-key backup (its index file has a view) and a
    put-only key for web-01."""
    url = str(tmp_path / "repo")
    init = ("init", "--kdf-cost", "minimum", "--pack-size", "1", "--no-recovery-key")
    assert run_cli("-r", url, *init, "--min-grace", "1s").code == 0
    write_file(tmp_path / "etc" / "hosts", b"127.0.0.1 localhost\n")
    assert run_cli("-r", url, "backup", str(tmp_path / "etc")).code == 0
    pw = write_file(tmp_path / "host-pw", b"web-01 secret\n")
    done = run_cli(
        "-r", url, "key", "add", "--put-only", "--host", "web-01", "--switch-format",
        "--kdf-cost", "minimum", "--new-password-file", str(pw),
    )  # fmt: skip
    assert done.code == 0, done.stderr
    return url, {**cli_env, "S3VAULT_PASSWORD": "web-01 secret"}


def _restores(run_cli: RunCli, url: str, src: Path, out: Path) -> None:
    done = run_cli("-r", url, "restore", "latest", "--target", str(out))
    assert done.code == 0, done.stderr
    restored = out / str(src).lstrip("/")
    got = {p.name: p.read_bytes() for p in restored.iterdir()}
    assert got == {p.name: p.read_bytes() for p in src.iterdir()}
    check = run_cli("-r", url, "verify", "--read-data")
    assert check.code == 0, check.stdout + check.stderr


def test_prune_removes_old_views_and_states_and_the_host_goes_on(
    fleet: tuple[str, dict[str, str]], run_cli: RunCli, tmp_path: Path
) -> None:
    url, host = fleet
    src = tmp_path / "src"
    write_file(src / "a", os.urandom(200_000))
    write_file(src / "b", os.urandom(200_000))
    _backup(run_cli, url, src, host)
    write_file(src / "b", os.urandom(200_000))
    _backup(run_cli, url, src, host)
    assert len(_names(url, "state")) == 2
    # a grace longer than the states' age: the older state stays (a host may be mid-backup)
    done = run_cli("-r", url, "--json", "prune", "--grace", "1h")
    assert done.code == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["states_deleted"] == 0
    assert len(_names(url, "state")) == 2
    assert len(_names(url, "views")) == 1
    _age_states(url, 2)
    dry = run_cli("-r", url, "--json", "prune", "--max-unused", "0%", "--dry-run")
    assert dry.code == 0, dry.stderr
    assert json.loads(dry.stdout.splitlines()[-1])["states_deleted"] == 1
    assert len(_names(url, "state")) == 2  # a dry run removes nothing
    done = run_cli("-r", url, "--json", "prune", "--max-unused", "0%")
    assert done.code == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert (summary["states_deleted"], summary["views_deleted"]) == (1, 1)
    assert len(_names(url, "state")) == 1
    # every view's index file is listed (one of put-only packs no read-back proved has none)
    assert _names(url, "views") <= _index_ids(url)
    # the host's newest state still serves: nothing unchanged is read or stored again
    again = _backup(run_cli, url, src, host)
    assert (again["files_unmodified"], again["data_blobs"]) == (2, 0)
    _restores(run_cli, url, src, tmp_path / "out1")


def test_a_host_whose_snapshots_were_forgotten_and_pruned_backs_up_whole_again(
    s3_bucket: str,
    s3_server: str,
    run_cli: RunCli,
    cli_env: dict[str, str],
    time_travel: TimeTravel,
    tmp_path: Path,
) -> None:
    """The host's state names blobs that only its snapshot keeps alive: once a full key
    forgot that snapshot and prune deleted its packs, the host trusts the state no more and
    stores everything again; nothing it references is gone."""
    env = s3_env(cli_env, s3_server)
    repo = ("-r", f"s3://{s3_bucket}/fleet")
    init = ("init", "--kdf-cost", "minimum", "--no-recovery-key", "--min-grace", "1s")
    assert run_cli(*repo, *init, env=env).code == 0
    pw = write_file(tmp_path / "host-pw", b"web-01 secret\n")
    add = ("key", "add", "--put-only", "--host", "web-01", "--switch-format")
    done = run_cli(*repo, *add, "--kdf-cost", "minimum", "--new-password-file", str(pw), env=env)
    assert done.code == 0, done.stderr
    host = {**env, "S3VAULT_PASSWORD": "web-01 secret"}
    src = tmp_path / "src"
    write_file(src / "a", os.urandom(300_000))
    write_file(src / "b", b"beta\n" * 10_000)
    backup = (*repo, "--json", "backup", str(src), "--host", "web-01")
    assert run_cli(*backup, env=host).code == 0
    listed = json.loads(run_cli(*repo, "--json", "snapshots", env=env).stdout)
    assert run_cli(*repo, "forget", *(s["id"] for s in listed), env=env).code == 0
    for _ in range(2):  # mark, then (the grace past) delete
        time_travel.advance(3600)
        done = run_cli(*repo, "--json", "prune", "--max-unused", "0%", env=env)
        assert done.code == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["packs_deleted"] >= 1
    again = run_cli(*backup, env=host)
    assert again.code == 0, again.stderr
    summary = json.loads(again.stdout.splitlines()[-1])
    assert (summary["files_new"], summary["data_blobs"]) == (2, 2)  # nothing trusted
    third = json.loads(run_cli(*backup, env=host).stdout.splitlines()[-1])
    assert (third["files_unmodified"], third["data_blobs"]) == (2, 0)  # incremental again
    out = tmp_path / "out"
    assert run_cli(*repo, "restore", "latest", "--target", str(out), env=env).code == 0
    restored = out / str(src).lstrip("/")
    assert {p.name: p.read_bytes() for p in restored.iterdir()} == {
        p.name: p.read_bytes() for p in src.iterdir()
    }
    check = run_cli(*repo, "verify", "--read-data", env=env)
    assert check.code == 0, check.stdout + check.stderr


@pytest.mark.parametrize("point", ["prune-after-views", "prune-after-states"])
def test_a_kill_between_the_put_side_steps_loses_nothing(
    fleet: tuple[str, dict[str, str]],
    run_cli: RunCli,
    cli_env: dict[str, str],
    tmp_path: Path,
    point: str,
) -> None:
    url, host = fleet
    src = tmp_path / "src"
    write_file(src / "a", os.urandom(200_000))
    _backup(run_cli, url, src, host)
    write_file(src / "a", os.urandom(200_000))
    _backup(run_cli, url, src, host)
    _age_states(url, 2)
    killed = run_cli(
        "-r", url, "prune", "--max-unused", "0%",
        env={**cli_env, "S3VAULT_TEST_CRASH_AT": point},
    )  # fmt: skip
    assert killed.code == -9, (killed.code, killed.stderr)
    check = run_cli("-r", url, "verify")
    assert check.code == 0, check.stdout + check.stderr
    again = _backup(run_cli, url, src, host)
    assert again["files_unmodified"] == 1
    _age_states(url, 2)
    done = run_cli("-r", url, "prune", "--max-unused", "0%")
    assert done.code == 0, done.stderr
    assert len(_names(url, "state")) == 1
    assert _names(url, "views") <= _index_ids(url)
    _restores(run_cli, url, src, tmp_path / "out")
