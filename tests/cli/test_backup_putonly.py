"""s3vault backup with a put-only key (design.md §6a) through the real CLI: the host backs up
incrementally and reads nothing; a full key restores what it wrote; SIGKILL at random moments
of put-only backups never leaves a repository a full key finds damaged."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest

from tests.cli.test_kill_loop import killed_at_random
from tests.cli.test_s3 import s3_env
from tests.cliserver import CliServer, run_s3vault
from tests.conftest import RunCli, write_file
from tests.faultproxy import FaultProxy

ROUNDS = int(os.environ.get("S3VAULT_PUTONLY_TORTURE_ROUNDS", "6"))


def _host_env(cli_env: dict[str, str]) -> dict[str, str]:
    return {**cli_env, "S3VAULT_PASSWORD": "web-01 secret"}


@pytest.fixture
def put_only_repo(tmp_path: Path, run_cli: RunCli) -> str:
    url = str(tmp_path / "repo")
    init = ("init", "--kdf-cost", "minimum", "--pack-size", "1", "--no-recovery-key")
    assert run_cli("-r", url, *init).code == 0
    pw = write_file(tmp_path / "host-pw", b"web-01 secret\n")
    done = run_cli(
        "-r", url, "key", "add", "--put-only", "--host", "web-01", "--switch-format",
        "--kdf-cost", "minimum", "--new-password-file", str(pw),
    )  # fmt: skip
    assert done.code == 0, done.stderr
    return url


def _summary(stdout: str) -> dict[str, object]:
    line: dict[str, object] = json.loads(stdout.splitlines()[-1])
    return line


def test_backup_with_a_put_only_key_is_incremental_and_a_full_key_restores_it(
    put_only_repo: str, run_cli: RunCli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write_file(src / "a.txt", b"alpha\n" * 1000)
    write_file(src / "b.bin", os.urandom(200_000))
    host = _host_env(cli_env)
    first = run_cli("-r", put_only_repo, "--json", "backup", str(src), "--host", "web-01", env=host)
    assert first.code == 0, first.stderr
    assert _summary(first.stdout)["files_new"] == 2
    second = run_cli(
        "-r", put_only_repo, "--json", "backup", str(src), "--host", "web-01", env=host
    )
    assert second.code == 0, second.stderr
    summary = _summary(second.stdout)
    assert (summary["files_unmodified"], summary["data_blobs"]) == (2, 0)
    jobs = run_cli("-r", put_only_repo, "backup", str(src), "--host", "web-01", "-j", "4", env=host)
    assert jobs.code == 0, jobs.stderr  # taken in one process, and said so
    assert "--jobs: a put-only key backs up in one process: --jobs is not used" in jobs.stderr
    refused = run_cli("-r", put_only_repo, "backup", str(src), "--host", "db-01", env=host)
    assert refused.code == 2 and "writes snapshots for host 'web-01'" in refused.stderr
    gone = str(tmp_path / "gone")  # a source missing: exit 3, and the record says what
    partial = run_cli("-r", put_only_repo, "backup", str(src), gone, "--host", "web-01", env=host)
    assert partial.code == 3, partial.stderr
    assert run_cli("-r", put_only_repo, "snapshots", env=host).code == 12
    # the full key: the host's audit chain (three backups and the refused one) verifies
    audit = run_cli("-r", put_only_repo, "--json", "audit", "--host", "web-01")
    assert audit.code == 0, audit.stdout + audit.stderr
    records = [json.loads(line) for line in audit.stdout.splitlines()]
    backups = [r for r in records if r.get("operation") == "backup"]
    assert [r["exit_code"] for r in backups] == [0, 0, 0, 2, 3]
    assert backups[-1]["result"].startswith("1 source problem(s): saved without them (first: ")
    assert all(r["details"].get("access") == "put-only" for r in backups)
    listed = json.loads(run_cli("-r", put_only_repo, "--json", "snapshots").stdout)
    assert [s["hostname"] for s in listed] == ["web-01"] * 4
    done = run_cli("-r", put_only_repo, "restore", "latest", "--target", str(tmp_path / "out"))
    assert done.code == 0, done.stderr
    restored = tmp_path / "out" / str(src).lstrip("/")
    assert (restored / "b.bin").read_bytes() == (src / "b.bin").read_bytes()
    assert (restored / "a.txt").read_bytes() == (src / "a.txt").read_bytes()
    # --force trusts nothing of the host's state: every file read, every blob stored again
    forced = run_cli(
        "-r", put_only_repo, "--json", "backup", str(src), "--host", "web-01", "--force", env=host
    )
    assert forced.code == 0, forced.stderr
    assert _summary(forced.stdout)["files_new"] == 2
    assert _summary(forced.stdout)["data_blobs"] >= 2


def test_random_kills_of_put_only_backups_leave_a_repository_a_full_key_verifies(
    put_only_repo: str,
    run_cli: RunCli,
    cli_env: dict[str, str],
    cli_server: CliServer | None,
    tmp_path: Path,
) -> None:
    rng = random.Random(int(os.environ.get("S3VAULT_TORTURE_SEED", "11")))
    src = tmp_path / "src"
    for i in range(6):
        write_file(src / f"f{i}", rng.randbytes(rng.randrange(1, 400_000)))
    host = _host_env(cli_env)
    argv = ["-r", put_only_repo, "--json", "backup", str(src), "--host", "web-01"]
    completed: dict[str, dict[str, bytes]] = {}

    def contents() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in src.iterdir()}

    def snapshot_ids() -> set[str]:
        listing = run_cli("-r", put_only_repo, "--json", "snapshots")
        assert listing.code == 0, listing.stderr
        return {s["id"] for s in json.loads(listing.stdout)}

    start = time.monotonic()
    first = run_s3vault(cli_server, argv, env=host)
    assert first.returncode == 0, first.stderr
    completed[_summary(first.stdout.decode())["snapshot_id"]] = contents()  # type: ignore[index]
    clean = [time.monotonic() - start]
    kills = 0
    for n in range(ROUNDS):
        for i in rng.sample(range(6), 2):
            write_file(src / f"f{i}", rng.randbytes(rng.randrange(1, 400_000)))
        code, out = killed_at_random(cli_server, argv, host, clean, rng)
        kills += code == -9
        if code == 0:
            completed[_summary(out)["snapshot_id"]] = contents()  # type: ignore[index]
        else:  # killed after its snapshot perhaps: then that snapshot must be whole
            late = snapshot_ids() - set(completed)
            assert len(late) <= 1, late
            completed.update(dict.fromkeys(late, contents()))
        check = run_cli("-r", put_only_repo, "verify")
        assert check.code == 0, (n, check.stdout + check.stderr)
    assert run_cli("-r", put_only_repo, "verify", "--read-data").code == 0
    alive = snapshot_ids()
    assert alive <= set(completed)
    for sid in alive:
        out_dir = tmp_path / "out" / sid[:8]
        r = run_cli("-r", put_only_repo, "restore", sid, "-t", str(out_dir))
        assert r.code == 0, r.stderr
        got = {p.name: p.read_bytes() for p in out_dir.rglob("*") if p.is_file()}
        assert got == completed[sid], sid
    print(f"kills landed: {kills} of {ROUNDS}")
    assert kills >= ROUNDS // 3, kills  # timing varies: a third must land for a proof


def test_rotation_and_reencryption_with_a_put_only_writer(
    put_only_repo: str, run_cli: RunCli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """A rotation reaches the host (its key file re-sealed, the config's view renewed); it
    then writes under the new epoch; prune --reencrypt moves what it wrote under the old one,
    retires that epoch, and a full key still restores and verifies everything."""
    src = tmp_path / "src"
    write_file(src / "a", os.urandom(150_000))
    host = _host_env(cli_env)
    backup = ("backup", str(src), "--host", "web-01")
    assert run_cli("-r", put_only_repo, *backup, env=host).code == 0
    assert run_cli("-r", put_only_repo, "key", "rotate-master").code == 0
    write_file(src / "b", os.urandom(150_000))
    assert run_cli("-r", put_only_repo, *backup, env=host).code == 0
    done = run_cli("-r", put_only_repo, "prune", "--reencrypt")
    assert done.code == 0, done.stdout + done.stderr
    keys_line, epochs_line = run_cli(
        "-r", put_only_repo, "--json", "key", "list", "--epochs"
    ).stdout.splitlines()
    assert sorted(k["access"] for k in json.loads(keys_line)) == ["full", "put-only"]
    assert [e["epoch"] for e in json.loads(epochs_line)["epochs"] if e["current"]] == [2]
    done = run_cli("-r", put_only_repo, "verify", "--read-data")
    assert done.code == 0, done.stdout + done.stderr
    done = run_cli("-r", put_only_repo, "restore", "latest", "--target", str(tmp_path / "out"))
    assert done.code == 0, done.stderr
    restored = tmp_path / "out" / str(src).lstrip("/")
    assert (restored / "b").read_bytes() == (src / "b").read_bytes()
    again = run_cli("-r", put_only_repo, *backup, env=host)  # the host goes on after it all
    assert again.code == 0, again.stderr


def _put_only_on_s3(
    run_cli: RunCli, env: dict[str, str], url: str, tmp_path: Path
) -> tuple[str, str]:
    """A repository at ``url`` with a put-only key for web-01 (its password: ``_host_env``);
    the ``-r URL`` arguments."""
    repo = ("-r", url)
    assert run_cli(*repo, "init", "--kdf-cost", "minimum", "--no-recovery-key", env=env).code == 0
    pw = write_file(tmp_path / "host-pw", b"web-01 secret\n")
    add = ("key", "add", "--put-only", "--host", "web-01", "--switch-format")
    done = run_cli(*repo, *add, "--kdf-cost", "minimum", "--new-password-file", str(pw), env=env)
    assert done.code == 0, done.stderr
    return repo


def test_a_put_only_host_backs_up_to_s3(
    s3_bucket: str, s3_server: str, run_cli: RunCli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = s3_env(cli_env, s3_server)
    repo = _put_only_on_s3(run_cli, env, f"s3://{s3_bucket}/fleet", tmp_path)
    src = tmp_path / "src"
    write_file(src / "a.bin", os.urandom(700_000))
    host = _host_env(env)
    backup = (*repo, "--json", "backup", str(src), "--host", "web-01")
    assert run_cli(*backup, env=host).code == 0
    second = run_cli(*backup, env=host)
    assert second.code == 0, second.stderr
    assert _summary(second.stdout)["files_unmodified"] == 1
    checked = run_cli(*repo, "--json", "verify", env=host)  # what the host may see, on S3
    assert checked.code == 0, checked.stdout + checked.stderr
    assert _summary(checked.stdout)["access"] == "put-only"
    out = tmp_path / "out"
    assert run_cli(*repo, "restore", "latest", "--target", str(out), env=env).code == 0
    assert (out / str(src).lstrip("/") / "a.bin").read_bytes() == (src / "a.bin").read_bytes()


def test_every_object_a_put_only_host_creates_is_sent_create_only(
    s3_bucket: str, s3_server: str, run_cli: RunCli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """The put-only IAM policy denies a PutObject or CompleteMultipartUpload without
    If-None-Match: * (tests/cloud/test_iam_putonly.py), so the host must send it on every
    object it creates: seen on the wire between the host and moto."""
    env = s3_env(cli_env, s3_server)
    repo = _put_only_on_s3(run_cli, env, f"s3://{s3_bucket}/create-only", tmp_path)
    src = tmp_path / "src"
    write_file(src / "a.bin", os.urandom(300_000))
    with FaultProxy(s3_server, rate=0.0) as proxy:
        host = {**_host_env(env), "AWS_ENDPOINT_URL": proxy.url}
        for _ in range(2):
            done = run_cli(*repo, "backup", str(src), "--host", "web-01", env=host)
            assert done.code == 0, done.stderr
            write_file(src / "b.txt", os.urandom(1000))
    creations = [
        (method, path, sent)
        for method, path, sent in proxy.writes
        if (method == "PUT" and "partNumber=" not in path) or "uploadId=" in path
    ]
    assert len(creations) >= 6, proxy.writes  # packs, index, snapshot, state, audit: twice
    assert all(sent == "*" for _, _, sent in creations), creations


def test_copy_takes_what_a_put_only_host_wrote(
    put_only_repo: str, run_cli: RunCli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write_file(src / "a.bin", os.urandom(300_000))
    host = _host_env(cli_env)
    assert run_cli("-r", put_only_repo, "backup", str(src), "--host", "web-01", env=host).code == 0
    target = str(tmp_path / "target")
    init = ("init", "--kdf-cost", "minimum", "--no-recovery-key")
    assert run_cli("-r", target, *init).code == 0
    env = {**cli_env, "S3VAULT_TO_PASSWORD": cli_env["S3VAULT_PASSWORD"]}
    done = run_cli("-r", put_only_repo, "copy", "--to", target, env=env)
    assert done.code == 0, done.stdout + done.stderr
    out = tmp_path / "out"
    assert run_cli("-r", target, "restore", "latest", "--target", str(out)).code == 0
    assert (out / str(src).lstrip("/") / "a.bin").read_bytes() == (src / "a.bin").read_bytes()


def test_a_put_only_host_caches_views_and_its_state(
    s3_bucket: str, s3_server: str, run_cli: RunCli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    """An unchanged run downloads no view it has seen and not its own state (design.md §6a):
    only listings, the config, its key file and what it writes; --no-cache shows the cost
    without the cache; a planted cache file is not trusted."""
    env = s3_env(cli_env, s3_server)
    repo = ("-r", f"s3://{s3_bucket}/fleet")
    init = ("init", "--kdf-cost", "minimum", "--no-recovery-key", "--pack-size", "1")
    assert run_cli(*repo, *init, env=env).code == 0
    for i in range(3):  # full-key backups: three index files, three endorsed views
        write_file(tmp_path / "etc" / f"f{i}", os.urandom(50_000))
        assert run_cli(*repo, "backup", str(tmp_path / "etc"), env=env).code == 0
    pw = write_file(tmp_path / "host-pw", b"web-01 secret\n")
    add = ("key", "add", "--put-only", "--host", "web-01", "--switch-format")
    done = run_cli(*repo, *add, "--kdf-cost", "minimum", "--new-password-file", str(pw), env=env)
    assert done.code == 0, done.stderr
    src = tmp_path / "src"
    write_file(src / "a.bin", os.urandom(100_000))
    write_file(src / "f0", (tmp_path / "etc" / "f0").read_bytes())  # stored by the full key
    host = _host_env(env)
    backup = (*repo, "--json", "backup", str(src), "--host", "web-01")
    first = _summary(run_cli(*backup, env=host).stdout)
    assert first["data_blobs"] == 1  # f0 deduplicated against an endorsed view
    second = run_cli(*backup, env=host)
    assert second.code == 0, second.stderr
    cached = _summary(second.stdout)["requests"]
    uncached = _summary(run_cli(repo[0], repo[1], "--no-cache", *backup[2:], env=host).stdout)
    cold = uncached["requests"]
    print(f"unchanged put-only run: cached {cached}, --no-cache {cold}")
    assert isinstance(cached, dict) and isinstance(cold, dict)
    # the views and the state are not fetched again; nor are the key files listed before the
    # host's own, which a host that knows its key (its cache) does not try (keyorder.py)
    listed = json.loads(run_cli(*repo, "--json", "key", "list", env=env).stdout)
    mine = next(str(k["id"]) for k in listed if k["access"] == "put-only")
    before = sum(str(k["id"]) < mine for k in listed)
    assert cold["get"] - cached["get"] == 3 + 1 + before
    views = tmp_path / "xdg-cache" / "s3vault"
    planted = next(views.glob("*/files/views/*"))
    planted.write_bytes(b"planted")  # a view that does not open: dropped, fetched again
    again = run_cli(*backup, env=host)
    assert again.code == 0, again.stderr
    assert _summary(again.stdout)["files_unmodified"] == 2
    assert planted.read_bytes() != b"planted"
    (state,) = views.glob("*/files/state/*")
    state.write_bytes(b"planted")  # not the bytes its id names: downloaded instead
    again = run_cli(*backup, env=host)
    assert again.code == 0, again.stderr
    assert _summary(again.stdout)["files_unmodified"] == 2
    (state,) = views.glob("*/files/state/*")  # the new run's state, cached
    assert state.read_bytes() != b"planted"
