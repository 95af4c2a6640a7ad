"""--cacert and --insecure-tls against the https moto server (its CA is the session's test CA,
which the CLI here is NOT told about through AWS_CA_BUNDLE)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_s3 import s3_env
from tests.conftest import RunCli
from tests.s3server import make_certificates

INIT = ("init", "--kdf-cost", "minimum")


@pytest.fixture
def untrusting(cli_env: dict[str, str], s3_server: str) -> dict[str, str]:
    """The https S3 server's environment without the test CA: the system's CAs only."""
    env = s3_env(cli_env, s3_server)
    env.pop("AWS_CA_BUNDLE", None)
    return env


@pytest.fixture
def private_ca(s3_ca: tuple[Path, Path, Path]) -> str:
    """The file of the CA that signed the https S3 server's certificate."""
    return str(s3_ca[0])


def test_cacert_trusts_a_private_ca_and_without_it_the_endpoint_is_refused(
    s3_bucket: str, untrusting: dict[str, str], private_ca: str, run_cli: RunCli, tmp_path: Path
) -> None:
    env = untrusting
    url = f"s3://{s3_bucket}/tls"
    refused = run_cli("-r", url, *INIT, env=env)
    assert refused.code == 1, refused.stderr
    assert "TLS certificate is not trusted" in refused.stderr, refused.stderr
    assert "--cacert" in refused.stderr
    ca = private_ca
    done = run_cli("-r", url, "--cacert", ca, *INIT, env=env)
    assert done.code == 0, done.stderr
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_bytes(b"over a private CA")
    done = run_cli("-r", url, "backup", str(tmp_path / "src"), env={**env, "S3VAULT_CACERT": ca})
    assert done.code == 0, done.stderr
    listed = run_cli("-r", url, "--cacert", ca, "snapshots", "--json", env=env)
    assert listed.code == 0, listed.stderr
    assert '"short_id"' in listed.stdout
    # a certificate failure is permanent: said at once (not retried to the 300 s deadline)
    refused = run_cli("-r", url, "snapshots", env=env, timeout=60)
    assert refused.code == 1, refused.stderr
    assert "TLS certificate is not trusted" in refused.stderr, refused.stderr


def test_insecure_tls_works_and_says_so_once(
    s3_bucket: str, untrusting: dict[str, str], run_cli: RunCli
) -> None:
    env = untrusting
    url = f"s3://{s3_bucket}/insecure"
    done = run_cli("-r", url, "--insecure-tls", *INIT, env=env)
    assert done.code == 0, done.stderr
    done = run_cli("-r", url, "--insecure-tls", "snapshots", env=env)
    assert done.code == 0, done.stderr
    assert done.stderr.count("NOT verified") == 1, done.stderr
    assert "Unverified HTTPS request" not in done.stderr  # urllib3's per-request warning


def test_tls_options_refuse_nonsense(
    untrusting: dict[str, str], private_ca: str, run_cli: RunCli
) -> None:
    env = untrusting
    url = "s3://nothing/here"
    both = run_cli("-r", url, "--insecure-tls", "--cacert", private_ca, "snapshots", env=env)
    assert both.code == 2, both.stderr
    assert "--insecure-tls" in both.stderr and "--cacert" in both.stderr
    missing = run_cli("-r", url, "--cacert", "/nonexistent/ca.pem", "snapshots", env=env)
    assert missing.code == 2, missing.stderr
    missing_env = run_cli("-r", url, "snapshots", env={**env, "S3VAULT_CACERT": "/no/ca.pem"})
    assert missing_env.code == 2, missing_env.stderr
    assert "/no/ca.pem" in missing_env.stderr


def test_a_cacert_file_that_holds_no_certificate_is_a_usage_error_at_once(
    s3_bucket: str, untrusting: dict[str, str], run_cli: RunCli, tmp_path: Path
) -> None:
    """An attack pass (2026-12-07): it was retried as an outage until the deadline (300 s by
    default, then exit 14) on S3, and taken without a word for a local repository; restic
    refuses it at start on any repository."""
    junk = tmp_path / "ca.pem"
    junk.write_text("junk\n")
    env = untrusting
    for url in (f"s3://{s3_bucket}/badca", str(tmp_path / "local")):
        done = run_cli("-r", url, "--cacert", str(junk), *INIT, env=env, timeout=60)
        assert done.code == 2, done.stderr
        assert f"--cacert {junk}: no CA certificate can be read from it" in done.stderr
        assert "waiting for" not in done.stderr
    # a file that is there but no regular file, named as given (it said "no such file")
    done = run_cli("-r", str(tmp_path / "local"), "--cacert", "/dev/null", *INIT, env=env)
    assert (done.code, done.stderr.strip()) == (2, "Fatal: --cacert /dev/null: not a regular file")
    from_env = {**env, "S3VAULT_CACERT": str(tmp_path)}
    done = run_cli("-r", str(tmp_path / "local"), *INIT, env=from_env)
    assert done.code == 2 and f"S3VAULT_CACERT {tmp_path}: not a regular file" in done.stderr


def test_cacert_given_twice_trusts_both_files(
    s3_bucket: str, untrusting: dict[str, str], private_ca: str, run_cli: RunCli, tmp_path: Path
) -> None:
    """As restic's: each --cacert file is trusted (the last one alone was, without a word: an
    attack pass, 2026-12-07), in either order, before or after the command."""
    (tmp_path / "other").mkdir()
    other_ca = make_certificates(tmp_path / "other")[0]  # a CA that signed nothing here
    env = untrusting
    url = f"s3://{s3_bucket}/twice"
    ca = private_ca
    assert run_cli("-r", url, "--cacert", str(other_ca), "--cacert", ca, *INIT, env=env).code == 0
    for args in (
        ("--cacert", ca, "--cacert", str(other_ca), "snapshots"),
        ("--cacert", str(other_ca), "snapshots", "--cacert", ca),
    ):
        done = run_cli("-r", url, *args, env=env)
        assert done.code == 0, (args, done.stderr)
    alone = run_cli("-r", url, "--cacert", str(other_ca), "snapshots", env=env, timeout=60)
    assert alone.code == 1 and "TLS certificate is not trusted" in alone.stderr, alone.stderr
