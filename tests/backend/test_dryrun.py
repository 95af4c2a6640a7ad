"""DryRunBackend: reads pass through, writes and deletes are counted and never reach the
store (its capabilities: tests/backend/test_forwarding.py)."""

from __future__ import annotations

from pathlib import Path

from s3vault.backend.dryrun import DryRunBackend
from s3vault.backend.local import LocalBackend
from s3vault.backend.memory import MemoryBackend


def test_dry_run_counts_writes_and_deletes_and_drops_them() -> None:
    inner = MemoryBackend()
    inner.put("data/kept", b"stored")
    backend = DryRunBackend(inner)
    backend.put("data/new", b"12345")
    backend.put("data/kept", b"again")  # not even an ObjectExistsError: nothing is sent
    backend.delete("data/kept")
    backend.delete_many(["data/kept", "data/other"])
    assert (backend.puts, backend.put_bytes, backend.deletes) == (2, 10, 3)
    assert [i.name for i in inner.list("")] == ["data/kept"]
    assert inner.get("data/kept") == b"stored"


def test_dry_run_reads_pass_through() -> None:
    inner = MemoryBackend()
    inner.put("index/i", bytes(range(10)))
    backend = DryRunBackend(inner)
    assert backend.get("index/i", 2, 3) == bytes([2, 3, 4])
    assert backend.stat("index/i") == inner.stat("index/i")
    assert list(backend.list("index/")) == list(inner.list("index/"))


def test_dry_run_replace_reports_the_object_as_it_is() -> None:
    inner = MemoryBackend()
    inner.put("locks/lease", b"held")
    before = inner.stat("locks/lease")
    backend = DryRunBackend(inner)
    assert backend.replace("locks/lease", b"taken", before.version) == before
    assert inner.get("locks/lease") == b"held"
    assert backend.puts == 1


def test_dry_run_leaves_temporary_files_where_they_are(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / ".tmp-killed").write_bytes(b"half a pack")
    backend = DryRunBackend(LocalBackend(tmp_path))
    (leftover,) = backend.temporaries()
    backend.delete_temporary(leftover.name)
    assert (tmp_path / "data" / ".tmp-killed").exists()
    assert backend.deletes == 1
