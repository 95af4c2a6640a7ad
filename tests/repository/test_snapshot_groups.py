"""Snapshot group tags (design.md §2, §8): a keyed hash of host and paths in each snapshot
file's name, so a backup finds its parent candidates from a listing and reads only those."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from s3vault import BackupOptions, InitOptions, backup, init, open_repository
from s3vault.backend.forwarding import ForwardingBackend
from s3vault.backend.local import LocalBackend
from s3vault.checker.findings import Finding
from s3vault.checker.structure import check_structure
from s3vault.format.layout import ObjectKind, parse_name, snapshot_name, snapshot_tag
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import (
    list_snapshots,
    load_snapshot,
    mistagged,
    save_snapshot,
    snapshot_group,
)
from tests.conftest import TEST_SETTINGS, RepoHandle, write_file

TREE = ObjectId(bytes(32))


class RecordingBackend(ForwardingBackend):
    """Remembers the name of every GET."""

    def __init__(self, inner: LocalBackend) -> None:
        super().__init__(inner)
        self.gets: list[str] = []

    def get(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        self.gets.append(name)
        return super().get(name, offset, length)


def snap(host: str, paths: tuple[str, ...], minute: int = 0) -> SnapshotFile:
    return SnapshotFile(
        time=datetime(2026, 12, 1, 0, minute, tzinfo=UTC), tree=TREE, paths=paths, hostname=host
    )


def test_a_tag_is_fixed_per_repository_host_and_path_set(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    repo = local_repo.open()
    tag = snapshot_group(repo, "web-1", ("/srv", "/etc"))
    assert len(tag) == 16 and int(tag, 16) >= 0
    assert snapshot_group(local_repo.open(), "web-1", ("/etc", "/srv")) == tag  # any order
    others = {
        snapshot_group(repo, "web-2", ("/srv", "/etc")),
        snapshot_group(repo, "web-1", ("/srv",)),
        snapshot_group(repo, "web-1", ("/srv", "/etc", "/home")),
        snapshot_group(repo, "web-1/srv", ("/etc",)),  # no ambiguity across the boundary
    }
    assert tag not in others and len(others) == 4
    other = RepoHandle(url=str(tmp_path / "other"), cache=tmp_path / "other-cache")
    init(other.options, InitOptions(settings=TEST_SETTINGS))
    assert snapshot_group(other.open(), "web-1", ("/srv", "/etc")) != tag  # keyed per repository


hexes = st.binary(min_size=32, max_size=32).map(bytes.hex)
tags = st.binary(min_size=8, max_size=8).map(bytes.hex)


@given(sid=hexes, tag=st.none() | tags)
def test_snapshot_names_round_trip(sid: str, tag: str | None) -> None:
    name = snapshot_name(sid, tag)
    assert parse_name(name) == (ObjectKind.SNAPSHOTS, sid)
    assert snapshot_tag(name) == tag
    assert name.startswith(f"snapshots/{sid[:8]}")  # id prefixes still find it in a listing


@given(text=st.text(alphabet="0123456789abcdefABCDEF.xyz/", max_size=24))
def test_only_a_well_formed_tag_is_a_tag(text: str) -> None:
    name = "snapshots/" + "ab" * 32 + "." + text
    well_formed = len(text) == 16 and all(c in "0123456789abcdef" for c in text)
    assert (snapshot_tag(name) == text) is well_formed
    assert snapshot_tag("index/" + "ab" * 32 + ".0123456789abcdef") is None


def test_a_snapshot_is_saved_under_its_tag_and_read_by_id(local_repo: RepoHandle) -> None:
    repo = local_repo.open()
    sid = save_snapshot(repo, snap("web-1", ("/srv",)))
    (stored,) = Path(local_repo.url, "snapshots").iterdir()
    assert stored.name == f"{sid.hex()}.{snapshot_group(repo, 'web-1', ('/srv',))}"
    unlisted = RepoHandle(url=local_repo.url, cache=local_repo.cache.with_name("other-cache"))
    fresh = unlisted.open()  # never listed nor cached here: found by a listing of its id
    assert load_snapshot(fresh, sid).hostname == "web-1"
    fresh.delete_object(ObjectKind.SNAPSHOTS, sid)
    assert not list(Path(local_repo.url, "snapshots").iterdir())


def counting(handle: RepoHandle) -> tuple[Repository, RecordingBackend]:
    backend = RecordingBackend(LocalBackend(Path(handle.url)))
    options = handle.options
    return open_repository(options, backend=backend), backend


def test_a_group_listing_reads_only_its_group_and_untagged_files(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    repo = local_repo.open()
    for i in range(40):
        save_snapshot(repo, snap(f"host-{i}", ("/srv",), minute=i))
    mine = [save_snapshot(repo, snap("web-1", ("/srv",), minute=50 + i)) for i in range(3)]
    # written before tags: an untagged name is a candidate of every group
    legacy = save_snapshot(repo, snap("web-1", ("/srv",), minute=45))
    folder = Path(local_repo.url, "snapshots")
    (tagged,) = folder.glob(legacy.hex() + ".*")
    tagged.rename(folder / legacy.hex())

    repo, backend = counting(local_repo)
    group = snapshot_group(repo, "web-1", ("/srv",))
    found = list_snapshots(repo, group=group)
    assert [sid for sid, _ in found] == [legacy, *mine]
    read = [n for n in backend.gets if n.startswith("snapshots/")]
    assert sorted(read) == sorted(repo.name_of(ObjectKind.SNAPSHOTS, s) for s, _ in found)
    backend.gets.clear()
    assert len(list_snapshots(repo)) == 44  # the rest once: each file is read once per cache
    assert len([n for n in backend.gets if n.startswith("snapshots/")]) == 40
    backend.gets.clear()
    assert len(list_snapshots(counting(local_repo)[0])) == 44
    assert not [n for n in backend.gets if n.startswith("snapshots/")]


def test_a_backup_takes_its_parent_from_its_group_only(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    src = tmp_path / "src"
    write_file(src / "a", os.urandom(5000))
    first = backup(local_repo.open(), BackupOptions(paths=(str(src),), host="web-1"))
    repo = local_repo.open()
    for i in range(30):  # other hosts' files, unreadable: a backup must not even open them
        tag = snapshot_group(repo, f"host-{i}", (str(src),))
        Path(local_repo.url, snapshot_name(os.urandom(32).hex(), tag)).write_bytes(b"junk")
    repo, backend = counting(local_repo)
    second = backup(repo, BackupOptions(paths=(str(src),), host="web-1"))
    assert second.parent_id == first.snapshot_id
    assert not second.warnings and not repo.skipped
    read = {n for n in backend.gets if n.startswith("snapshots/")}
    assert read <= {repo.name_of(ObjectKind.SNAPSHOTS, first.snapshot_id)}  # or its cache


def test_a_misnamed_snapshot_costs_a_parent_never_picks_a_wrong_one(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    src = tmp_path / "src"
    write_file(src / "a", os.urandom(5000))
    theirs = backup(local_repo.open(), BackupOptions(paths=(str(src),), host="db-1"))
    assert theirs.snapshot_id is not None
    repo = local_repo.open()
    folder = Path(local_repo.url, "snapshots")
    (stored,) = folder.glob(theirs.snapshot_id.hex() + ".*")
    # someone who can write to the store renames db-1's snapshot into web-1's group
    stored.rename(
        folder / f"{theirs.snapshot_id.hex()}.{snapshot_group(repo, 'web-1', (str(src),))}"
    )
    ours = backup(local_repo.open(), BackupOptions(paths=(str(src),), host="web-1"))
    assert ours.parent_id is None  # its content says db-1: not a parent of web-1
    repo = local_repo.open()
    loaded = dict(list_snapshots(repo))
    assert mistagged(repo, theirs.snapshot_id, loaded[theirs.snapshot_id])  # still readable
    assert ours.snapshot_id is not None
    assert not mistagged(repo, ours.snapshot_id, loaded[ours.snapshot_id])
    findings: list[Finding] = []
    check_structure(repo, findings)
    named = [f for f in findings if f.kind == "snapshot-mistagged"]
    assert [f.snapshots for f in named] == [(theirs.snapshot_id.short,)]
