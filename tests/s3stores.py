"""The S3 stores the S3 suite runs against, as one parametrized fixture.

- ``moto``: the https moto server with boto3's defaults (atomic conditional writes, If-Match).
- ``swift``: Swift 2.38 s3api over https with boto3's defaults (aws-chunked uploads with a
  trailing CRC32, which Swift verifies).
- ``swift-compat``: the same Swift with s3vault's compatibility dialect (``when_required``
  checksums + Content-MD5), what ``init`` picks on a store that rejects the default.

On Swift, concurrent create-only writes are not atomic and If-Match is not supported, so the
backend is told so (what the capability probe finds; tests of the probe itself are separate).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pytest

from s3vault.backend.s3 import S3Backend, S3Settings
from tests.s3server import reset_and_create
from tests.swiftserver import SwiftServer

STORES = ("moto", "swift", "swift-compat")


@dataclass(frozen=True, slots=True)
class S3Store:
    """A bucket on one of the test stores, and how to reach it."""

    name: str
    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    checksum: str | None = None  # None: boto3's defaults
    exclusive: bool = True  # atomic create-only writes and If-Match

    def settings(self, **overrides: Any) -> S3Settings:
        """S3Settings for this bucket (``overrides`` win)."""
        values: dict[str, Any] = {
            "bucket": self.bucket,
            "endpoint_url": self.endpoint,
            "checksum": self.checksum,
            "atomic_create": self.exclusive,
            "compare_and_swap": self.exclusive,
        }
        values.update(overrides)
        return S3Settings(**values)

    def backend(self, **overrides: Any) -> S3Backend:
        return S3Backend(self.settings(**overrides))

    def env(self, base: dict[str, str], endpoint: str | None = None) -> dict[str, str]:
        """Environment for a CLI subprocess (``endpoint``: through a proxy instead)."""
        env = {
            **base,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint or self.endpoint,
        }
        if "AWS_CA_BUNDLE" in os.environ:
            env["AWS_CA_BUNDLE"] = os.environ["AWS_CA_BUNDLE"]
        return env

    @property
    def cli_args(self) -> tuple[str, ...]:
        """Global options that select this store's dialect."""
        return ("--s3-checksum", self.checksum) if self.checksum else ()

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
        )


@pytest.fixture(params=STORES)
def s3_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> S3Store:
    """A fresh bucket on each store in turn; boto3 in this process gets its credentials."""
    if request.param == "moto":
        endpoint: str = request.getfixturevalue("s3_server")
        _credentials(monkeypatch, endpoint, "test", "test")
        return S3Store("moto", endpoint, reset_and_create(endpoint), "test", "test")
    swift: SwiftServer = request.getfixturevalue("swift_server")
    _credentials(monkeypatch, swift.endpoint, swift.access_key, swift.secret_key)
    return S3Store(
        request.param,
        swift.endpoint,
        swift.new_bucket(),
        swift.access_key,
        swift.secret_key,
        checksum="when_required" if request.param == "swift-compat" else None,
        exclusive=False,
    )


def _credentials(monkeypatch: pytest.MonkeyPatch, endpoint: str, key: str, secret: str) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }.items():
        monkeypatch.setenv(name, value)
