"""OpenStack Swift with its s3api middleware on 127.0.0.1: the second real S3 implementation.

moto checks no signature, no Content-MD5, no CRC32 and no clock skew, and its conditional writes
are atomic. Swift 2.38 (pinned in pyproject's test extra) checks all four, rejects what a real
store rejects, and accepts ``If-None-Match: *`` without making it atomic (../shared/S3.md §1.2b).

A Swift-all-in-one reduced to what S3 needs: one device, one replica, rings of 2^8 partitions,
account, container and object servers and a TLS proxy with s3api + tempauth, every daemon a
single process bound to loopback, all state under the session's temporary directory. Starting
takes about a second.

The suite must run these tests: if Swift cannot start, the session fails, unless the developer
says ``S3VAULT_SKIP_SWIFT=1`` (then they are skipped, with that reason shown).
"""

from __future__ import annotations

import itertools
import os
import ssl
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.s3server import free_port

ACCESS_KEY = "test:tester"  # tempauth user "tester" in account "test"
SECRET_KEY = "testing"
SKIP_SWITCH = "S3VAULT_SKIP_SWIFT"
_SERVERS = ("account", "container", "object")
_PIPELINE = (
    "catch_errors gatekeeper healthcheck proxy-logging listing_formats bulk s3api tempauth "
    "copy slo dlo versioned_writes symlink proxy-logging proxy-server"
)
_buckets = itertools.count(1)


@dataclass(frozen=True, slots=True)
class SwiftServer:
    """A running Swift proxy (https) and the S3 credentials it accepts."""

    endpoint: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    def new_bucket(self) -> str:
        """A fresh, empty bucket (Swift has no reset: every test gets its own). Retried: a
        one-replica Swift on a loaded machine sometimes answers 503 while its account
        database is busy (seen once in a CI run)."""
        import boto3
        from botocore.config import Config

        name = f"s3vault-test-{next(_buckets)}-{os.getpid()}"
        boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(retries={"mode": "standard", "max_attempts": 10}),
        ).create_bucket(Bucket=name)
        return name


def _bin(name: str) -> Path:
    return Path(sys.executable).with_name(name)


def _write_config(etc: Path, devices: Path, ports: dict[str, int], tls: tuple[Path, Path]) -> None:
    (etc / "swift.conf").write_text(
        "[swift-hash]\nswift_hash_path_suffix = s3vault-tests\n"
        "swift_hash_path_prefix = s3vault\n"
        "[storage-policy:0]\nname = one-replica\ndefault = yes\n"
    )
    # fallocate_reserve = 0: Swift's servers refuse writes (507, which s3api answers as 503
    # "Please reduce your request rate") once the disk is 99 % full by default; a shared
    # machine's disk got there during a run and 9 Swift tests failed their setup
    common = (
        f"[DEFAULT]\ndevices = {devices}\nmount_check = false\nbind_ip = 127.0.0.1\n"
        f"workers = 0\nswift_dir = {etc}\nlog_level = WARNING\nfallocate_reserve = 0\n"
    )
    for kind in _SERVERS:
        (etc / f"{kind}-server.conf").write_text(
            common + f"bind_port = {ports[kind]}\n[pipeline:main]\npipeline = {kind}-server\n"
            f"[app:{kind}-server]\nuse = egg:swift#{kind}\n"
        )
    filters = "".join(
        f"[filter:{name}]\nuse = egg:swift#{name.replace('-', '_')}\n"
        for name in (
            "catch_errors",
            "gatekeeper",
            "healthcheck",
            "proxy-logging",
            "listing_formats",
            "bulk",
            "copy",
            "dlo",
            "symlink",
        )
    )
    (etc / "proxy-server.conf").write_text(
        textwrap.dedent(f"""\
        [DEFAULT]
        bind_ip = 127.0.0.1
        bind_port = {ports["proxy"]}
        workers = 0
        swift_dir = {etc}
        cert_file = {tls[0]}
        key_file = {tls[1]}
        log_level = WARNING
        [pipeline:main]
        pipeline = {_PIPELINE}
        [app:proxy-server]
        use = egg:swift#proxy
        account_autocreate = true
        allow_account_management = true
        [filter:s3api]
        use = egg:swift#s3api
        max_upload_part_num = 10000
        allowable_clock_skew = 900
        [filter:tempauth]
        use = egg:swift#tempauth
        user_test_tester = {SECRET_KEY} .admin
        [filter:slo]
        use = egg:swift#slo
        max_manifest_segments = 10000
        [filter:versioned_writes]
        use = egg:swift#versioned_writes
        allow_object_versioning = true
        """)
        + filters
    )


_RINGS = """
import sys
from swift.common.ring import RingBuilder
etc = sys.argv[1]
for kind, port in zip(("account", "container", "object"), map(int, sys.argv[2:])):
    builder = RingBuilder(8, 1, 1)
    builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": port,
                     "device": "d1", "weight": 1})
    builder.rebalance()
    builder.get_ring().save(f"{etc}/{kind}.ring.gz")
"""


def _dead(procs: list[subprocess.Popen[bytes]]) -> list[str]:
    return [str(p.args[0]) for p in procs if p.poll() is not None]  # type: ignore[index]


def _wait_serving(endpoint: str, procs: list[subprocess.Popen[bytes]]) -> str:
    """Wait until Swift serves S3 end to end: the proxy's health check, then a bucket and an
    object stored through s3api, which needs the account, container and object servers too
    (the proxy answers its health check before they listen, and then 503 to every request:
    a CI run lost two tests to a first bucket refused for 20 s). Returns "" when serving, or
    why not: a daemon died (e.g. another process took its port first) or 90 s passed."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    context = ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE"))
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=10),
    )
    deadline = time.monotonic() + 90
    healthy = False
    while True:
        try:
            if not healthy:
                with urllib.request.urlopen(f"{endpoint}/healthcheck", context=context, timeout=5):
                    healthy = True
            try:
                client.create_bucket(Bucket="s3vault-ready")
            except ClientError as exc:  # made by an earlier pass whose object write failed
                if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                    raise
            client.put_object(Bucket="s3vault-ready", Key="ready", Body=b"ready")
            return ""
        except (OSError, BotoCoreError, ClientError):
            dead = _dead(procs)
            if dead:
                return f"{', '.join(dead)} died"
            if time.monotonic() > deadline:
                return "not serving after 90 s"
            time.sleep(0.2)


def _start(state: Path, tls: tuple[Path, Path]) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """Swift's four daemons on fresh ports, serving; or pytest.fail after three tries."""
    why = ""
    for attempt in range(3):
        etc, devices = state / f"etc{attempt or ''}", state / f"srv{attempt or ''}"
        etc.mkdir()
        (devices / "d1").mkdir(parents=True, exist_ok=True)
        ports = {name: free_port() for name in (*_SERVERS, "proxy")}
        _write_config(etc, devices, ports, tls)
        subprocess.run(
            [sys.executable, "-c", _RINGS, str(etc), *(str(ports[k]) for k in _SERVERS)],
            check=True,
        )
        procs = []
        for kind in (*_SERVERS, "proxy"):
            with (state / f"{kind}.log").open("ab") as log:
                procs.append(
                    subprocess.Popen(
                        [str(_bin(f"swift-{kind}-server")), str(etc / f"{kind}-server.conf")],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        endpoint = f"https://127.0.0.1:{ports['proxy']}"
        why = _wait_serving(endpoint, procs)
        if not why:
            return endpoint, procs
        _stop(procs)
    logs = "\n".join(f.read_text()[-2000:] for f in sorted(state.glob("*.log")))
    pytest.fail(f"Swift did not start ({why}):\n{logs}")


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def swift_server(
    s3_ca: tuple[Path, Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SwiftServer]:
    """Swift + s3api over TLS for the whole session."""
    if os.environ.get(SKIP_SWITCH) == "1":
        pytest.skip(f"{SKIP_SWITCH}=1: the Swift tests were switched off on this machine")
    if not _bin("swift-proxy-server").exists():
        pytest.fail(
            "Swift is not installed in the test environment (pip install -e '.[test]'); "
            f"set {SKIP_SWITCH}=1 to skip its tests deliberately"
        )
    state = tmp_path_factory.mktemp("swift")
    endpoint, procs = _start(state, (s3_ca[1], s3_ca[2]))
    try:
        yield SwiftServer(endpoint)
    finally:
        _stop(procs)
