"""The file-system layer of ``s3vault mount`` without FUSE: the layout of the snapshots, what
``stat`` shows, bytes at any offset in bounded memory, and a damaged blob failing only its
file (EIO) while the rest keeps working."""

from __future__ import annotations

import errno
import os
import random
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from s3vault import BackupOptions, backup
from s3vault.clock import ManualClock
from s3vault.format.layout import ObjectKind
from s3vault.format.packfile import BlobType
from s3vault.format.snapshotfile import SnapshotFile
from s3vault.fusefs import SnapshotView
from s3vault.ids import ObjectId
from s3vault.repository.repository import Repository
from s3vault.repository.snapshots import list_snapshots
from tests.conftest import RepoHandle, write_file

T1 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
T2 = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    rng = random.Random(7)
    write_file(src / "big.bin", rng.randbytes(6 << 20))
    write_file(src / "sub" / "small.txt", b"hello\n").chmod(0o640)
    write_file(src / "sub" / "deeper" / "x", b"x" * 10)
    write_file(src / "empty", b"")
    (src / "link").symlink_to("sub/small.txt")
    os.utime(src / "sub" / "small.txt", ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    return src


def _backup(handle: RepoHandle, src: Path, **kw: object) -> None:
    options = BackupOptions(paths=(str(src),), **kw)  # type: ignore[arg-type]
    assert backup(handle.open(), options).snapshot_id is not None


def _view(handle: RepoHandle, cache_bytes: int = 64 << 20) -> SnapshotView:
    repo = handle.open()
    return SnapshotView(repo, list_snapshots(repo), cache_bytes=cache_bytes)


def _base(view: SnapshotView, src: Path) -> tuple[bytes, ...]:
    """The source directory in the newest snapshot (``latest`` is a link: the kernel follows
    it, the view does not)."""
    return (b"snapshots", view.readlink((b"snapshots", b"latest")), *SnapshotView.split(str(src)))


def test_hosts_and_tags_named_dot_and_dot_dot_are_directories_of_their_own(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    """A host or tag "." or ".." showed as a second "." and ".." entry (an attack pass), its
    snapshots out of reach through hosts/ and tags/."""
    src = _source(tmp_path)
    _backup(local_repo, src, host=".", tags=("..",), time=T1)
    _backup(local_repo, src, host="..", tags=(".",), time=T2)
    view = _view(local_repo)
    assert sorted(view.listdir((b"hosts",))) == [b"_.", b"_.."]
    assert sorted(view.listdir((b"tags",))) == [b"_.", b"_.."]
    assert view.listdir((b"hosts", b"_."))[0] == b"2026-03-01T12:00:00Z"
    assert view.listdir((b"tags", b"_."))[0] == b"2026-03-02T12:00:00Z"


def test_hosts_whose_names_show_alike_get_directories_of_their_own(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    """Hosts ``web/1`` and ``web_1`` shared the directory ``hosts/web_1``, whose ``latest``
    was the other host's snapshot (an attack pass, 2026-12-07). The name that is the directory's
    as it is keeps it; the other gets ``~`` and 8 hex digits of its BLAKE3 hash."""
    src = _source(tmp_path)
    _backup(local_repo, src, host="web/1", time=T1)
    _backup(local_repo, src, host="web_1", tags=("a/b", "a_b"), time=T2)
    view = _view(local_repo)
    hosts = sorted(view.listdir((b"hosts",)))
    assert hosts[0] == b"web_1" and len(hosts) == 2
    assert hosts[1].startswith(b"web_1~") and len(hosts[1]) == len(b"web_1~") + 8
    assert view.listdir((b"hosts", hosts[1]))[0] == b"2026-03-01T12:00:00Z"  # web/1's
    assert view.listdir((b"hosts", b"web_1"))[0] == b"2026-03-02T12:00:00Z"
    tags = sorted(view.listdir((b"tags",)))
    assert tags[0] == b"a_b" and tags[1].startswith(b"a_b~") and len(tags) == 2


def test_the_layout_has_snapshots_hosts_tags_ids_and_latest_links(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    src = _source(tmp_path)
    _backup(local_repo, src, host="web1", tags=("daily",), time=T1)
    _backup(local_repo, src, host="web1", tags=("daily", "a/b"), time=T2)
    _backup(local_repo, src, host="db1", time=T2)  # the same second: both get their ids
    view = _view(local_repo)
    assert view.listdir(()) == [b"snapshots", b"hosts", b"tags", b"ids"]
    names = view.listdir((b"snapshots",))
    assert names[0] == b"2026-03-01T12:00:00Z"
    assert len(names) == 4 and names[-1] == b"latest"
    assert all(n.startswith(b"2026-03-02T12:00:00Z-") for n in names[1:3])
    assert sorted(view.listdir((b"hosts",))) == [b"db1", b"web1"]
    web1 = view.listdir((b"hosts", b"web1"))  # a snapshot has one name everywhere
    assert web1[0] == b"2026-03-01T12:00:00Z" and web1[2] == b"latest"
    assert web1[1] in names[1:3]
    assert view.readlink((b"hosts", b"web1", b"latest")) == web1[1]
    assert sorted(view.listdir((b"tags",))) == [b"a_b", b"daily"]  # "/" in a tag shows as "_"
    link = view.lookup((b"snapshots", b"latest"))
    assert stat.S_ISLNK(link.mode) and link.size == len(link.target or b"")
    ids = view.listdir((b"ids",))
    assert len(ids) == 3 and all(len(i) == 8 for i in ids)
    root = view.lookup((b"hosts", b"web1", b"2026-03-01T12:00:00Z"))
    assert stat.S_ISDIR(root.mode) and root.mtime_ns == int(T1.timestamp()) * 10**9
    for top in ((b"ids", ids[0]), (b"tags", b"daily", b"latest")):
        assert view.lookup(top).mode  # every name listed resolves


def test_entries_show_the_stored_sizes_modes_times_and_links(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    src = _source(tmp_path)
    _backup(local_repo, src, time=T1)
    view = _view(local_repo)
    base = _base(view, src)
    assert sorted(view.listdir(base)) == sorted(os.fsencode(n) for n in os.listdir(src))
    for rel in ("big.bin", "sub/small.txt", "sub", "sub/deeper/x", "empty", "link"):
        entry = view.lookup((*base, *SnapshotView.split(rel)))
        st = os.lstat(src / rel)
        assert stat.S_IFMT(entry.mode) == stat.S_IFMT(st.st_mode), rel
        assert stat.S_IMODE(entry.mode) == stat.S_IMODE(st.st_mode), rel
        assert entry.mtime_ns == st.st_mtime_ns, rel
        assert (entry.uid, entry.gid) == (st.st_uid, st.st_gid), rel
        if not stat.S_ISDIR(st.st_mode):
            assert entry.size == st.st_size, rel
    assert view.readlink((*base, b"link")) == b"sub/small.txt"
    with pytest.raises(OSError) as missing:
        view.lookup((*base, b"nope"))
    assert missing.value.errno == errno.ENOENT
    with pytest.raises(OSError) as below_file:
        view.lookup((*base, b"empty", b"x"))
    assert below_file.value.errno == errno.ENOTDIR
    with pytest.raises(OSError) as not_link:
        view.readlink((*base, b"empty"))
    assert not_link.value.errno == errno.EINVAL
    with pytest.raises(OSError) as a_dir:
        view.open((*base, b"sub"))
    assert a_dir.value.errno == errno.EISDIR


def test_bytes_at_any_offset_in_bounded_memory(tmp_path: Path, local_repo: RepoHandle) -> None:
    src = _source(tmp_path)
    _backup(local_repo, src, time=T1)
    cache = 2 << 20  # smaller than the file: blobs must come and go
    view = _view(local_repo, cache_bytes=cache)
    data = (src / "big.bin").read_bytes()
    content = view.open((*_base(view, src), b"big.bin"))
    assert content.size == len(data)
    out = bytearray()
    most = 0
    while len(out) < len(data):
        out += content.read(len(out), 128 << 10)
        most = max(most, view.blobs.held)
    assert out == data
    assert most <= cache + (8 << 20)  # the bound, plus at most one blob over it
    rng = random.Random(3)
    for _ in range(50):
        offset, size = rng.randrange(len(data) + 10), rng.randrange(1, 3 << 20)
        assert content.read(offset, size) == data[offset : offset + size]
    assert content.read(len(data), 10) == b""
    empty = view.open((*_base(view, src), b"empty"))
    assert empty.read(0, 10) == b""
    view.close()


def test_a_damaged_blob_fails_its_file_only_and_is_logged(
    tmp_path: Path, local_repo: RepoHandle, caplog: pytest.LogCaptureFixture
) -> None:
    src = _source(tmp_path)
    _backup(local_repo, src, time=T1)
    view = _view(local_repo)
    base = _base(view, src)
    node = view.lookup((*base, b"big.bin")).node
    assert node is not None and len(node.content) > 1
    repo = local_repo.open()
    loc = repo.index.lookup(BlobType.DATA, node.content[-1])
    assert loc is not None
    pack = Path(local_repo.url) / repo.name_of(ObjectKind.DATA, loc.pack_id)
    raw = bytearray(pack.read_bytes())
    raw[loc.offset + loc.length // 2] ^= 0xFF
    pack.chmod(0o644)
    pack.write_bytes(bytes(raw))
    content = view.open((*base, b"big.bin"))
    first = content.read(0, 1024)  # the blobs before the damaged one still read
    assert first == (src / "big.bin").read_bytes()[:1024]
    with pytest.raises(OSError) as damaged:
        content.read(content.size - 10, 10)
    assert damaged.value.errno == errno.EIO
    assert node.content[-1] in view.blobs.failed
    assert any("cannot be read" in r.getMessage() for r in caplog.records)
    small = view.open((*base, b"sub", b"small.txt"))
    assert small.read(0, 100) == b"hello\n"  # the rest of the mount keeps working
    view.close()


def test_a_deep_tree_resolves_without_recursion(tmp_path: Path, local_repo: RepoHandle) -> None:
    src = tmp_path / "src"
    deep = src.joinpath(*["d"] * 300)
    write_file(deep / "leaf", b"bottom")
    _backup(local_repo, src, time=T1)
    view = _view(local_repo)
    path = (*_base(view, src), *[b"d"] * 300, b"leaf")
    assert view.open(path).read(0, 10) == b"bottom"


def test_a_snapshot_written_or_forgotten_while_mounted_shows_after_the_refresh(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    """A backup made while mounted appears (and its new data reads, through a fresh index)
    once the top directories are looked at after the refresh interval; a forgotten snapshot
    goes. Before the interval, nothing is reloaded."""
    src = _source(tmp_path)
    _backup(local_repo, src, host="web1", time=T1)
    repo = local_repo.open()
    clock = ManualClock()

    def reload() -> tuple[Repository, list[tuple[ObjectId, SnapshotFile]]]:
        fresh = repo.with_index(repo.read_index())
        return fresh, list_snapshots(fresh)

    view = SnapshotView(repo, list_snapshots(repo), reload=reload, refresh_after=30, clock=clock)
    assert view.listdir((b"snapshots",)) == [b"2026-03-01T12:00:00Z", b"latest"]
    write_file(src / "new.txt", b"written while mounted\n")
    _backup(local_repo, src, host="web1", time=T2)
    clock.advance(timedelta(seconds=29))
    assert len(view.listdir((b"snapshots",))) == 2  # not yet
    clock.advance(timedelta(seconds=2))
    assert view.listdir((b"snapshots",)) == [
        b"2026-03-01T12:00:00Z",
        b"2026-03-02T12:00:00Z",
        b"latest",
    ]
    assert view.snapshots == 2
    path = (b"snapshots", b"2026-03-02T12:00:00Z", *SnapshotView.split(str(src / "new.txt")))
    content = view.open(path)
    assert content.read(0, 100) == b"written while mounted\n"
    first = next(sid for sid, s in list_snapshots(repo) if s.time == T1)
    repo.delete_object(ObjectKind.SNAPSHOTS, first)
    clock.advance(timedelta(seconds=31))
    assert view.listdir((b"hosts", b"web1")) == [b"2026-03-02T12:00:00Z", b"latest"]
    view.close()


@pytest.mark.timeout(120)
def test_a_tree_10000_levels_deep_is_walked_one_step_per_lookup(local_repo: RepoHandle) -> None:
    """The kernel looks a path up one component after another, each lookup naming the whole
    path: each walked the path again from the snapshot's top (1,000 levels: 4.8 s; 10,000:
    about 10 minutes). A lookup whose parent was looked up takes one step."""
    from tests.restorer.forge import Forge

    forge = Forge(local_repo.open())
    below = forge.tree([forge.file(b"deepest", b"found at the bottom\n")])
    for _ in range(10_000):
        below = forge.tree([forge.dir(b"d", below)])
    forge.finish(below)
    view = _view(local_repo)
    path: tuple[bytes, ...] = (b"snapshots", view.readlink((b"snapshots", b"latest")))
    for _ in range(10_000):
        path += (b"d",)
        assert view.lookup(path).is_dir
    content = view.open((*path, b"deepest"))
    assert content.read(0, 100) == b"found at the bottom\n"
    view.close()
