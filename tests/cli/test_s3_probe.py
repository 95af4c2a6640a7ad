"""The capability probe at init: what it finds on moto and on Swift, that it cleans up after
itself, and that on a store refusing boto3's default upload format init still succeeds without
any flag, says so in one line, and every later command uses the compatibility dialect."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import RunCli, write_file
from tests.faultproxy import FaultProxy
from tests.s3stores import S3Store
from tests.trees import snapshot_tree


def _init(run_cli: RunCli, store: S3Store, env: dict[str, str], *extra: str) -> dict[str, object]:
    done = run_cli(
        "-r",
        f"s3://{store.bucket}/repo",
        "--json",
        *extra,
        "init",
        "--kdf-cost",
        "minimum",
        env=env,
    )
    assert done.code == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout.splitlines()[-1])["store"]
    listed = store.client().list_objects_v2(Bucket=store.bucket, Prefix="repo/probe/")
    assert listed.get("Contents", []) == []  # the probe removed its objects
    return found


def test_probe_finds_what_each_store_does(
    s3_store: S3Store, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    found = _init(run_cli, s3_store, s3_store.env(cli_env), *s3_store.cli_args)
    if s3_store.name == "moto":  # atomic conditional writes, If-Match, 10,000 parts
        assert found["create_only"] == "atomic"
        assert found["compare_and_swap"] is True
        assert found["checksum"] == "when_supported"
    else:  # Swift 2.38: several winners of a create race, no If-Match (../shared/S3.md §1.2b)
        assert found["create_only"] == "sequential"
        assert found["compare_and_swap"] is False
        assert found["checksum"] == (s3_store.checksum or "when_supported")
    assert found["max_parts"] == 10000
    assert found["object_lock"] is False


def test_store_refusing_the_default_upload_format_gets_the_compatibility_dialect(
    s3_store: S3Store, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    if s3_store.checksum:
        pytest.skip("the compatibility dialect is forced here: nothing left to select")
    with FaultProxy(s3_store.endpoint, rate=0.0, refuse_flexible_checksums=True) as proxy:
        env = s3_store.env(cli_env, proxy.url)
        repo = ("-r", f"s3://{s3_store.bucket}/repo")
        done = run_cli(*repo, "init", "--kdf-cost", "minimum", env=env)
        assert done.code == 0, done.stderr
        said = [line for line in done.stdout.splitlines() if "compatibility dialect" in line]
        assert len(said) == 1, done.stdout
        assert proxy.refused == 1  # the probe's first upload, then never again
        src = tmp_path / "src"
        write_file(src / "big.bin", os.urandom(3 << 20))
        write_file(src / "small.txt", b"hello\n")
        assert run_cli(*repo, "backup", str(src), env=env).code == 0
        target = tmp_path / "t"
        assert run_cli(*repo, "restore", "latest", "-t", str(target), env=env).code == 0
        assert proxy.refused == 1
    assert snapshot_tree(target / str(src).lstrip("/")) == snapshot_tree(src)
