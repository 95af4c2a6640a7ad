"""The process-parallel archiver (archiver/parallel.py) against the serial one, through the
library: the same input gives the same trees (byte-identical snapshots), the same counters and
the same warnings, every blob is stored once even when several workers meet it, and a parent
tree that cannot be read is stored again, never deduplicated against."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import pytest

from s3vault import BackupOptions, BackupResult, VerifyOptions, backup, verify
from s3vault.archiver import dirworker, workerproc
from s3vault.archiver import parallel as engine
from s3vault.format.packfile import BlobType
from s3vault.progress import NullProgress
from s3vault.repository.snapshots import load_snapshot
from tests.conftest import RepoHandle

COUNTERS = (
    "files_new",
    "files_changed",
    "files_unmodified",
    "files_failed",
    "dirs_new",
    "dirs_changed",
    "dirs_unmodified",
    "total_files_processed",
    "total_bytes_processed",
)


def make_source(src: Path) -> None:
    """Nested directories, one big directory (sliced: see the ``small_slices`` fixture),
    hardlinks across directories, equal files in several directories, a symlink, an empty
    directory, excluded files, a cache directory, extended attributes."""
    for d in range(6):
        for s in range(3):
            sub = src / f"d{d}" / f"s{s}"
            sub.mkdir(parents=True)
            for f in range(4):
                (sub / f"f{f}").write_bytes(os.urandom(200) + b"x" * (d * 3000 + f))
            (sub / "same").write_bytes(b"the same in every directory\n" * 50)
            (sub / "skip.tmp").write_bytes(b"excluded")
    big = src / "big"
    big.mkdir()
    for i in range(40):
        (big / f"e{i:03d}").write_bytes(b"entry %d\n" % i * (i + 1))
        if i % 7 == 0:
            (big / f"sub{i:03d}").mkdir()
            (big / f"sub{i:03d}" / "inner").write_bytes(b"inner %d" % i)
    (src / "large.bin").write_bytes(os.urandom(3 << 20) * 2)  # chunks repeat inside
    os.link(src / "large.bin", src / "d1" / "large-link.bin")
    os.link(src / "d2" / "s0" / "f1", src / "d3" / "s1" / "f1-link")
    (src / "link").symlink_to("large.bin")
    (src / "empty").mkdir()
    (src / "cache").mkdir()
    (src / "cache" / "CACHEDIR.TAG").write_bytes(b"Signature: 8a477f597d28d172789f06886806bc55")
    (src / "cache" / "junk").write_bytes(b"junk")
    with contextlib.suppress(OSError):  # a file system without user xattrs
        os.setxattr(src / "d0" / "s0" / "f0", "user.s3vault-test", b"\x00value")


@pytest.fixture
def small_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Directories of more than 8 entries are shared out in slices (workers are forked, so
    they see it too)."""
    monkeypatch.setattr(dirworker, "SLICE", 8)


def settle(handle: RepoHandle, paths: tuple[str, ...], **more: object) -> None:
    """A first backup: reading a symlink sets its atime once (relatime), which would make the
    first snapshot differ from any later one whatever the engine."""
    run(handle, 1, paths, force=True, **more)


def run(handle: RepoHandle, jobs: int, paths: tuple[str, ...], **more: object) -> BackupResult:
    options = BackupOptions(
        paths=paths,
        jobs=jobs,
        host="h",
        excludes=("*.tmp",),
        exclude_caches=True,
        **more,  # type: ignore[arg-type]
    )
    return backup(handle.open(), options)


def tree_of(handle: RepoHandle, result: BackupResult) -> str:
    assert result.snapshot_id is not None
    return str(load_snapshot(handle.open(), result.snapshot_id).tree)


def counters(result: BackupResult) -> dict[str, object]:
    values = asdict(result)
    return {name: values[name] for name in COUNTERS}


@pytest.mark.usefixtures("small_slices")
@pytest.mark.parametrize("batch", [2, engine.BATCH])
def test_parallel_and_serial_snapshots_are_identical(
    tmp_path: Path, local_repo: RepoHandle, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    monkeypatch.setattr(engine, "BATCH", batch)  # a worker's batch of directories below
    src = tmp_path / "src"
    make_source(src)
    # a directory, and a file inside it, as targets; below --root: the directories above
    # (/tmp...) change as other tests run
    paths, root = ("/src", "/src/d1/s2/f3"), str(tmp_path)
    settle(local_repo, paths, root=root)
    serial = run(local_repo, 1, paths, force=True, root=root)
    parallel = run(local_repo, 3, paths, force=True, root=root)
    assert tree_of(local_repo, parallel) == tree_of(local_repo, serial)
    assert counters(parallel) == counters(serial)
    assert parallel.data_blobs == parallel.tree_blobs == 0  # all stored by the first runs
    assert parallel.warnings == serial.warnings == ()

    (src / "d4" / "s2" / "f0").write_bytes(b"changed")
    (src / "big" / "e005").unlink()
    (src / "new").mkdir()
    (src / "new" / "file").write_bytes(b"new")
    parent = str(serial.snapshot_id)
    serial2 = run(local_repo, 1, paths, parent=parent, root=root)
    parallel2 = run(local_repo, 3, paths, parent=parent, root=root)
    assert tree_of(local_repo, parallel2) == tree_of(local_repo, serial2)
    assert counters(parallel2) == counters(serial2)
    assert parallel2.files_unmodified > 0 and parallel2.dirs_unmodified > 0


@pytest.mark.usefixtures("small_slices")
def test_the_root_directory_as_target_with_root(tmp_path: Path, local_repo: RepoHandle) -> None:
    make_source(tmp_path / "src")
    settle(local_repo, ("/",), root=str(tmp_path / "src"))
    serial = run(local_repo, 1, ("/",), root=str(tmp_path / "src"), force=True)
    parallel = run(local_repo, 2, ("/",), root=str(tmp_path / "src"), force=True)
    assert tree_of(local_repo, parallel) == tree_of(local_repo, serial)
    assert counters(parallel) == counters(serial)


@pytest.mark.usefixtures("small_slices")
def test_a_blob_met_by_several_workers_is_stored_once(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    src = tmp_path / "src"
    make_source(src)
    for i in range(12):  # the same new content in many directories, handed to many workers
        (src / f"copy{i}").mkdir()
        (src / f"copy{i}" / "data").write_bytes(b"shared content\n" * 40_000)
    result = run(local_repo, 4, (str(src),))
    stored = Counter((btype, bid) for btype, bid, _ in local_repo.open().read_index().entries())
    assert stored, "nothing stored"
    assert max(stored.values()) == 1
    assert result.data_blobs == sum(1 for btype, _ in stored if btype is BlobType.DATA)
    assert result.tree_blobs == sum(1 for btype, _ in stored if btype is BlobType.TREE)
    # the workers' uploads are counted with the parent's requests
    assert result.requests.bytes_up >= result.data_added > 0


@pytest.mark.parametrize("jobs", [2, 4])
def test_a_run_stores_one_partly_filled_data_pack_whatever_its_workers(
    tmp_path: Path, local_repo: RepoHandle, jobs: int
) -> None:
    """Each worker packs and uploads the data packs it fills; what is left in its last pack
    at the end goes to the parent, which packs it with the other workers' leftovers: a run
    with N workers stored N partly filled data packs (a nightly backup of a 16-core host with
    a few changed files: 16 small objects where one does)."""
    src = tmp_path / "src"
    for d in range(24):
        (src / f"d{d:02d}").mkdir(parents=True)
        for f in range(3):
            (src / f"d{d:02d}" / f"f{f}").write_bytes(os.urandom(150_000))
    first = run(local_repo, jobs, (str(src),))
    (src / "d05" / "f1").write_bytes(os.urandom(20_000))  # a few changes, in several places
    (src / "d17" / "f2").write_bytes(os.urandom(20_000))
    (src / "new").mkdir()
    (src / "new" / "f").write_bytes(os.urandom(20_000))
    second = run(local_repo, jobs, (str(src),))
    repo = local_repo.open()
    pack_size = repo.config.pack_size
    packs: Counter[object] = Counter()
    for btype, _bid, loc in repo.read_index().entries():
        if btype is BlobType.DATA:
            packs[loc.pack_id] += loc.length
    assert first.snapshot_id and second.snapshot_id
    small = [pack for pack, size in packs.items() if size < pack_size]
    full = len(packs) - len(small)
    runs = {"first": first.data_added, "second": second.data_added}
    assert full >= 2, (packs, runs)  # the first run filled packs (10.8 MB in 4 MiB packs)
    assert len(small) == 2, (f"{len(small)} partly filled data packs in two runs", runs)
    assert verify(local_repo.open(), VerifyOptions(read_data=True)).ok


def test_unreadable_files_warn_the_same(tmp_path: Path, local_repo: RepoHandle) -> None:
    src = tmp_path / "src"
    make_source(src)
    os.mkfifo(src / "d0" / "fifo")  # stored as a FIFO, never read
    (src / "d5" / "gone").symlink_to("nowhere")
    paths, root = ("/src", "/src/not-there"), str(tmp_path)
    settle(local_repo, paths, root=root)
    serial = run(local_repo, 1, paths, force=True, root=root)
    parallel = run(local_repo, 2, paths, force=True, root=root)
    assert tree_of(local_repo, parallel) == tree_of(local_repo, serial)
    assert sorted(parallel.warnings) == sorted(serial.warnings)
    assert parallel.warnings  # the missing target


@pytest.mark.usefixtures("small_slices")
def test_an_unreadable_parent_tree_of_a_big_directory_is_said_once(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    """Found by an attack pass (2026-12-07): every worker that took a slice of a big
    directory read the parent snapshot's tree of it, and each said it was unreadable."""
    big = tmp_path / "src" / "big"
    big.mkdir(parents=True)
    for i in range(40):  # 5 slices of 8
        (big / f"e{i:03d}").write_bytes(b"entry %d\n" % i)
    first = run(local_repo, 1, (str(tmp_path / "src"),))
    for pack in Path(local_repo.url, "tree").rglob("*"):
        if pack.is_file():
            data = bytearray(pack.read_bytes())
            data[len(data) // 2] ^= 0xFF
            pack.chmod(0o644)
            pack.write_bytes(bytes(data))
    shutil.rmtree(local_repo.cache)
    again = run(local_repo, 3, (str(tmp_path / "src"),), parent=str(first.snapshot_id))
    assert len(again.notices) == len(set(again.notices))
    assert [path for path, _ in again.notices].count(str(big)) == 1
    assert again.files_new == 40  # read again, as the notice says


@pytest.mark.usefixtures("small_slices")
@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_unreadable_parent_trees_of_big_directories_are_said_once_each_with_their_cause(
    tmp_path: Path, local_repo: RepoHandle, jobs: int
) -> None:
    """Found by an attack pass (2026-12-07): a worker taking slices of two big directories in
    turn read the parent's tree of each again, and the tree it had dropped from its index as
    unreadable was then said a second time, "not in the index" (a cause that sends the
    operator to repair the index, when a pack is damaged)."""
    src = tmp_path / "src"
    for name in ("A", "B"):
        (src / name).mkdir(parents=True)
        for i in range(40):  # 5 slices of 8
            (src / name / f"e{i:03d}").write_bytes(b"%s %d\n" % (name.encode(), i))
    paths, root = ("/src",), str(tmp_path)
    first = run(local_repo, 1, paths, root=root)
    repo = local_repo.open()
    top = repo.load_tree(load_snapshot(repo, first.snapshot_id).tree).nodes[0]
    assert top.subtree is not None
    index = repo.read_index()
    for node in repo.load_tree(top.subtree).nodes:  # damage the trees of A and B
        assert node.subtree is not None
        loc = index.lookup(BlobType.TREE, node.subtree)
        assert loc is not None
        pack = next(p for p in Path(local_repo.url, "tree").rglob(str(loc.pack_id)) if p.is_file())
        data = bytearray(pack.read_bytes())
        data[loc.offset + loc.length // 2] ^= 0xFF
        pack.chmod(0o644)
        pack.write_bytes(bytes(data))
    shutil.rmtree(local_repo.cache)
    again = run(local_repo, jobs, paths, root=root, parent=str(first.snapshot_id))
    said = sorted(path for path, _ in again.notices)
    assert said == [str(src / "A"), str(src / "B")], again.notices
    assert not [why for _, why in again.notices if "not in the index" in why], again.notices
    assert again.files_new == 80


@pytest.mark.usefixtures("small_slices")
def test_odd_names_in_a_big_directory_cross_by_name_and_read_back(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    """A big directory is shared out as slices of names and its unchanged entries cross to
    the parent by name: names that are no UTF-8, hold a line break, a backslash or lead with
    a dash give the serial engine's snapshot, first and incremental, changed among them."""
    src = tmp_path / "src"
    big = src / "big"
    big.mkdir(parents=True)
    odd = [b"caf\xe9", b"\xff\xfe", b"new\nline", b"back\\slash", b"-dash", b"\xf1\x80\x80\x80"]
    for i, name in enumerate(odd + [b"e%02d" % i for i in range(20)]):
        with open(os.path.join(os.fsencode(big), name), "wb") as f:
            f.write(b"%d\n" % i)
        if i % 5 == 0:
            os.mkdir(os.path.join(os.fsencode(big), name + b".d"))
    # below --root: the directories above (/tmp...) change as other tests run (a file made
    # in /tmp between two runs gave them different trees, seen under load)
    paths, root = ("/src",), str(tmp_path)
    first = run(local_repo, 1, paths, force=True, root=root)
    with open(os.path.join(os.fsencode(big), b"\xff\xfe"), "ab") as f:
        f.write(b"changed")
    parent = str(first.snapshot_id)
    serial = run(local_repo, 1, paths, parent=parent, root=root)
    parallel = run(local_repo, 3, paths, parent=parent, root=root)
    assert tree_of(local_repo, parallel) == tree_of(local_repo, serial)
    assert counters(parallel) == counters(serial)
    assert parallel.files_changed == 1 and parallel.files_unmodified == len(odd) + 19
    again = run(local_repo, 3, paths, parent=str(parallel.snapshot_id), root=root)
    assert tree_of(local_repo, again) == tree_of(local_repo, parallel)
    assert again.dirs_changed == again.files_changed == again.tree_blobs == 0


class _Recording(NullProgress):
    """What a display is told, in order (a display shows totals: workers send progress)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    @property
    def shows_totals(self) -> bool:
        return True

    def advanced(self, *, files: int = 0, bytes_: int = 0, item: str = "") -> None:
        self.events.append(("advanced", (files, bytes_)))

    def files_in_flight(self, source: int, paths: list[str]) -> None:
        self.events.append(("in_flight", tuple(paths)))


def test_a_large_file_in_a_worker_shows_its_bytes_while_it_is_read(
    tmp_path: Path, local_repo: RepoHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's bytes reach the display while a large file is read, not once the whole
    directory is done (a default backup of one disk image had sat at 0 % until its end)."""
    monkeypatch.setattr(workerproc, "PROGRESS_EVERY", 0.005)  # forked workers see it too
    src = tmp_path / "src"
    src.mkdir()
    big = src / "image.raw"
    big.write_bytes(os.urandom(24 << 20))
    progress = _Recording()
    options = BackupOptions(paths=(str(src),), jobs=2, host="h", scan=False)
    result = backup(local_repo.open(), options, progress=progress)
    assert result.files_new == 1
    advanced = [v for kind, v in progress.events if kind == "advanced"]
    assert sum(b for _, b in advanced) == big.stat().st_size  # type: ignore[misc]
    done = next(i for i, (files, _) in enumerate(advanced) if files)  # type: ignore[misc]
    assert len([b for _, b in advanced[:done] if b]) >= 2  # type: ignore[misc]  # in parts
    assert ("in_flight", (str(big),)) in progress.events
    assert progress.events[-1] == ("in_flight", ())  # nothing left in flight after
