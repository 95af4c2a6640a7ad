"""Every backend and wrapper passes the same contract (the dry run drops writes by design;
tests/backend/test_dryrun.py covers it, and test_s3.py the whole stack over memory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3vault.backend.accounting import AccountingBackend
from s3vault.backend.base import Backend
from s3vault.backend.forwarding import ForwardingBackend
from s3vault.backend.local import LocalBackend
from s3vault.backend.memory import MemoryBackend
from s3vault.backend.ratelimit import RateLimitedBackend, TokenBucket
from s3vault.backend.retry import RetryBackend
from s3vault.errors import BackendError
from tests.backend.conformance import BackendContract


class TestMemoryBackend(BackendContract):
    @pytest.fixture
    def backend(self) -> Backend:
        return MemoryBackend()


class TestLocalBackend(BackendContract):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Backend:
        return LocalBackend(tmp_path / "repo")


def test_local_backend_leaves_no_temporary_files(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path)
    backend.put("data/ab/x", b"1")
    with pytest.raises(BackendError):
        backend.put("data/ab/x", b"2")
    assert sorted(p.name for p in (tmp_path / "data" / "ab").iterdir()) == ["x"]


def test_local_backend_refuses_escaping_names(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "repo")
    for name in ("../x", "data/../../x", "", "data//x", "data/.tmp-1"):
        with pytest.raises(BackendError):
            backend.put(name, b"x")


class TestForwardingOverMemory(BackendContract):
    @pytest.fixture
    def backend(self) -> Backend:
        return ForwardingBackend(MemoryBackend())


class TestAccountingOverMemory(BackendContract):
    @pytest.fixture
    def backend(self) -> Backend:
        return AccountingBackend(MemoryBackend())


class TestRateLimitedOverMemory(BackendContract):
    @pytest.fixture
    def backend(self) -> Backend:
        return RateLimitedBackend(
            MemoryBackend(), upload=TokenBucket(1 << 30), download=TokenBucket(1 << 30)
        )


class TestRetryOverLocal(BackendContract):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> Backend:
        return RetryBackend(LocalBackend(tmp_path / "repo"), sleep=lambda _s: None)
