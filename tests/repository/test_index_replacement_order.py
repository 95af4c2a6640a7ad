"""Prune and `repair index` replace the index files they read by new ones, several when the
packs are many (PACKS_PER_INDEX each). Only the last file written may name the old ones in
its `supersedes`: a reader that lists index/ after the first new file is stored and before the
last (any command beside a prune) must still index every pack, and a prune stopped between two
of its index files (a dropped connection, a kill) must leave a repository that verify passes
and the next prune finishes.

The reader here is a real one (read_index, verify's structure read) on a second handle, run the
moment the writer has stored its first new index file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from s3vault import BackupOptions, backup, open_repository
from s3vault.backend.forwarding import ForwardingBackend
from s3vault.backend.local import LocalBackend
from s3vault.checker import repair as index_repair
from s3vault.checker.findings import Finding
from s3vault.checker.structure import check_structure
from s3vault.errors import BackendError
from s3vault.format.packfile import BlobType
from s3vault.maintenance import prune as prune_engine
from s3vault.maintenance.prune import PruneOptions
from s3vault.ops.prune import prune
from s3vault.ops.repair import repair_index
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import list_snapshots
from tests.conftest import RepoHandle, write_file


class AfterFirstIndexFile(ForwardingBackend):
    """Runs ``then`` once, right after the first index file this handle stores; with
    ``fail_after``, every later index file's PUT fails (the connection dropped)."""

    def __init__(self, inner: LocalBackend, then: Callable[[], None], *, fail_after: bool) -> None:
        super().__init__(inner)
        self._then = then
        self._fail_after = fail_after
        self.index_puts = 0

    def put(self, name: str, data: bytes) -> None:
        if name.startswith("index/") and self.index_puts and self._fail_after:
            raise BackendError(f"{name}: connection dropped (test)")
        super().put(name, data)
        if name.startswith("index/"):
            self.index_puts += 1
            if self.index_puts == 1:
                self._then()


def _several_packs(tmp_path: Path, handle: RepoHandle, monkeypatch: pytest.MonkeyPatch) -> int:
    """Three backups (a tree pack and a data pack each), one pack per new index file from
    here on; returns how many packs the repository holds."""
    for run in range(3):
        write_file(tmp_path / "src" / f"f{run}", bytes([run]) * 5000)
        backup(handle.open(), BackupOptions(paths=(str(tmp_path / "src"),), host="h"))
    monkeypatch.setattr(prune_engine, "PACKS_PER_INDEX", 1)
    monkeypatch.setattr(index_repair, "PACKS_PER_INDEX", 1)
    packs = handle.open().read_index().pack_count
    assert packs >= 4
    return packs


def _reader(handle: RepoHandle, tmp_path: Path) -> Repository:
    """A second handle with its own (empty) cache, as another host's command."""
    return open_repository(replace(handle.options, cache_dir=tmp_path / "c2"))


class Seen:
    """What a reader saw in the middle of the writer's run."""

    def __init__(self, handle: RepoHandle, tmp_path: Path) -> None:
        self._handle = handle
        self._tmp = tmp_path
        self.packs: int | None = None
        self.errors: list[str] | None = None

    def __call__(self) -> None:
        self.packs = _reader(self._handle, self._tmp).read_index().pack_count
        findings: list[Finding] = []
        check_structure(_reader(self._handle, self._tmp), findings)
        self.errors = [f.message for f in findings if f.severity.name == "ERROR"]


def _writer(
    handle: RepoHandle, then: Callable[[], None], *, fail_after: bool = False
) -> tuple[Repository, AfterFirstIndexFile]:
    backend = AfterFirstIndexFile(LocalBackend(Path(handle.url)), then, fail_after=fail_after)
    return open_repository(handle.options, backend=backend), backend


def _all_roots_indexed(repo: Repository) -> Iterator[bool]:
    index = repo.read_index()
    for _sid, snap in list_snapshots(repo):
        yield index.lookup(BlobType.TREE, snap.tree) is not None


def test_a_reader_between_prunes_index_files_indexes_every_pack(
    tmp_path: Path, local_repo: RepoHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    packs = _several_packs(tmp_path, local_repo, monkeypatch)
    seen = Seen(local_repo, tmp_path)
    repo, backend = _writer(local_repo, seen)
    prune(repo, PruneOptions())
    assert backend.index_puts == packs
    assert seen.packs == packs
    assert seen.errors == []
    assert local_repo.open().read_index().pack_count == packs


def test_a_reader_between_repair_index_files_indexes_every_pack(
    tmp_path: Path, local_repo: RepoHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    packs = _several_packs(tmp_path, local_repo, monkeypatch)
    index_dir = Path(local_repo.url) / "index"
    first = sorted(p for p in index_dir.rglob("*") if p.is_file())[0]
    first.unlink()  # its packs are now in no index file: repair index has work to do
    before = _reader(local_repo, tmp_path).read_index().pack_count
    assert 2 <= before < packs
    seen = Seen(local_repo, tmp_path)
    repo, backend = _writer(local_repo, seen)
    repair_index(repo)
    assert backend.index_puts == packs
    assert seen.packs is not None and seen.packs >= before
    assert local_repo.open().read_index().pack_count == packs


def test_a_prune_stopped_between_its_index_files_loses_nothing(
    tmp_path: Path, local_repo: RepoHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second new index file's PUT fails: the prune stops with the store's error, the old
    index files stay live beside the one new file, verify finds no error, and the next prune
    finishes the job."""
    packs = _several_packs(tmp_path, local_repo, monkeypatch)
    repo, _backend = _writer(local_repo, lambda: None, fail_after=True)
    with pytest.raises(BackendError, match="connection dropped"):
        prune(repo, PruneOptions())
    assert local_repo.open().read_index().pack_count == packs
    findings: list[Finding] = []
    check_structure(_reader(local_repo, tmp_path), findings)
    assert [f.message for f in findings if f.severity.name == "ERROR"] == []
    assert all(_all_roots_indexed(local_repo.open()))
    prune(local_repo.open(), PruneOptions())
    assert local_repo.open().read_index().pack_count == packs
    index_files = [p for p in (Path(local_repo.url) / "index").rglob("*") if p.is_file()]
    assert len(index_files) == packs  # one pack each, the old files gone
