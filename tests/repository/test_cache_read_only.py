"""A cache directory that cannot be written (a read-only home, a --cache-dir of another user)
costs time, never the command: nothing local to the cache raises, the first failure is kept
once in CacheWrites for the command to say, and later writes are not tried."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from s3vault import BackupOptions, backup, open_repository
from s3vault.backend.objectlock import LockPolicy
from s3vault.ids import ObjectId
from s3vault.maintenance.immutability import save_known
from s3vault.repository.audit import ChainEnd, LocalChains
from s3vault.repository.cache import CacheWrites, FileCache, IndexCache, TreePackCache
from s3vault.repository.index import BlobIndex
from s3vault.repository.known import KnownRepositories
from s3vault.repository.snapshots import list_snapshots
from tests.conftest import RepoHandle, write_file
from tests.readonly import KINDS, unwritable

REPO_ID = ObjectId(bytes(range(32)))
OTHER = ObjectId(bytes(32))


class LearntLocks:
    """What an Object Lock store remembers between runs (only known_locks is asked)."""

    def adopt_lock(self, policy: LockPolicy) -> None:
        del policy

    def retained_until(self, names: Sequence[str]) -> dict[str, float]:
        return dict.fromkeys(names, 2e9)

    def extend_locks(self, names: Sequence[str], until: float) -> int:
        del until
        return len(names)

    def known_locks(self) -> dict[str, float]:
        return {"data/ab/abc": 2e9}

    def remember_locks(self, known: dict[str, float]) -> None:
        del known


@pytest.mark.parametrize("kind", KINDS)
def test_cache_writers_never_raise_and_keep_the_first_failure(tmp_path: Path, kind: str) -> None:
    with unwritable(tmp_path / "cache", kind) as cache:
        writes = CacheWrites()
        IndexCache(cache, REPO_ID, bytes(32), writes).save({OTHER}, BlobIndex())
        assert writes.problem is not None and str(cache) in writes.problem
        first = writes.problem
        TreePackCache(cache, REPO_ID, writes).store(OTHER, b"pack")  # not tried any more
        FileCache(cache, REPO_ID, writes).store("snapshots", OTHER, b"sealed")
        assert writes.problem == first
        for store in (
            lambda w: TreePackCache(cache, REPO_ID, w).store(OTHER, b"pack"),
            lambda w: FileCache(cache, REPO_ID, w).store("snapshots", OTHER, b"sealed"),
        ):
            alone = CacheWrites()
            store(alone)
            assert alone.problem is not None and str(cache) in alone.problem
        TreePackCache(cache, REPO_ID).drop(OTHER)
        FileCache(cache, REPO_ID).drop("snapshots", OTHER)
        FileCache(cache, REPO_ID).retain("snapshots", set())
        KnownRepositories(cache).remember("/somewhere", REPO_ID)
        chains = LocalChains(cache / REPO_ID.hex())
        with chains.locked():
            chains.write({"tag": ChainEnd(1, OTHER)})
        assert chains.read() == {}
        if kind != "not-a-directory":
            assert list(cache.iterdir()) == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_repository_opens_and_reads_with_a_cache_it_cannot_write(
    tmp_path: Path, local_repo: RepoHandle, kind: str
) -> None:
    write_file(tmp_path / "src" / "a", os.urandom(50_000))
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "src"),)))
    with unwritable(tmp_path / "blank", kind) as cache:
        repo = open_repository(dataclasses.replace(local_repo.options, cache_dir=cache))
        ((_, snap),) = list_snapshots(repo)
        assert repo.load_tree(snap.tree).nodes
        assert repo.cache_writes.problem is not None
        assert str(cache) in repo.cache_writes.problem
        save_known(repo, LearntLocks(), now=0.0)
        if kind != "not-a-directory":
            assert list(cache.iterdir()) == []
