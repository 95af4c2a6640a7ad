"""Repository URLs as a restic user writes them (issue 17): restic's s3: spellings reach the
same store, -r/--repository-file/S3VAULT_REPOSITORY_FILE name the repository, and a scheme
s3vault does not store in is refused with exit 2 instead of becoming a local directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cli.test_s3 import s3_env
from tests.conftest import RunCli, write_file

INIT = ("init", "--kdf-cost", "minimum", "--no-recovery-key", "-q")


@pytest.mark.parametrize(
    "url", ["sftp:backup-host:/srv/restic", "rest:http://host:8000/", "b2:bucket:web1"]
)
def test_a_scheme_s3vault_does_not_store_in_is_refused(
    url: str, tmp_path: Path, run_cli: RunCli
) -> None:
    before = set(os.listdir())  # the CLI runs in the test's working directory
    for command in (INIT, ("backup", str(tmp_path)), ("snapshots",)):
        done = run_cli("-r", url, *command)
        assert done.code == 2, done.stderr
        (line,) = done.stderr.splitlines()
        assert f"unsupported repository type {url.split(':', maxsplit=1)[0]}:" in line
    assert set(os.listdir()) == before  # no local directory named after the URL


def test_restic_s3_spelling_with_the_endpoint_in_the_url(
    s3_server: str, s3_bucket: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    env = s3_env(cli_env, s3_server)
    del env["AWS_ENDPOINT_URL"]  # the URL alone says where the store is
    restic_url = f"s3:{s3_server}/{s3_bucket}/web1"
    assert run_cli("-r", restic_url, *INIT, env=env).code == 0
    src = write_file(tmp_path / "src" / "a.txt", b"restic habits\n").parent
    done = run_cli("-r", restic_url, "backup", str(src), "-q", env=env)
    assert done.code == 0, done.stderr
    # the same repository through s3vault's own spelling and the endpoint flag
    ours = run_cli("-r", f"s3://{s3_bucket}/web1", "--s3-endpoint", s3_server, "snapshots", env=env)
    assert ours.code == 0 and ours.stdout.splitlines()[-1] == "1 snapshot", (
        ours.stdout + ours.stderr
    )
    # the URL's endpoint beats AWS_ENDPOINT_URL (meant for every AWS tool); a flag naming
    # another endpoint contradicts it
    elsewhere = {**env, "AWS_ENDPOINT_URL": "https://127.0.0.1:1"}
    assert run_cli("-r", restic_url, "snapshots", env=elsewhere).code == 0
    clash = run_cli("-r", restic_url, "--s3-endpoint", "https://127.0.0.1:1", "snapshots", env=env)
    assert clash.code == 2 and "give one" in clash.stderr, clash.stderr
    # s3:HOST[:PORT]/bucket/prefix: restic's endpoint https://HOST, an older s3vault's bucket
    # HOST: refused with both spellings (the old code opened bucket "127.0.0.1:PORT")
    host = s3_server.removeprefix("https://")
    ambiguous = run_cli("-r", f"s3:{host}/{s3_bucket}/web1", "snapshots", env=elsewhere)
    assert ambiguous.code == 2 and "ambiguous" in ambiguous.stderr, ambiguous.stderr
    assert f"s3:https://{host}/{s3_bucket}/web1" in ambiguous.stderr


def test_repository_file_and_its_environment_variable(
    cli_repo: str, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    url_file = write_file(tmp_path / "repo-url", f"{cli_repo}\n# comment lines after it\n".encode())
    assert run_cli("--repository-file", str(url_file), "snapshots").code == 0
    by_env = {**cli_env, "S3VAULT_REPOSITORY_FILE": str(url_file)}
    assert run_cli("snapshots", env=by_env).code == 0
    both = run_cli("-r", cli_repo, "--repository-file", str(url_file), "snapshots")
    assert both.code == 2 and "give one" in both.stderr
    envs = run_cli("snapshots", env={**by_env, "S3VAULT_REPOSITORY": cli_repo})
    assert envs.code == 2 and "set one" in envs.stderr
    # a flag beats the environment, as with every other setting
    assert run_cli("-r", cli_repo, "snapshots", env=by_env).code == 0
    empty = write_file(tmp_path / "empty", b"\n")
    refused = run_cli("--repository-file", str(empty), "snapshots")
    assert refused.code == 2 and f"repository file {empty} is empty" in refused.stderr
    missing = run_cli("--repository-file", str(tmp_path / "nope"), "snapshots")
    assert missing.code == 2 and "No such file" in missing.stderr
    assert os.path.exists(cli_repo)


def test_an_endpoint_without_its_scheme_or_a_host_as_bucket_is_a_usage_error(
    s3_server: str, s3_bucket: str, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """One line and exit 2, wherever the mistake is; the old code said "internal error:
    ValueError: Invalid endpoint" (exit 1), or dumped botocore's bucket-name regex."""
    env = s3_env(cli_env, s3_server)
    host = s3_server.removeprefix("https://")
    flag = run_cli("-r", f"s3://{s3_bucket}/r", "--s3-endpoint", host, "snapshots", env=env)
    variable = run_cli(
        "-r", f"s3://{s3_bucket}/r", "snapshots", env={**env, "AWS_ENDPOINT_URL": host}
    )
    port_in_bucket = run_cli("-r", f"s3://{host}/r", "snapshots", env=env)
    for done in (flag, variable, port_in_bucket):
        assert done.code == 2, done.stderr
        (line,) = done.stderr.splitlines()
        assert "internal error" not in line
    assert f"the S3 endpoint '{host}' is not a URL" in flag.stderr
    assert f"the S3 endpoint '{host}' is not a URL" in variable.stderr
    assert "cannot be a bucket's name" in port_in_bucket.stderr
