"""The local index cache: used when valid, rebuilt when damaged, stale or missing; never trusted
over the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from s3vault import BackupOptions, backup
from s3vault.format.packfile import BlobType
from tests.conftest import RepoHandle, write_file


def cache_file(handle: RepoHandle) -> Path:
    (path,) = handle.cache.glob("*/index")
    return path


def test_cache_is_written_and_reused(tmp_path: Path, local_repo: RepoHandle) -> None:
    write_file(tmp_path / "src" / "a", os.urandom(100_000))
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "src"),)))
    repo = local_repo.open()
    path = cache_file(local_repo)
    assert path.stat().st_mode & 0o777 == 0o600
    blobs = sorted((t, i) for t, i, _ in repo.index.entries())
    assert blobs
    mtime = path.stat().st_mtime_ns
    again = local_repo.open()  # nothing new: the cache is read, not rewritten
    assert path.stat().st_mtime_ns == mtime
    assert sorted((t, i) for t, i, _ in again.index.entries()) == blobs


def test_damaged_cache_is_rebuilt(tmp_path: Path, local_repo: RepoHandle) -> None:
    write_file(tmp_path / "src" / "a", os.urandom(100_000))
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "src"),)))
    expected = sorted((t, i) for t, i, _ in local_repo.open().index.entries())
    path = cache_file(local_repo)
    for damage in (b"", b"garbage", path.read_bytes()[:-7]):
        path.write_bytes(damage)
        repo = local_repo.open()
        assert sorted((t, i) for t, i, _ in repo.index.entries()) == expected
    assert len(path.read_bytes()) > 100  # rewritten whole


def test_a_damaged_cache_is_said_with_its_reason(
    tmp_path: Path, local_repo: RepoHandle, caplog: pytest.LogCaptureFixture
) -> None:
    """A flipped byte was "index cache ... is damaged (); rebuilding it": InvalidTag has no
    text, and garbage parsed before the tag is checked gave a parser's message instead."""
    write_file(tmp_path / "src" / "a", os.urandom(100_000))
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "src"),)))
    local_repo.open()
    path = cache_file(local_repo)
    good = path.read_bytes()
    for at in (50, len(good) - 5):  # in the entries, in the tag
        raw = bytearray(good)
        raw[at] ^= 1
        path.write_bytes(bytes(raw))
        caplog.clear()
        local_repo.open()
        said = [r.getMessage() for r in caplog.records if "index cache" in r.getMessage()]
        assert len(said) == 1 and "does not authenticate (damaged" in said[0], said


def test_cache_picks_up_new_index_files(tmp_path: Path, local_repo: RepoHandle) -> None:
    write_file(tmp_path / "src" / "a", os.urandom(100_000))
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "src"),)))
    local_repo.open()  # cache now covers the first backup
    other = RepoHandle(url=local_repo.url, cache=tmp_path / "other-host-cache")
    write_file(tmp_path / "src" / "b", os.urandom(100_000))
    result = backup(other.open(), BackupOptions(paths=(str(tmp_path / "src"),)))
    assert result.data_blobs == 1
    repo = local_repo.open()  # the first cache must learn about the other host's packs
    node_ids = {i for t, i, _ in repo.index.entries() if t is BlobType.DATA}
    assert len(node_ids) == 2


def test_cache_of_another_repository_is_ignored(tmp_path: Path, local_repo: RepoHandle) -> None:
    write_file(tmp_path / "src" / "a", os.urandom(10_000))
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "src"),)))
    local_repo.open()
    path = cache_file(local_repo)
    forged = path.parent.parent / ("f" * 64) / "index"
    forged.parent.mkdir()
    forged.write_bytes(path.read_bytes())
    path.unlink()
    path.write_bytes(b"")  # the real one is gone; a copy sits under another repository id
    assert sorted(local_repo.open().index.entries()) != []


def test_tree_packs_are_cached_so_incrementals_fetch_none(tmp_path: Path) -> None:
    from s3vault import InitOptions, RepoOptions, init, open_repository
    from s3vault.backend.memory import MemoryBackend
    from tests.conftest import PASSWORD, TEST_SETTINGS

    class Counting(MemoryBackend):
        tree_gets = 0

        def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
            if name.startswith("tree/"):
                self.tree_gets += 1
            return super().get(name, offset, length)

    store = Counting()
    opts = RepoOptions(url="memory:", password=PASSWORD.encode(), cache_dir=tmp_path / "cache")
    init(opts, InitOptions(settings=TEST_SETTINGS), backend=store)
    for i in range(5):
        write_file(tmp_path / "src" / f"d{i}" / "f", os.urandom(1000))
    backup(open_repository(opts, backend=store), BackupOptions(paths=(str(tmp_path / "src"),)))
    store.tree_gets = 0
    result = backup(
        open_repository(opts, backend=store), BackupOptions(paths=(str(tmp_path / "src"),))
    )
    assert result.files_unmodified == 5
    assert store.tree_gets == 0  # every parent tree came from the local tree-pack cache
    other = RepoOptions(url="memory:", password=PASSWORD.encode(), cache_dir=tmp_path / "new")
    backup(open_repository(other, backend=store), BackupOptions(paths=(str(tmp_path / "src"),)))
    assert 0 < store.tree_gets <= 2  # a fresh cache fetches each tree pack once, whole


def test_snapshot_files_are_cached_checked_and_pruned_with_the_repository(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    from s3vault.backend.accounting import AccountingBackend
    from s3vault.backend.local import LocalBackend
    from s3vault.errors import ObjectNotFoundError
    from s3vault.format.layout import ObjectKind
    from s3vault.ops.session import open_repository
    from s3vault.repository.snapshots import list_snapshots

    write_file(tmp_path / "src" / "a", os.urandom(10_000))
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "src"),)))
    counting = AccountingBackend(LocalBackend(Path(local_repo.url)))
    repo = open_repository(local_repo.options, backend=counting)
    first = list_snapshots(repo)  # fetched and cached
    (cached,) = local_repo.cache.glob("*/files/snapshots/*")
    assert cached.stat().st_mode & 0o777 == 0o600
    fetched = counting.counts.get  # by the opening and the first listing
    assert list_snapshots(repo) == first
    assert counting.counts.get == fetched  # the listing is the only request
    cached.write_bytes(b"damaged" + cached.read_bytes()[7:])
    assert list_snapshots(repo) == first  # a damaged copy is dropped and fetched again
    assert counting.counts.get == fetched + 1
    repo.backend.delete(repo.name_of(ObjectKind.SNAPSHOTS, first[0][0]))  # forgotten elsewhere
    assert list_snapshots(repo) == []
    assert not cached.exists()
    try:
        repo.load_file(ObjectKind.SNAPSHOTS, first[0][0])
    except ObjectNotFoundError:
        pass
    else:
        raise AssertionError("a forgotten snapshot must not be served from the cache")
