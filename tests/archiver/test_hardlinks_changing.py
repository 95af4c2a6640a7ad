"""Hard links whose inode changes during a backup (archiver/pipeline.py ``_same_version``):
each name is saved with what it holds when it is met, never with an older version read through
another name; a name whose other name vanished is still saved; and a write that puts the mtime
back while a file is read is said (its ctime moved). The serial engine, with a progress
listener that changes the tree at a chosen point of the walk."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from s3vault import (
    BackupOptions,
    DrillOptions,
    DumpOptions,
    RestoreOptions,
    backup,
    dump,
    restore,
    restore_test,
)
from s3vault.progress import NullProgress
from tests.conftest import RepoHandle
from tests.trees import remove_deep

SMALL, LARGE = 10_000, 600_000  # read by the walker itself / by a reader thread


class _At(NullProgress):
    """Runs ``then`` once, when the file whose path ends with ``when`` is done (or started)."""

    def __init__(self, when: str, then: Callable[[], None], *, on_start: bool = False) -> None:
        self._when, self._on_start = when, on_start
        self._then: Callable[[], None] | None = then
        self._lock = threading.Lock()
        self.done: dict[str, threading.Event] = {}

    def _seen(self, path: str) -> None:
        self.done.setdefault(path, threading.Event()).set()
        if not path.endswith(self._when):
            return
        with self._lock:
            then, self._then = self._then, None
        if then is not None:
            then()

    def file_started(self, path: str) -> None:
        if self._on_start:
            self._seen(path)

    def file_done(self, path: str, status: str) -> None:
        if not self._on_start:
            self._seen(path)

    def wait_done(self, suffix: str) -> None:
        for _ in range(1000):
            if any(p.endswith(suffix) and e.is_set() for p, e in dict(self.done).items()):
                return
            threading.Event().wait(0.01)
        raise AssertionError(f"{suffix} was never done")


def _stored(repo: RepoHandle, path: Path) -> bytes:
    out = io.BytesIO()
    dump(repo.open(), DumpOptions(snapshot="latest", path=str(path)), out)
    return out.getvalue()


def _rewrite_keeping_mtime(path: Path, data: bytes, probe: Path) -> None:
    st = path.stat()
    _next_tick(path, probe)
    with path.open("r+b") as f:  # in place: the same inode, the same size
        f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _next_tick(path: Path, probe: Path) -> None:
    """Wait until the file system's clock (the kernel's coarse one, a tick of a few ms) has
    moved past ``path``'s ctime, so that a change now gives it another ctime, as a change a
    tick later would anywhere."""
    # ``probe``: a file outside the backed-up tree, on its file system
    while True:
        probe.write_bytes(b"")
        if probe.stat().st_ctime_ns > path.stat().st_ctime_ns:
            return


def _tree(tmp_path: Path, size: int) -> tuple[Path, Path, Path]:
    src = tmp_path / "src"
    for d in ("a", "b", "z"):
        (src / d).mkdir(parents=True)
    first = src / "a" / "x"
    first.write_bytes(b"1" * size)
    os.link(first, src / "z" / "y")
    (src / "b" / "0").write_bytes(b"between")
    return src, first, src / "z" / "y"


@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_a_name_met_after_its_inode_was_rewritten_is_saved_as_it_is(
    local_repo: RepoHandle, tmp_path: Path, size: int
) -> None:
    src, first, second = _tree(tmp_path, size)

    def rewrite() -> None:  # after a/x was read, before z/ is listed
        hook.wait_done("/a/x")
        _rewrite_keeping_mtime(first, b"2" * size, tmp_path / "tick")

    hook = _At("/b/0", rewrite)
    result = backup(local_repo.open(), BackupOptions(paths=(str(src),), jobs=1), progress=hook)
    assert result.snapshot_id is not None
    assert _stored(local_repo, first) == b"1" * size  # as read
    assert _stored(local_repo, second) == b"2" * size  # was: the version read through a/x
    # restore gives each name its own content: two files, no longer one linked twice
    repo = local_repo.open()
    repo = repo.with_index(repo.read_index())
    restore(repo, RestoreOptions(target=tmp_path / "restored"))
    back = tmp_path / "restored" / src.relative_to("/")
    assert (back / "a" / "x").read_bytes() == b"1" * size
    assert (back / "z" / "y").read_bytes() == b"2" * size  # was: linked to a/x
    assert restore_test(repo, DrillOptions(target=tmp_path / "drill")).failures == ()
    # and the next run, whose change detection trusts what this one recorded, keeps it so
    backup(local_repo.open(), BackupOptions(paths=(str(src),), jobs=1))
    assert _stored(local_repo, first) == _stored(local_repo, second) == b"2" * size


def test_a_name_whose_other_name_vanished_before_it_was_read_is_saved(
    local_repo: RepoHandle, tmp_path: Path
) -> None:
    src, first, second = _tree(tmp_path, LARGE)
    (src / "a" / "0").write_bytes(b"before x")
    # a/ is listed, a/x not yet opened: a/ moves away, the inode keeps its two names
    hook = _At("/a/0", lambda: (src / "a").rename(tmp_path / "moved"))
    result = backup(local_repo.open(), BackupOptions(paths=(str(src),), jobs=1), progress=hook)
    assert [p for p, _ in result.warnings] == [str(first)]
    assert _stored(local_repo, second) == b"1" * LARGE  # was: left out, without a word


class _MidRead(NullProgress):
    """Runs ``then`` once, when the first bytes of a file have been read."""

    def __init__(self, then: Callable[[], None]) -> None:
        self._then: Callable[[], None] | None = then

    def advanced(self, *, files: int = 0, bytes_: int = 0, item: str = "") -> None:
        if bytes_ and self._then is not None:
            then, self._then = self._then, None
            then()


@pytest.mark.parametrize("ignore_ctime", [False, True])
def test_a_write_that_puts_the_mtime_back_while_a_file_is_read_is_said(
    local_repo: RepoHandle, tmp_path: Path, ignore_ctime: bool
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    big = src / "big"
    big.write_bytes(b"1" * 4 * LARGE)
    hook = _MidRead(lambda: _rewrite_keeping_mtime(big, b"2" * 4 * LARGE, tmp_path / "tick"))
    options = BackupOptions(paths=(str(src),), jobs=1, ignore_ctime=ignore_ctime)
    result = backup(local_repo.open(), options, progress=hook)
    if ignore_ctime:  # the user said this file system's ctimes mean nothing
        assert result.warnings == ()
    else:
        assert result.warnings == ((str(big), _CHANGED),)
        assert result.incomplete


def test_a_chmod_between_the_scan_and_the_read_is_no_change_of_content(
    local_repo: RepoHandle, tmp_path: Path
) -> None:
    """A review of the ctime check (2026-12-06): compared with the scan's stat, a chmod, a
    chown or a new link in the time a file waited to be read (a "fix permissions" job beside
    the nightly backup) was called a change while reading: exit 3 every night."""
    src = tmp_path / "src"
    src.mkdir()
    big = src / "big"
    big.write_bytes(b"1" * LARGE)

    def chmod() -> None:
        _next_tick(big, tmp_path / "tick")
        big.chmod(0o640)

    hook = _At("/big", chmod, on_start=True)  # opened, not yet read
    result = backup(local_repo.open(), BackupOptions(paths=(str(src),), jobs=1), progress=hook)
    assert result.warnings == ()
    assert _stored(local_repo, big) == b"1" * LARGE


_CHANGED = "changed while being read; the snapshot holds the version read"


@pytest.mark.parametrize("size", [SMALL, LARGE])
def test_hard_links_below_the_path_limit_are_checked_too(
    local_repo: RepoHandle, tmp_path: Path, size: int
) -> None:
    """The same change between two names, 20 directories of 190-byte names down (past
    archiver/walk.py's DEEP_AT: files there are reached through /proc/self/fd and opened while
    the walk is there, the further name's descriptor too)."""
    src = tmp_path / "src"
    src.mkdir()
    fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i in range(20):
            name = f"{i:02d}" + "d" * 188
            os.mkdir(name, dir_fd=fd)
            below = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = below
        deep = Path(f"/proc/self/fd/{fd}")
        for d in ("a", "b", "z"):
            (deep / d).mkdir()
        (deep / "a" / "x").write_bytes(b"1" * size)
        os.link("a/x", "z/y", src_dir_fd=fd, dst_dir_fd=fd)
        (deep / "b" / "0").write_bytes(b"between")

        def rewrite() -> None:
            hook.wait_done("/a/x")
            _rewrite_keeping_mtime(deep / "a" / "x", b"2" * size, tmp_path / "tick")

        hook = _At("/b/0", rewrite)
        options = BackupOptions(paths=(str(src),), jobs=1)
        result = backup(local_repo.open(), options, progress=hook)
        assert result.warnings == ()
        prefix = Path(str(src), *(f"{i:02d}" + "d" * 188 for i in range(20)))
        assert _stored(local_repo, prefix / "a" / "x") == b"1" * size
        assert _stored(local_repo, prefix / "z" / "y") == b"2" * size
    finally:
        os.close(fd)
        remove_deep(src)
