"""A store that refuses or does not answer is no evidence of damage. verify's walk of the
snapshots' trees reported a tree it could not fetch (permission denied on a local store; a
connection that failed after every retry) as lost content, exit 13 with the advice to run
`repair snapshots`; it now ends with the store's own error (exit 1 or 14), as the read-back
and `repair snapshots` already did. A pack that is gone is still damage."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from s3vault import BackupOptions, backup, open_repository
from s3vault.backend.forwarding import ForwardingBackend
from s3vault.backend.local import LocalBackend
from s3vault.errors import (
    AccessDeniedError,
    BackendError,
    BackendUnavailableError,
    ExitCode,
    NoSuchBucketError,
)
from s3vault.ops.verify import VerifyOptions, verify
from tests.conftest import RepoHandle, write_file


class RefusingTrees(ForwardingBackend):
    """Every read of a tree pack fails with ``error``."""

    def __init__(self, inner: LocalBackend, error: BackendError) -> None:
        super().__init__(inner)
        self._error = error

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if name.startswith("tree/"):
            raise self._error
        return super().get(name, offset, length)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (AccessDeniedError("tree/..: permission denied"), ExitCode.FATAL),
        (BackendUnavailableError("tree/..: connection failed after 5 tries"), 14),
    ],
)
@pytest.mark.parametrize("read_data", [False, True])
def test_a_tree_the_store_will_not_give_is_no_lost_content(
    tmp_path: Path, local_repo: RepoHandle, error: BackendError, code: int, read_data: bool
) -> None:
    write_file(tmp_path / "src" / "a" / "f", b"data\n")
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "src"),)))
    backend = RefusingTrees(LocalBackend(Path(local_repo.url)), error)
    fresh = replace(local_repo.options, cache_dir=tmp_path / "fresh-cache")  # no cached trees
    repo = open_repository(fresh, backend=backend)
    with pytest.raises(BackendError) as raised:
        verify(repo, VerifyOptions(read_data=read_data, jobs=1))
    assert raised.value.exit_code == code
    assert verify(open_repository(fresh)).ok  # the repository itself is whole


class RefusingData(ForwardingBackend):
    """Every read of a data pack fails: the store will not give it."""

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if name.startswith("data/"):
            raise BackendUnavailableError(f"{name}: connection failed after 5 tries")
        return super().get(name, offset, length)


@pytest.mark.parametrize("jobs", [1, 2])  # in the parent, and in worker processes
def test_a_data_pack_the_store_will_not_give_is_not_checked_not_damaged(
    tmp_path: Path, local_repo: RepoHandle, jobs: int
) -> None:
    """The read-back goes on past it; alone, the run ends with the store's error and says
    how many packs were not checked; beside real damage, it is said and the damage decides."""
    write_file(tmp_path / "src" / "f", b"data\n")
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "src"),)))
    fresh = replace(local_repo.options, cache_dir=tmp_path / "fresh-cache")
    repo = open_repository(fresh, backend=RefusingData(LocalBackend(Path(local_repo.url))))
    with pytest.raises(BackendUnavailableError, match=r"1 object\(s\) could not be read"):
        verify(repo, VerifyOptions(read_data=True, jobs=jobs))
    tree_pack = next(p for p in (Path(local_repo.url) / "tree").rglob("*") if p.is_file())
    raw = tree_pack.read_bytes()  # real damage beside it: a flipped byte (a fixed one may match)
    tree_pack.write_bytes(bytes([raw[0] ^ 0xFF]) + raw[1:])
    repo = open_repository(fresh, backend=RefusingData(LocalBackend(Path(local_repo.url))))
    result = verify(repo, VerifyOptions(read_data=True, jobs=jobs))
    assert not result.ok
    kinds = {(f.severity.value, f.kind) for f in result.findings}
    assert ("info", "not-checked") in kinds
    assert any(sev == "error" for sev, _ in kinds)


def test_damage_beside_a_refused_tree_is_still_damage(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    """A damaged data pack and a tree the store will not give: the damage is found and decides
    (13 in the CLI: not ok), the tree is said as not checked. The refused tree ended the run
    with the store's error and the damage was never reported."""
    write_file(tmp_path / "src" / "f", os.urandom(200_000))
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "src"),)))
    data_pack = next(p for p in (Path(local_repo.url) / "data").rglob("*") if p.is_file())
    raw = bytearray(data_pack.read_bytes())
    raw[len(raw) // 2] ^= 1
    data_pack.write_bytes(bytes(raw))
    backend = RefusingTrees(LocalBackend(Path(local_repo.url)), AccessDeniedError("denied"))
    fresh = replace(local_repo.options, cache_dir=tmp_path / "fresh-cache")
    result = verify(open_repository(fresh, backend=backend), VerifyOptions(read_data=True, jobs=1))
    assert not result.ok
    kinds = {(f.severity.value, f.kind, f.object.split("/")[0]) for f in result.findings}
    assert ("error", "pack-damaged", "data") in kinds
    assert any(k == "not-checked" for _sev, k, _obj in kinds)


class OtherStoreError(ForwardingBackend):
    """The store answers a pack's read with an error that is no refusal (a pack overwritten
    as an object it cannot serve as stored; an archived one is its own kind, pack-archived:
    tests/cli/test_s3.py)."""

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if name.startswith("data/"):
            raise BackendError(f"{name}: InvalidRange: the store cannot serve it as stored")
        return super().get(name, offset, length)


def test_an_error_that_is_no_refusal_is_damage(tmp_path: Path, local_repo: RepoHandle) -> None:
    write_file(tmp_path / "src" / "f", b"data\n")
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "src"),)))
    fresh = replace(local_repo.options, cache_dir=tmp_path / "fresh-cache")
    repo = open_repository(fresh, backend=OtherStoreError(LocalBackend(Path(local_repo.url))))
    result = verify(repo, VerifyOptions(read_data=True, jobs=1))
    assert not result.ok
    assert [f.kind for f in result.findings if f.severity.value == "error"] == ["pack-damaged"]


class RefusingOneSnapshot(ForwardingBackend):
    """The store refuses to read one snapshot file (a file this user may not read)."""

    def __init__(self, inner: LocalBackend, refused: str) -> None:
        super().__init__(inner)
        self.refused = refused

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if name == self.refused:
            raise AccessDeniedError(f"reading {name}: permission denied")
        return super().get(name, offset, length)


def test_a_snapshot_file_the_store_refuses_stops_nothing_and_is_not_called_damaged(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    """One snapshot file this user may not read stopped `snapshots`, `verify`, `forget`,
    `prune` and the backups of its host (exit 1). It is passed over with a warning that says
    it may be intact (not the advice to forget it), prune deletes nothing while it is, and
    verify ends with the store's error (not checked), not with damage."""
    from s3vault.ops.prune import PruneOptions, prune
    from s3vault.repository.snapshots import list_snapshots

    for host in ("alpha", "beta"):
        write_file(tmp_path / host / "f", host.encode())
        backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / host),), host=host))
    refused = sorted(os.listdir(Path(local_repo.url, "snapshots")))[0]
    backend = RefusingOneSnapshot(LocalBackend(Path(local_repo.url)), f"snapshots/{refused}")
    told: dict[str, str] = {}
    fresh = replace(local_repo.options, cache_dir=tmp_path / "fresh-cache")
    repo = open_repository(fresh, backend=backend, on_skip=told.__setitem__)
    assert len(list_snapshots(repo)) == 1
    assert "may well be intact" in told[f"snapshots/{refused}"]
    assert prune(repo, PruneOptions()).deletions_held_back == (f"snapshots/{refused}",)
    with pytest.raises(AccessDeniedError, match="not checked"):
        verify(open_repository(fresh, backend=backend), VerifyOptions(jobs=1))


class BucketGone(ForwardingBackend):
    """The bucket is deleted after the index is read: every read of a pack says so."""

    kinds: tuple[str, ...] = ("data/", "tree/")

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if name.startswith(self.kinds):
            raise NoSuchBucketError(f"get {name}: the bucket does not exist")
        return super().get(name, offset, length)


@pytest.mark.parametrize("jobs", [1, 2])  # in the parent, and in worker processes
def test_a_bucket_deleted_during_verify_is_no_damage(
    tmp_path: Path, local_repo: RepoHandle, jobs: int
) -> None:
    """verify --read-data while the bucket is deleted (an attack pass): every pack was "damaged",
    exit 13, with advice to run repair packs, repair snapshots and prune (data the snapshot
    needs was "needed by no snapshot"). The run now stops with the store's answer: no repository
    there (exit 10), and nothing is called damage."""
    write_file(tmp_path / "src" / "f", os.urandom(100_000))
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "src"),)))
    fresh = replace(local_repo.options, cache_dir=tmp_path / "fresh-cache")
    for read_data, kinds in ((False, ("snapshots/",)), (False, None), (True, None)):
        backend = BucketGone(LocalBackend(Path(local_repo.url)))
        repo = open_repository(fresh, backend=backend)
        backend.kinds = kinds or backend.kinds
        with pytest.raises(NoSuchBucketError) as raised:
            verify(repo, VerifyOptions(read_data=read_data, jobs=jobs))
        assert raised.value.exit_code == ExitCode.NO_REPOSITORY


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_bucket_deleted_during_restore_stops_it_as_no_repository(
    tmp_path: Path, local_repo: RepoHandle, jobs: int
) -> None:
    """The same for restore: it stops (exit 10); it listed every file as "data missing or
    damaged", exit 13, as if the repository had lost them."""
    from s3vault import RestoreOptions, restore

    write_file(tmp_path / "src" / "f", os.urandom(100_000))
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "src"),)))
    fresh = replace(local_repo.options, cache_dir=tmp_path / "fresh-cache")
    backend = BucketGone(LocalBackend(Path(local_repo.url)))
    backend.kinds = ("data/",)  # gone once the trees are read
    repo = open_repository(fresh, backend=backend)
    with pytest.raises(NoSuchBucketError):
        restore(repo, RestoreOptions(target=tmp_path / "out", jobs=jobs))


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_bucket_deleted_during_a_drill_without_disk_is_no_damage(
    tmp_path: Path, local_repo: RepoHandle, jobs: int
) -> None:
    """restore-test --no-disk read each file's blobs and called any error a mismatch: a bucket
    gone (or a store refusing, or down) was "FAIL (damage found)", exit 13, a line per file
    (an attack pass). It stops with the store's answer now (exit 10)."""
    from s3vault.ops.drill import DrillOptions, restore_test

    for i in range(3):
        write_file(tmp_path / "src" / f"f{i}", os.urandom(50_000))
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "src"),)))
    fresh = replace(local_repo.options, cache_dir=tmp_path / "fresh-cache")
    backend = BucketGone(LocalBackend(Path(local_repo.url)))
    backend.kinds = ("data/",)
    repo = open_repository(fresh, backend=backend)
    with pytest.raises(NoSuchBucketError):
        restore_test(repo, DrillOptions(no_disk=True, jobs=jobs, record=False))


class RefusingKeys(ForwardingBackend):
    """The store will not give the key files (once the repository is open)."""

    error: BackendError | None = None  # set once the repository is open

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if name.startswith("keys/") and self.error is not None:
            raise self.error
        return super().get(name, offset, length)


def test_a_key_file_the_store_will_not_give_is_not_checked_not_damaged(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    """verify called a key file it could not read "damaged" and said to remove it with `key
    remove` (an attack pass): now it is not checked (the run ends with the store's error, as
    for any object it refused), and a bucket gone stops the run (exit 10)."""
    write_file(tmp_path / "src" / "f", b"data\n")
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "src"),)))
    fresh = replace(local_repo.options, cache_dir=tmp_path / "fresh-cache")
    backend = RefusingKeys(LocalBackend(Path(local_repo.url)))
    repo = open_repository(fresh, backend=backend)
    backend.error = AccessDeniedError("keys/..: permission denied")
    with pytest.raises(AccessDeniedError, match=r"1 object\(s\) could not be read"):
        verify(repo, VerifyOptions())
    backend.error = NoSuchBucketError("get keys/..: the bucket does not exist")
    with pytest.raises(NoSuchBucketError):
        verify(repo, VerifyOptions())
