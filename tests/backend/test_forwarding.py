"""ForwardingBackend and capabilities: every wrapper passes the contract and hands out the
wrapped store's capabilities, so nobody needs to look past the wrappers at the raw store."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3vault.backend.accounting import AccountingBackend
from s3vault.backend.base import Backend, Guarantees
from s3vault.backend.capabilities import NO_CAPABILITIES, Capabilities
from s3vault.backend.dryrun import DryRunBackend
from s3vault.backend.forwarding import ForwardingBackend
from s3vault.backend.local import LocalBackend
from s3vault.backend.memory import MemoryBackend
from s3vault.backend.prefetch import PrefetchingBackend
from s3vault.backend.ratelimit import RateLimitedBackend, TokenBucket
from s3vault.backend.retry import RetryBackend
from s3vault.backend.s3 import S3Backend, S3Settings
from s3vault.backend.stack import build_stack
from tests.backend.conformance import BackendContract


def _limited(inner: Backend) -> Backend:
    return RateLimitedBackend(inner, upload=TokenBucket(1 << 30), download=TokenBucket(1 << 30))


WRAPPERS = {
    "forwarding": ForwardingBackend,
    "accounting": AccountingBackend,
    "ratelimit": _limited,
    "retry": RetryBackend,
    "prefetch": lambda inner: PrefetchingBackend(inner, ["data/", "index/"]),
}


class TestForwardingOverLocal(BackendContract):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Backend:
        return ForwardingBackend(LocalBackend(tmp_path / "repo"))


def test_forwarding_passes_location_remote_and_guarantees() -> None:
    weak = Guarantees(atomic_create=False, compare_and_swap=False)
    for wrap in (*WRAPPERS.values(), DryRunBackend):
        backend = wrap(MemoryBackend(guarantees=weak))
        assert backend.location == "memory:"
        assert backend.remote is False
        assert backend.guarantees == weak
        assert backend.capabilities == NO_CAPABILITIES


def test_a_plain_store_has_no_capabilities(tmp_path: Path) -> None:
    assert LocalBackend(tmp_path).capabilities == Capabilities()
    assert MemoryBackend().capabilities == Capabilities()


def test_every_wrapper_hands_out_the_s3_stores_capabilities(s3_server: str, s3_bucket: str) -> None:
    raw = S3Backend(S3Settings(bucket=s3_bucket, endpoint_url=s3_server))
    caps = raw.capabilities
    assert caps.streaming is not None and caps.streaming.counts is raw.counts
    assert caps.probing is raw
    assert caps.object_lock is not None
    for wrap in WRAPPERS.values():
        assert wrap(raw).capabilities == caps
    assert build_stack(raw).backend.capabilities == caps
    nested = RetryBackend(AccountingBackend(ForwardingBackend(raw)))
    assert nested.capabilities.object_lock is caps.object_lock


def test_the_dry_run_withholds_the_capabilities_that_write(s3_server: str, s3_bucket: str) -> None:
    raw = S3Backend(S3Settings(bucket=s3_bucket, endpoint_url=s3_server))
    caps = DryRunBackend(build_stack(raw).backend).capabilities
    assert caps.streaming is raw.capabilities.streaming
    assert caps.probing is None  # a probe writes objects
    assert caps.object_lock is None  # extending a lock is a write
