"""Audit records come from the operations (ops/audit.py): a Python caller gets the record the
CLI would write, one per run; inside an invocation (the CLI's) the record waits for the run's
exit code; the figures of a run are collected for the metrics."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from s3vault import (
    BackupOptions,
    ExitCode,
    ForgetOptions,
    Policy,
    PruneOptions,
    RestoreOptions,
    UsageError,
    VerifyOptions,
    audit_log,
    backup,
    forget,
    invocation,
    restore,
    verify,
)
from s3vault.format.auditfile import AuditRecord
from tests.conftest import RepoHandle, write_file


def _records(handle: RepoHandle, operation: str | None = None) -> list[AuditRecord]:
    records = audit_log(handle.open(), cache_dir=handle.cache).records
    return [r for r in records if operation is None or r.operation == operation]


def _source(tmp_path: Path) -> Path:
    write_file(tmp_path / "src" / "a.txt", b"a" * 1000)
    return tmp_path / "src"


def test_a_library_backup_writes_its_audit_record(local_repo: RepoHandle, tmp_path: Path) -> None:
    repo = local_repo.open()
    result = backup(repo, BackupOptions(paths=(str(_source(tmp_path)),)))
    (rec,) = _records(local_repo, "backup")
    assert (rec.exit_code, rec.result, rec.arguments) == (0, "ok", ())
    assert rec.details["snapshot_id"] == str(result.snapshot_id)
    assert rec.details["files_processed"] == 1
    assert rec.details["requests"]["put"] > 0
    assert [r.operation for r in _records(local_repo)] == ["init", "backup"]


def test_a_dry_run_writes_no_record(local_repo: RepoHandle, tmp_path: Path) -> None:
    backup(local_repo.open(), BackupOptions(paths=(str(_source(tmp_path)),), dry_run=True))
    assert not _records(local_repo, "backup")


def test_a_failed_operation_records_its_error(local_repo: RepoHandle) -> None:
    with pytest.raises(UsageError) as raised:
        forget(local_repo.open(), ForgetOptions(snapshot_ids=("beef",)))
    (rec,) = _records(local_repo, "forget")
    assert rec.exit_code == ExitCode.USAGE
    assert rec.result == str(raised.value)


def test_forget_with_prune_is_one_record(local_repo: RepoHandle, tmp_path: Path) -> None:
    repo = local_repo.open()
    source = _source(tmp_path)
    backup(repo, BackupOptions(paths=(str(source),)))
    write_file(source / "a.txt", b"b" * 1000)
    backup(repo, BackupOptions(paths=(str(source),)))
    told = []
    r = forget(
        repo,
        ForgetOptions(policy=Policy(last=1)),
        prune=PruneOptions(),
        on_forgotten=told.append,
    )
    assert r.removed == 1 and r.prune is not None
    assert [t.removed for t in told] == [1]  # before the prune ran
    (rec,) = _records(local_repo, "forget")
    assert not _records(local_repo, "prune")
    assert len(rec.details["removed"]) == 1
    assert rec.details["packs_repacked"] == r.prune.packs_repacked  # prune's details joined


def test_in_an_invocation_the_record_waits_for_the_run(
    local_repo: RepoHandle, tmp_path: Path
) -> None:
    repo = local_repo.open()
    with invocation(["backup", "--password-command=secret"], cache_dir=local_repo.cache) as run:
        result = backup(repo, BackupOptions(paths=(str(_source(tmp_path)),)))
        assert not _records(local_repo, "backup")
        assert run.metrics is not None and run.metrics.command == "backup"
        assert run.metrics.values["bytes_added"] == result.data_added
        run.finish(ExitCode.PARTIAL, "some files were unreadable")
    (rec,) = _records(local_repo, "backup")
    assert rec.exit_code == ExitCode.PARTIAL and rec.result == "some files were unreadable"
    assert rec.arguments == ("backup", "--password-command=<scrubbed>")
    assert not run.unwritten


def test_an_unreachable_store_gets_no_record(local_repo: RepoHandle) -> None:
    repo = local_repo.open()
    with invocation() as run:
        forget(repo, ForgetOptions(policy=Policy(last=1), dry_run=True))
        assert run.note is None  # a dry run joins nothing
        forget(repo, ForgetOptions(policy=Policy(last=1)))
        run.finish(ExitCode.STORAGE_UNAVAILABLE, "unreachable")
    assert not _records(local_repo, "forget")


def test_a_library_restore_or_verify_that_finds_damage_records_exit_13(
    local_repo: RepoHandle, tmp_path: Path
) -> None:
    """Their results say the damage (nothing is raised): the record says it too, with the
    CLI's exit code (it said 0 "ok": an attack pass, 2026-12-07)."""
    write_file(tmp_path / "src" / "a.bin", os.urandom(200_000))
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "src"),)))
    for pack in Path(local_repo.url, "data").glob("*/*"):
        body = bytearray(pack.read_bytes())
        body[len(body) // 3] ^= 0xFF
        pack.write_bytes(bytes(body))
    restored = restore(local_repo.open(), RestoreOptions(target=tmp_path / "out"))
    assert restored.errors
    checked = verify(local_repo.open(), VerifyOptions(read_data=True))
    assert not checked.ok
    got = {r.operation: (r.exit_code, r.result) for r in _records(local_repo)}
    assert got["restore"][0] == got["verify"][0] == ExitCode.DAMAGED
    assert got["restore"][1].startswith("damage found: 1 not restored"), got
    assert got["verify"][1].startswith("damage found"), got
