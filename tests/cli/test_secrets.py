"""Secrets never leak: the password, the AWS secret key, the recovery secret and the master key
are planted as canaries, and every command (successes and failures, at full verbosity, text and
--json) is checked for them in its output, and the cache and repository files afterwards.
Key files and cache files are mode 0600."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from s3vault import RepoOptions, open_repository
from tests.conftest import RunCli, write_file

PASSWORD = "pw-CANARY-5f1c2e9d"
AWS_SECRET = "aws-CANARY-8b7a6c5d"


def forms(secret: bytes) -> list[bytes]:
    """The ways a secret could show up: raw, hex, base64."""
    return [secret, secret.hex().encode(), base64.b64encode(secret), base64.b64encode(secret)[:20]]


def test_no_secret_in_any_output_or_file(
    s3_server: str,
    s3_bucket: str,
    tmp_path: Path,
    cli_env: dict[str, str],
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = s3_bucket
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)  # moto takes any secret
    env = {
        **cli_env,
        "S3VAULT_PASSWORD": PASSWORD,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_server,
    }
    src = tmp_path / "src"
    write_file(src / "a.bin", os.urandom(300_000))
    write_file(src / "etc" / "b.conf", b"setting = 1\n")
    local = str(tmp_path / "local-repo")
    outputs: list[str] = []

    def run(*args: str, **extra: str) -> int:
        done = run_cli(*args, env={**env, **extra})
        outputs.append(done.stdout + done.stderr)
        return done.code

    init = run_cli(
        "-r", f"s3://{bucket}/r", "--json", "-vv", "init", "--kdf-cost", "minimum", env=env
    )
    assert init.code == 0, init.stderr
    recovery_text = json.loads(init.stdout.splitlines()[-1])["recovery_key"]
    for repo in (f"s3://{bucket}/r", local):
        if repo == local:
            assert run("-r", repo, "init", "--kdf-cost", "minimum", "-vv") == 0
            outputs.pop()  # its own recovery key is shown there, by design
        for fmt in ((), ("--json",)):
            assert run("-r", repo, *fmt, "-vv", "backup", str(src)) == 0
            assert run("-r", repo, *fmt, "-vv", "restore", "latest", "-t", str(tmp_path / "t")) == 0
            assert run("-r", repo, *fmt, "-vv", "verify", "--read-data") == 0
            assert run("-r", repo, *fmt, "-vv", "key", "list") == 0
            assert run("-r", repo, *fmt, "-vv", "snapshots", S3VAULT_PASSWORD="wrong") == 12
            assert run("-r", repo, *fmt, "-vv", "restore", "nope", "-t", str(tmp_path / "x")) != 0
    assert run("-r", f"s3://{bucket}/missing", "-vv", "snapshots") != 0
    assert (
        run(
            "-r",
            f"s3://{bucket}/r",
            "--s3-endpoint",
            "http://127.0.0.1:9",
            "--retry-deadline",
            "1",
            "snapshots",
        )
        == 14
    )

    masters = []
    for url in (f"s3://{bucket}/r", local):
        repo = open_repository(
            RepoOptions(url=url, password=PASSWORD.encode(), cache_dir=None), load_index=False
        )
        masters.append(repo.sealer.current.secret)
    canaries = [PASSWORD.encode(), AWS_SECRET.encode(), recovery_text.encode()]
    canaries += [form for master in masters for form in forms(master)]
    for number, text in enumerate(outputs):
        for canary in canaries:
            assert canary not in text.encode(), (number, canary, text[:2000])
    files = [p for p in (tmp_path / "xdg-cache").rglob("*") if p.is_file()]
    files += [p for p in Path(local).rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        for canary in canaries:
            assert canary not in data, (path, canary)
    for path in files:
        if "keys" in path.parts or "xdg-cache" in path.parts:
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
