"""What a backup says of an entry it could not read (archiver/scan.read_problem): a race with
the file system is said as the race it is. A directory swapped for a symlink while it was read
gave "cannot read metadata: Invalid argument" (readlink of what is a directory again), and a
deleted file "cannot read: No such file or directory" in one run, "vanished" in the next (an
attack pass, 2026-12-07)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from s3vault import (
    BackupOptions,
    InitOptions,
    RepoOptions,
    RepositorySettings,
    RestoreOptions,
    backup,
    init,
    open_repository,
    restore,
)
from s3vault.archiver import pipeline
from s3vault.archiver.chunking import FdReader, FileReader
from s3vault.archiver.pipeline import INLINE_FILES_BELOW
from s3vault.archiver.scan import read_problem
from s3vault.repository.repository import Repository

LOW_KDF = RepositorySettings(kdf_cost="minimum")


def _raised(call: object) -> OSError:
    with pytest.raises(OSError) as raised:
        call()  # type: ignore[operator]
    return raised.value


def test_the_races_and_the_faults_are_told_apart(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "f").write_bytes(b"x")
    gone = _raised(lambda: os.lstat(tmp_path / "gone"))
    assert read_problem(gone, "cannot read") == "vanished before it could be read"
    relinked = _raised(lambda: os.readlink(tmp_path / "d"))  # was a link when listed
    assert read_problem(relinked, "cannot read metadata") == (
        "changed type while being read (replaced since it was listed)"
    )
    below_a_file = _raised(lambda: os.lstat(tmp_path / "f" / "x"))  # a directory, once
    assert read_problem(below_a_file, "cannot read").startswith("changed type")
    looping = tmp_path / "loop"
    looping.symlink_to(looping)
    fault = _raised(lambda: os.stat(looping))
    assert read_problem(fault, "cannot read") == f"cannot read: {fault.strerror}"


def _repo(tmp_path: Path) -> Repository:
    options = RepoOptions(url=str(tmp_path / "repo"), password=b"pw")
    init(options, InitOptions(settings=LOW_KDF))
    return open_repository(options)


def _before_its_open(
    monkeypatch: pytest.MonkeyPatch, name: bytes, change: Callable[[], object]
) -> None:
    """Run ``change`` once, just before the backup opens the file ``name`` (after its scan)."""
    opening, done = FileReader.open, []

    def open_after_the_change(self: FileReader, path: bytes) -> int:
        if path.endswith(b"/" + name) and not done:
            done.append(change())
        return opening(self, path)

    monkeypatch.setattr(FileReader, "open", open_after_the_change)


def _restored(repo: Repository, tmp_path: Path, src: Path, name: str) -> bytes:
    restore(repo, RestoreOptions(target=tmp_path / "out"))
    return (tmp_path / "out" / str(src).lstrip("/") / name).read_bytes()


def test_a_file_renamed_over_between_the_scan_and_the_read_is_saved_as_it_is_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An editor's save, a package manager, a config tool: a new file renamed over the one
    the scan saw. It was left out with "replaced while the backup was running" (exit 3), run
    after run for a file replaced often enough; restic saves the one at its path (an attack
    pass, 2026-12-07)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "z.conf").write_bytes(b"old " * INLINE_FILES_BELOW)  # opened by path, after the scan
    new_body = b"new " * INLINE_FILES_BELOW
    new = tmp_path / "z.tmp"  # out of the tree backed up
    new.write_bytes(new_body)
    _before_its_open(monkeypatch, b"z.conf", lambda: os.rename(new, src / "z.conf"))
    repo = _repo(tmp_path)
    done = backup(repo, BackupOptions(paths=(str(src),), jobs=1))
    assert done.warnings == (), done.warnings
    assert _restored(repo, tmp_path, src, "z.conf") == new_body


def test_a_file_renamed_over_while_it_is_read_is_one_whole_version_without_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old file loses its name while it is read (its ctime moves with its link count):
    what was read is one whole version, not a change of content, which exited 3 with
    "changed while being read" (an attack pass, 2026-12-07)."""
    src = tmp_path / "src"
    src.mkdir()
    old_body = b"old " * INLINE_FILES_BELOW
    (src / "z.conf").write_bytes(old_body)
    reader = FdReader

    def rename_over_as_it_is_read(fd: int, *, sparse: bool) -> object:
        (src / "z.tmp").write_bytes(b"new " * INLINE_FILES_BELOW)  # after the open's fstat
        os.rename(src / "z.tmp", src / "z.conf")
        return reader(fd, sparse=sparse)

    monkeypatch.setattr(pipeline, "FdReader", rename_over_as_it_is_read)
    repo = _repo(tmp_path)
    done = backup(repo, BackupOptions(paths=(str(src),), jobs=1))
    assert done.warnings == (), done.warnings
    assert _restored(repo, tmp_path, src, "z.conf") == old_body


def test_another_name_of_the_inode_scanned_keeps_its_own_content_when_one_is_renamed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names z and z2 of one file; a file of the same size and mtime renamed over z before it
    is read: z is saved as the new file, z2 as the old one (it must not share z's content,
    even with --ignore-ctime, where size and mtime alone tell versions apart)."""
    src = tmp_path / "src"
    src.mkdir()
    old_body, new_body = b"o" * INLINE_FILES_BELOW, b"n" * INLINE_FILES_BELOW
    (src / "z").write_bytes(old_body)
    os.link(src / "z", src / "z2")
    mtime = os.stat(src / "z").st_mtime_ns
    new = tmp_path / "z.new"  # out of the tree backed up
    new.write_bytes(new_body)
    os.utime(new, ns=(mtime, mtime))
    _before_its_open(monkeypatch, b"z", lambda: os.rename(new, src / "z"))
    repo = _repo(tmp_path)
    options = BackupOptions(paths=(str(src),), jobs=1, ignore_ctime=True)
    assert backup(repo, options).warnings == ()
    assert _restored(repo, tmp_path, src, "z") == new_body
    assert (tmp_path / "out" / str(src).lstrip("/") / "z2").read_bytes() == old_body


def test_the_metadata_saved_is_that_of_the_version_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file replaced twice between the scan and the read can have the scanned inode's number
    again (ext4 gives it back): its content was saved with the scanned version's mode and
    mtime, a 0600 file's content restored 0644 (an attack pass, 2026-12-07). The same for a
    file changed in place: what is saved describes the version read."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "m").write_bytes(b"public " * INLINE_FILES_BELOW)
    os.chmod(src / "m", 0o644)
    secret = b"secret " * INLINE_FILES_BELOW
    later = 1_700_000_000_000_000_000

    def change_in_place() -> None:  # the same inode, another version
        os.chmod(src / "m", 0o600)
        (src / "m").write_bytes(secret)
        os.utime(src / "m", ns=(later, later))

    _before_its_open(monkeypatch, b"m", change_in_place)
    repo = _repo(tmp_path)
    assert backup(repo, BackupOptions(paths=(str(src),), jobs=1)).warnings == ()
    assert _restored(repo, tmp_path, src, "m") == secret
    restored = tmp_path / "out" / str(src).lstrip("/") / "m"
    assert stat.S_IMODE(restored.stat().st_mode) == 0o600
    assert restored.stat().st_mtime_ns == later
