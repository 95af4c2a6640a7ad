"""The blob writer indexes what it stored every N packs or every T seconds, whichever comes
first, so a killed run leaves little stored but unindexed (a rerun sends the rest only)."""

from __future__ import annotations

import os
from pathlib import Path

from s3vault import InitOptions, RepoOptions, init
from s3vault.backend.local import LocalBackend
from s3vault.format.packfile import BlobType
from s3vault.repository.repository import Repository, RepositorySettings
from s3vault.repository.writer import BlobWriter
from tests.conftest import PASSWORD


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def index_files(root: Path) -> int:
    return sum(1 for p in (root / "index").rglob("*") if p.is_file())


def test_index_files_by_pack_count_and_by_time(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    settings = RepositorySettings(kdf_cost="minimum", pack_size=64 * 1024)
    init(RepoOptions(url=str(root), password=PASSWORD.encode()), InitOptions(settings=settings))
    repo = Repository.open(LocalBackend(root), PASSWORD.encode(), cache_dir=None)
    repo = repo.with_index(repo.read_index())
    clock = Clock()
    writer = BlobWriter(
        backend=repo.backend,
        sealer=repo.sealer,
        index=repo.index,
        save_index=repo.save_index,
        pack_size=64 * 1024,
        compression_level=0,
        index_every=4,
        index_interval=60,
        monotonic=clock,
    )

    def store_packs(n: int) -> None:
        for _ in range(n):  # one random 70 KB blob fills a 64 KiB pack: one pack each
            writer.save(BlobType.DATA, os.urandom(70_000))

    store_packs(3)
    assert index_files(root) == 0  # neither 4 packs nor 60 s yet
    store_packs(1)
    assert index_files(root) == 1  # the 4th pack
    store_packs(1)
    clock.now += 59
    store_packs(1)
    assert index_files(root) == 1
    clock.now += 2  # 61 s since the first unindexed pack was started
    store_packs(1)
    assert index_files(root) == 2
    writer.flush()  # nothing left unindexed
    assert index_files(root) == 2
    assert len(repo.index) == 7


def test_index_files_by_entry_count(tmp_path: Path) -> None:
    """Packs of many tiny blobs: the unindexed entries wait in memory, so an index file comes
    as soon as they reach index_entries, before index_every packs."""
    root = tmp_path / "repo"
    settings = RepositorySettings(kdf_cost="minimum", pack_size=64 * 1024)
    init(RepoOptions(url=str(root), password=PASSWORD.encode()), InitOptions(settings=settings))
    repo = Repository.open(LocalBackend(root), PASSWORD.encode(), cache_dir=None)
    repo = repo.with_index(repo.read_index())
    writer = BlobWriter(
        backend=repo.backend,
        sealer=repo.sealer,
        index=repo.index,
        save_index=repo.save_index,
        pack_size=64 * 1024,
        compression_level=0,
        index_every=32,
        index_entries=25,
        monotonic=Clock(),
    )
    for _ in range(3):  # a pack of 10 blobs of 7,000 random bytes each: 3 packs, 30 entries
        for _ in range(10):
            writer.save(BlobType.DATA, os.urandom(7_000))
    assert index_files(root) == 1  # the third pack took the entries to 30 >= 25
    writer.flush()
    assert index_files(root) == 1 and len(repo.index) == 30
