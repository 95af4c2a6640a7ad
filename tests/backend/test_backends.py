"""Every backend and wrapper passes the same contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3vault.backend.base import Backend
from s3vault.backend.local import LocalBackend
from s3vault.backend.memory import MemoryBackend
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
