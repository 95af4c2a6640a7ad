"""A handle opened before a backup (or a prune) through it reads what it wrote: read
operations start from ``Repository.current``. A library caller's restore of the new snapshot
said "tree blob … is not in the index", stats counted none of its packs, and restore_test
stored a failed drill (an attack pass, 2026-12-07)."""

from __future__ import annotations

import os
from pathlib import Path

from s3vault import (
    BackupOptions,
    DrillOptions,
    ForgetOptions,
    Policy,
    PruneOptions,
    RestoreOptions,
    backup,
    forget,
    ls,
    restore,
    restore_test,
    stats,
)
from tests.conftest import RepoHandle, write_file


def test_reads_through_the_handle_that_backed_up_see_its_snapshot(
    local_repo: RepoHandle, tmp_path: Path
) -> None:
    repo = local_repo.open()
    body = os.urandom(100_000)
    src = write_file(tmp_path / "src" / "a.bin", body).parent
    backup(repo, BackupOptions(paths=(str(src),)))
    done = restore(repo, RestoreOptions(target=tmp_path / "out"))
    assert done.errors == () and done.files_restored == 1
    assert (tmp_path / "out" / str(src).lstrip("/") / "a.bin").read_bytes() == body
    assert stats(repo).packs > 0
    assert [e.path for e in ls(repo, "latest", str(src))[1]][-1].endswith("/a.bin")
    assert restore_test(repo, DrillOptions()).record.passed


def test_reads_through_the_handle_that_pruned_see_the_packs_it_kept(
    local_repo: RepoHandle, tmp_path: Path
) -> None:
    repo = local_repo.open()
    write_file(tmp_path / "src" / "old.bin", os.urandom(100_000))
    backup(repo, BackupOptions(paths=(str(tmp_path / "src"),)))
    (tmp_path / "src" / "old.bin").unlink()
    body = os.urandom(100_000)
    write_file(tmp_path / "src" / "new.bin", body)
    backup(repo, BackupOptions(paths=(str(tmp_path / "src"),)))
    forget(repo, ForgetOptions(policy=Policy(last=1)), prune=PruneOptions(max_unused=0.0))
    done = restore(repo, RestoreOptions(target=tmp_path / "out"))
    assert done.errors == ()
    restored = tmp_path / "out" / str(tmp_path / "src").lstrip("/")
    assert [p.name for p in restored.iterdir()] == ["new.bin"]
