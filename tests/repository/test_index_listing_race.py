"""A listing of index/ taken while a prune swaps its index file for the next can name neither:
a directory read while one name is linked and another unlinked (POSIX lets it miss both), or a
paged S3 listing. Readers list again until a listing names nothing they have not read, so the
index they build is never empty of what the store holds. Seen in the suite: `verify` beside a
looping prune reported every snapshot's root tree "in no index" (exit 13) and 0 index files.

The swap here is a real prune through a second handle on the same directory, run at the moment
the reader lists index/ for the first time; the reader's first listing then names neither file,
as the racing directory read did."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from s3vault import BackupOptions, backup, open_repository
from s3vault.backend.base import ObjectInfo
from s3vault.backend.forwarding import ForwardingBackend
from s3vault.backend.local import LocalBackend
from s3vault.checker.findings import Finding
from s3vault.checker.structure import check_structure
from s3vault.errors import ObjectNotFoundError
from s3vault.format.packfile import BlobType
from s3vault.maintenance.prune import PruneOptions
from s3vault.ops.prune import prune
from s3vault.repository.repository import LOAD_ROUNDS, Repository
from s3vault.repository.snapshots import list_snapshots
from tests.conftest import RepoHandle, write_file


class SwapWhileListing(ForwardingBackend):
    """Once armed, the next listing of index/ runs a prune (which writes a new index file and
    deletes the one it replaces) and returns what a listing racing that swap can return:
    neither."""

    def __init__(self, inner: LocalBackend, handle: RepoHandle) -> None:
        super().__init__(inner)
        self._handle = handle
        self.armed = False
        self.swaps = 0
        self.index_listings = 0

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        if prefix.startswith("index/"):
            self.index_listings += 1
            if self.armed:
                self.armed = False
                before = {i.name for i in self._inner.list(prefix)}
                prune(self._handle.open(), PruneOptions())
                self.swaps += 1
                after = {i.name for i in self._inner.list(prefix)}
                assert before and after and not before & after  # a swap, not an addition
                return iter([])
        return super().list(prefix)


def _backed_up(tmp_path: Path, handle: RepoHandle) -> None:
    for i in range(3):
        write_file(tmp_path / "src" / f"f{i}", bytes([i]) * 5000)
    backup(handle.open(), BackupOptions(paths=(str(tmp_path / "src"),), host="h"))
    prune(handle.open(), PruneOptions())  # one index file, which the next prune replaces


def _racing(handle: RepoHandle) -> tuple[Repository, SwapWhileListing]:
    """The repository opened through the swapping store, armed for the next index read."""
    backend = SwapWhileListing(LocalBackend(Path(handle.url)), handle)
    repo = open_repository(handle.options, backend=backend)
    backend.armed = True
    backend.index_listings = 0
    return repo, backend


def test_an_index_read_beside_a_swap_its_listing_missed_has_every_pack(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    _backed_up(tmp_path, local_repo)
    repo, backend = _racing(local_repo)
    index = repo.read_index()
    (snap,) = [s for _sid, s in list_snapshots(repo)]
    assert index.lookup(BlobType.TREE, snap.tree) is not None
    assert backend.swaps == 1 and backend.index_listings >= 2


def test_verify_beside_a_swap_its_listing_missed_reads_the_new_index_file(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    _backed_up(tmp_path, local_repo)
    repo, backend = _racing(local_repo)
    findings: list[Finding] = []
    st = check_structure(repo, findings)
    assert backend.swaps == 1
    assert st.index_files == 1
    (snap,) = [s for _sid, s in list_snapshots(repo)]
    assert st.index.lookup(BlobType.TREE, snap.tree) is not None
    assert [f for f in findings if f.severity.name == "ERROR"] == []


class ChangingListing(ForwardingBackend):
    """Once armed, the next listing of index/ names nothing and slips ``extra`` objects into
    the store for the next listings (a file damaged, a foreign name); with ``every_time``,
    each listing names one more index file that is never stored (a store whose listing
    never settles)."""

    def __init__(self, inner: LocalBackend, extra: dict[str, bytes], every_time: bool) -> None:
        super().__init__(inner)
        self._extra = extra
        self._every_time = every_time
        self.armed = False
        self.index_listings = 0

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        if not prefix.startswith("index/") or not self.armed:
            return super().list(prefix)
        self.index_listings += 1
        if self._every_time:
            listed = list(self._inner.list(prefix))
            name = f"index/{self.index_listings:064x}"  # a valid name, never stored
            return iter([*listed, replace(listed[0], name=name)])
        if self.index_listings == 1:
            for name, data in self._extra.items():
                self._inner.put(name, data)
            return iter([])
        return super().list(prefix)


def _changing(
    handle: RepoHandle, extra: dict[str, bytes], *, every_time: bool = False
) -> tuple[Repository, ChangingListing, list[str]]:
    told: list[str] = []
    backend = ChangingListing(LocalBackend(Path(handle.url)), extra, every_time)
    repo = open_repository(
        handle.options, backend=backend, on_skip=lambda name, _why: told.append(name)
    )
    backend.armed = True
    return repo, backend, told


DAMAGED = f"index/{'ab' * 32}"
FOREIGN = "index/not-an-id\udcff"  # byte 0xff on disk: no UTF-8, no id


def test_a_damaged_file_and_a_foreign_name_a_later_listing_names_stop_nothing(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    """The first listing names nothing; the next names the real index file, a damaged one
    (random bytes under a valid name) and an object whose name is no id (odd bytes). The
    index holds every pack; the damaged file is passed over and named (read_index) or a
    finding (verify's structure read); the foreign name is ignored."""
    _backed_up(tmp_path, local_repo)
    extra = {DAMAGED: os.urandom(200), FOREIGN: b"not an index file"}
    repo, backend, told = _changing(local_repo, extra)
    index = repo.read_index()
    (snap,) = [s for _sid, s in list_snapshots(repo)]
    assert index.lookup(BlobType.TREE, snap.tree) is not None
    assert backend.index_listings >= 2
    assert told == [DAMAGED]
    repo, backend, _told = _changing(local_repo, {})
    findings: list[Finding] = []
    st = check_structure(repo, findings)
    assert st.index.lookup(BlobType.TREE, snap.tree) is not None
    assert [(f.kind, f.object) for f in findings if f.severity.name == "ERROR"] == [
        ("index-damaged", DAMAGED)
    ]


def test_a_listing_that_never_settles_ends_in_one_clear_error(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    """Every listing names one more index file that is gone when read: the reader stops after
    LOAD_ROUNDS listings with the one error of a vanished file, it does not loop forever."""
    _backed_up(tmp_path, local_repo)
    repo, backend, _told = _changing(local_repo, {}, every_time=True)
    with pytest.raises(ObjectNotFoundError, match="vanished and no index file replaces it"):
        repo.read_index()
    assert backend.index_listings == LOAD_ROUNDS + 1  # the first listing, then LOAD_ROUNDS
