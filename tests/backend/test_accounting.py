"""AccountingBackend: every call counted by kind, bytes counted each way."""

from __future__ import annotations

from pathlib import Path

import pytest

from s3vault.backend.accounting import AccountingBackend, RequestCounts
from s3vault.backend.local import LocalBackend
from s3vault.backend.memory import MemoryBackend
from s3vault.errors import ObjectNotFoundError


def test_accounting_counts_each_kind_and_the_bytes_each_way() -> None:
    backend = AccountingBackend(MemoryBackend())
    backend.put("data/a", b"x" * 100)
    backend.put("data/b", b"y" * 10)
    assert backend.get("data/a", 10, 20) == b"x" * 20
    backend.stat("data/a")
    list(backend.list("data/"))
    backend.replace("data/b", b"z" * 5, backend.stat("data/b").version)
    backend.server_time()
    backend.delete("data/a")
    backend.delete_many(["data/b", "data/gone"])
    assert backend.counts == RequestCounts(
        put=3, get=1, head=3, list=1, delete=3, bytes_up=115, bytes_down=20
    )


def test_accounting_counts_a_failed_request_but_no_bytes_it_never_got() -> None:
    backend = AccountingBackend(MemoryBackend())
    with pytest.raises(ObjectNotFoundError):
        backend.get("index/missing")
    with pytest.raises(ObjectNotFoundError):
        backend.stat("index/missing")
    assert backend.counts.get == 0 and backend.counts.bytes_down == 0  # counted on arrival
    assert backend.counts.head == 1  # a HEAD is sent whatever its answer


def test_accounting_counts_temporaries_as_a_listing_and_their_removal_as_a_delete(
    tmp_path: Path,
) -> None:
    inner = LocalBackend(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / ".tmp-killed").write_bytes(b"half a pack")
    backend = AccountingBackend(inner)
    assert [t.name for t in backend.temporaries()] == ["data/.tmp-killed"]
    backend.delete_temporary("data/.tmp-killed")
    assert list(inner.temporaries()) == []
    assert backend.counts == RequestCounts(list=1, delete=1)


def test_request_counts_snapshot_is_a_copy() -> None:
    backend = AccountingBackend(MemoryBackend())
    backend.put("config", b"c")
    before = backend.counts.snapshot()
    backend.put("keys/k", b"k")
    assert before == RequestCounts(put=1, bytes_up=1)
    assert backend.counts.put == 2
