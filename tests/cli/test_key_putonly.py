"""key add --put-only (design.md §6a): a key for one backup host, made by a full key; it shows
in `key list` with its access and host, and every command that reads the repository refuses
it with exit 12, naming the kind of key needed (one check where the repository opens)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s3vault import InitOptions, add_put_only_key, init
from s3vault.ops.backup import BackupOptions, backup
from tests.conftest import TEST_SETTINGS, RepoHandle, RunCli, write_file

HOST_PASSWORD = "web-01 writes, never reads"


@pytest.fixture(scope="module")
def repo_with_put_only_key(tmp_path_factory: pytest.TempPathFactory) -> RepoHandle:
    """A repository with one full-key snapshot and a put-only key for host web-01."""
    base = tmp_path_factory.mktemp("putonly")
    handle = RepoHandle(url=str(base / "repo"), cache=base / "cache")
    init(handle.options, InitOptions(settings=TEST_SETTINGS))
    source = write_file(base / "src" / "a.txt", b"what web-01 must not read\n").parent
    repo = handle.open()
    backup(repo, BackupOptions(paths=(str(source),)))
    add_put_only_key(repo, HOST_PASSWORD.encode(), host="web-01", kdf_cost="minimum", switch=True)
    return handle


READS = [
    ("snapshots",),
    ("ls", "latest"),
    ("restore", "latest", "--target", "{tmp}/out"),
    ("dump", "latest", "/"),
    ("find", "*.txt"),
    ("diff", "latest", "latest"),
    ("restore-test",),
    ("copy", "--to", "{tmp}/other"),
    ("mount", "{tmp}/mnt"),
    ("cat", "config"),
    ("cat", "snapshot", "latest"),
    ("verify", "--read-data"),
    ("key", "list"),
]


@pytest.mark.parametrize("command", READS, ids=[" ".join(c[:2]) for c in READS])
def test_every_read_command_refuses_a_put_only_key_with_exit_12(
    repo_with_put_only_key: RepoHandle,
    run_cli: RunCli,
    cli_env: dict[str, str],
    tmp_path: Path,
    command: tuple[str, ...],
) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    env = {**cli_env, "S3VAULT_PASSWORD": HOST_PASSWORD, "S3VAULT_TO_PASSWORD": "x"}
    done = run_cli("-r", repo_with_put_only_key.url, *args, env=env)
    assert done.code == 12, (done.stdout, done.stderr)
    assert "put-only key" in done.stderr and "needs a full key" in done.stderr
    assert "what web-01" not in done.stdout + done.stderr
    assert not (tmp_path / "out").exists()


def test_key_add_put_only_through_the_cli(
    cli_repo: str, run_cli: RunCli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    pw = write_file(tmp_path / "host-pw", b"host secret\n")
    add = ("key", "add", "--put-only", "--kdf-cost", "minimum", "--new-password-file", str(pw))
    refused = run_cli("-r", cli_repo, *add, "--host", "db-02")
    assert refused.code == 2 and "add --switch-format" in refused.stderr
    assert json.loads((Path(cli_repo) / "config").read_text())["v"] == 1
    done = run_cli("-r", cli_repo, *add, "--host", "db-02", "--label", "db", "--switch-format")
    assert done.code == 0, done.stderr
    assert json.loads((Path(cli_repo) / "config").read_text())["v"] == 2
    assert "put-only, host db-02; checked: the new password opens it" in done.stdout
    listed = json.loads(run_cli("-r", cli_repo, "--json", "key", "list").stdout)
    assert sorted((k["access"], k["host"]) for k in listed) == [("full", ""), ("put-only", "db-02")]
    shown = run_cli("-r", cli_repo, "key", "list").stdout
    assert "put-only:db-02" in shown
    stored = [json.loads(p.read_bytes()) for p in (Path(cli_repo) / "keys").iterdir()]
    assert sorted(k["v"] for k in stored) == [2, 3]
    host_env = {**cli_env, "S3VAULT_PASSWORD": "host secret"}
    assert run_cli("-r", cli_repo, "snapshots", env=host_env).code == 12
    # the full key cannot be removed while only the put-only key would be left
    full_id = next(k["id"] for k in listed if k["access"] == "full")
    refused = run_cli("-r", cli_repo, "key", "remove", full_id[:8], "--force")
    assert refused.code == 2 and "last key file that opens" in refused.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--host", "h1"), "--host goes with --put-only"),
        (("--put-only", "--recovery"), "--recovery and --put-only exclude each other"),
        (("--put-only", "--host", " spaced ", "--switch-format"), "a host name is printable"),
        (("--switch-format",), "--switch-format goes with --put-only"),
    ],
)
def test_key_add_put_only_refuses_bad_input_in_one_line(
    cli_repo: str, run_cli: RunCli, tmp_path: Path, extra: tuple[str, ...], message: str
) -> None:
    pw = write_file(tmp_path / "host-pw", b"host secret\n")
    done = run_cli("-r", cli_repo, "key", "add", "--new-password-file", str(pw), *extra)
    assert done.code == 2 and message in done.stderr
    assert len(list((Path(cli_repo) / "keys").iterdir())) == 1
