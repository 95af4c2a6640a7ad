"""A handle opened before a backup (or a prune) through it reads what it wrote: read
operations start from ``Repository.current``. A library caller's restore of the new snapshot
said "tree blob … is not in the index", stats counted none of its packs, and restore_test
stored a failed drill (an attack pass, 2026-12-07)."""

from __future__ import annotations

import io
import os
from pathlib import Path

from s3vault import (
    BackupOptions,
    DrillOptions,
    DumpOptions,
    FindOptions,
    ForgetOptions,
    Policy,
    PruneOptions,
    RestoreOptions,
    backup,
    diff,
    dump,
    find,
    forget,
    ls,
    restore,
    restore_test,
    snapshots,
    stats,
)
from tests.conftest import RepoHandle, RunCli, write_file


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


def test_a_long_lived_handle_reads_a_snapshot_another_process_stored(
    local_repo: RepoHandle, tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    """A cron backup beside a service's handle: the handle's restore, drill, ls, find, diff
    and dump of the new snapshot said its tree was not in the index, and the drill was stored
    as failed (an attack pass, 2026-12-07)."""
    src = write_file(tmp_path / "src" / "a.bin", os.urandom(50_000)).parent
    backup(local_repo.open(), BackupOptions(paths=(str(src),)))
    repo = local_repo.open()  # the service's handle
    body = os.urandom(80_000)
    write_file(src / "b.bin", body)
    env = {**cli_env, "S3VAULT_CACHE_DIR": str(tmp_path / "other-cache")}
    assert run_cli("-r", local_repo.url, "backup", str(src), env=env).code == 0
    done = restore(repo, RestoreOptions(target=tmp_path / "out"))
    assert done.errors == () and done.files_restored == 2
    assert (tmp_path / "out" / str(src).lstrip("/") / "b.bin").read_bytes() == body
    assert restore_test(repo, DrillOptions()).record.passed
    assert [e.path for e in ls(repo, "latest", str(src))[1]][-1].endswith("/b.bin")
    found = find(repo, FindOptions(patterns=("b.bin",)))
    assert [len(r.matches) for r in found] == [1]
    listed = snapshots(repo)
    old, new = listed[0].snapshot.tree, listed[1].snapshot.tree
    assert [c.path.rsplit("/", 1)[-1] for c in diff(repo, old, new)] == ["b.bin"]
    out = io.BytesIO()
    dump(repo, DumpOptions(snapshot="latest", path=str(src / "b.bin")), out)
    assert out.getvalue() == body
