"""The requests cost counts are the requests the S3 test server received: every command of a
repository's life (init and its probe, backups, a restore drill, verify, forget and prune, a
DR copy with its reads at the source) through a logging proxy in front of the moto server,
compared kind by kind with what the audit log says plus each record's own write
(ops/cost.py). Retries too: with the proxy failing requests, each attempt is on both sides."""

from __future__ import annotations

import os
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from s3vault import RepoOptions, measure_usage, open_repository
from s3vault.backend.location import BackendOptions
from s3vault.cloud.cost.plan import DRILL_REQUESTS, RUN_REQUESTS
from s3vault.ops.cost import audit_write_requests
from tests.cli.test_s3 import s3_env
from tests.conftest import PASSWORD, RunCli, write_file
from tests.faultproxy import FaultProxy

KINDS = ("put", "get", "head", "list")


def billed_as(method: str, target: str) -> str:
    """The kind S3 bills a request as (the store's hook uses botocore's operation names)."""
    query = parse_qs(urlsplit(target).query, keep_blank_values=True)
    if method == "GET" and ("list-type" in query or "uploads" in query or "uploadId" in query):
        return "list"
    if method == "GET" and urlsplit(target).path.rstrip("/").count("/") <= 1 and not query:
        return "list"  # ListObjects (v1) of a bucket
    if method == "POST" and "delete" in query:
        return "delete"
    return {"PUT": "put", "POST": "put", "GET": "get", "HEAD": "head", "DELETE": "delete"}[method]


class LoggingProxy(FaultProxy):
    """The fault proxy, logging every request it receives (faulted ones too) by billed kind.
    It spares the audit records' writes: a retry of the write that records a run's requests
    is the one retry no record can count (docs/capacity.md says so)."""

    def __init__(self, upstream: str, **kw: object) -> None:
        super().__init__(upstream, **kw)  # type: ignore[arg-type]
        self.log: Counter[str] = Counter()
        self._log_lock = threading.Lock()
        self._spared = threading.local()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        with self._log_lock:
            self.log[billed_as(h.command, h.path)] += 1
        self._spared.now = "/audit/" in h.path or "audit%2F" in h.path
        super().handle(h)

    def _pick(self) -> str | None:
        return None if getattr(self._spared, "now", False) else super()._pick()

    def taken(self) -> Counter[str]:
        """The log so far, emptied."""
        with self._log_lock:
            out, self.log = self.log, Counter()
        return out


def _counted(url: str, endpoint: str, env: dict[str, str]) -> dict[str, int]:
    """What the audit log of the repository at ``url`` says was sent (own + at copy sources),
    read in this process straight from the server (not through the proxy)."""
    repo = open_repository(
        RepoOptions(url=url, password=PASSWORD.encode(), backend=BackendOptions()),
        load_index=True,
    )
    usage = measure_usage(repo, days=1)
    return {k: getattr(usage, k) + usage.source.get(k, 0) for k in KINDS}


@pytest.mark.parametrize("rate", [0.0, 0.08])
def test_cost_counts_what_the_server_received(
    rate: float,
    s3_bucket: str,
    s3_server: str,
    tmp_path: Path,
    cli_env: dict[str, str],
    run_cli: RunCli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src = tmp_path / "src"
    write_file(src / "big.bin", os.urandom(6 << 20))
    for i in range(20):
        write_file(src / "etc" / f"f{i}.conf", f"setting = {i}\n".encode() * 40)
    kinds = ("503", "500") if rate else ("503",)
    with LoggingProxy(s3_server, rate=rate, seed=5, kinds=kinds) as proxy:
        env = s3_env(cli_env, proxy.url)
        env["S3VAULT_TO_PASSWORD"] = PASSWORD
        main, dr = f"s3://{s3_bucket}/main", f"s3://{s3_bucket}/dr"
        steps = [
            (main, "init", "--kdf-cost", "minimum", "--no-recovery-key", "--pack-size", "4"),
            (main, "backup", str(src)),
            (main, "backup", str(src)),  # nothing new: a run's own requests
            (main, "restore-test", "--no-disk"),
            (main, "verify", "--read-data"),
            (main, "forget", "--keep-last", "1", "--prune"),
            (dr, "init", "--kdf-cost", "minimum", "--no-recovery-key"),
            (main, "copy", "--to", dr),
        ]
        if rate:  # retries: a backup and a copy (with its reads at the source) are enough
            steps = [steps[0], steps[1], steps[6], steps[7]]
        per_step = []
        for url, *args in steps:
            if args[0] == "backup" and per_step and per_step[-1][0] == "backup":
                # A nightly run stores a new tree: a directory above the source changed (here
                # the test's own; whether another test touched it meanwhile is chance)
                (tmp_path / f"night{len(per_step)}").mkdir()
            done = run_cli("-r", url, *args, env=env)
            assert done.code == 0, (args, done.stderr)
            per_step.append((args[0], proxy.taken()))
    if rate:
        assert sum(proxy.injected.values()) > 0  # retries happened, and are counted
    received = sum((c for _, c in per_step), Counter())
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    counted = Counter(_counted(main, s3_server, env)) + Counter(_counted(dr, s3_server, env))
    assert {k: counted[k] for k in KINDS} == {k: received[k] for k in KINDS}, per_step
    if not rate:  # the plan's figures of a run are what a backup and a drill really send
        backup, drill = per_step[2][1], per_step[3][1]
        assert {k: backup[k] for k in KINDS} == RUN_REQUESTS
        assert {k: drill[k] for k in ("put", "head", "list")} == {
            k: DRILL_REQUESTS[k] for k in ("put", "head", "list")
        }


def test_an_audit_write_lists_a_page_per_thousand_records() -> None:
    s3 = {"create_only": "atomic"}
    assert audit_write_requests(1, s3) == {"list": 1, "put": 1, "head": 1}
    assert audit_write_requests(1001, s3) == {"list": 1, "put": 1, "head": 1}
    assert audit_write_requests(1002, s3) == {"list": 2, "put": 1, "head": 1}
    assert audit_write_requests(5, {"create_only": "none"})["head"] == 2  # HEAD, PUT, HEAD
    assert audit_write_requests(5, None) == {"list": 1, "put": 1}  # a local repository
