"""A put-only host's copy of a blob is never the copy prune keeps in place of a full key's.

A put-only host can compute the id of a file it shares with another host and store garbage
under it (design.md §6a). Since prune keeps one copy of a blob stored twice (e13a7fe), a
helper's review showed that copy could be the garbage: the full key's pack was marked as
holding only a copy, deleted a grace later, and the other host's file restored as the
garbage; and `prune --reencrypt` counted the garbage in the new key epoch as the blob
re-encrypted already, so it deleted the old epoch's good pack (that one before e13a7fe too).
Grace periods pass for real here (1 s, tests/timetravel.age_directory): the store is a
local directory, whose clock is the file system's."""

from __future__ import annotations

import os
import socket
from dataclasses import replace
from pathlib import Path

import pytest

from s3vault import ForgetOptions, InitOptions, Policy, add_put_only_key, forget, init
from s3vault.crypto.hashing import blob_id
from s3vault.format.packfile import BlobType
from s3vault.maintenance.prune import PruneOptions
from s3vault.ops.backup import BackupOptions, backup
from s3vault.ops.keys import rotate_master
from s3vault.ops.prune import prune
from s3vault.progress import NullProgress
from s3vault.repository.index import BlobIndex
from s3vault.repository.lease import LeaseSettings
from tests.conftest import TEST_SETTINGS, RepoHandle, RunCli, write_file
from tests.putonly import open_local_put_only, restore_latest
from tests.timetravel import age_directory

PUT_PW = b"web-01 is compromised"


def _db_and_put_only_host(tmp_path: Path) -> tuple[RepoHandle, Path, bytes]:
    """A repository (grace 1 s) holding db-01's backup of a 50 KB file, and a put-only key of
    web-01's; the file's directory and content."""
    handle = RepoHandle(url=str(tmp_path / "repo"), cache=tmp_path / "cache")
    init(handle.options, InitOptions(settings=replace(TEST_SETTINGS, min_grace=1)))
    db = tmp_path / "db"
    content = os.urandom(50_000)
    write_file(db / "shared.bin", content)
    backup(handle.open(), BackupOptions(paths=(str(db),), host="db-01"))
    add_put_only_key(handle.open(), PUT_PW, host="web-01", kdf_cost="minimum", switch=True)
    return handle, db, content


def _shared_file_and_garbage(
    tmp_path: Path, garbage: bytes, *, rotate: bool = False
) -> tuple[RepoHandle, Path, bytes]:
    """db-01's backup of a file (full key), then web-01's garbage under that file's blob id
    (put-only key; after a master-key rotation with ``rotate``)."""
    handle, db, content = _db_and_put_only_host(tmp_path)
    if rotate:
        rotate_master(handle.open(), lease=LeaseSettings())
    put = open_local_put_only(handle.url, PUT_PW)
    writer = put.blob_writer(BlobIndex(), verify=False)
    writer.save(BlobType.DATA, garbage, blob_id(put.payload.id_key, content))
    writer.flush()
    return handle, db, content


@pytest.mark.parametrize("reencrypt", [False, True])
def test_a_put_only_hosts_garbage_never_replaces_the_full_keys_copy(
    tmp_path: Path, run_cli: RunCli, reencrypt: bool
) -> None:
    garbage = b"tiny garbage" if reencrypt else os.urandom(400_000)  # (bigger: "used most")
    handle, db, content = _shared_file_and_garbage(tmp_path, garbage, rotate=reencrypt)
    options = PruneOptions(grace=1, max_unused=0.0, reencrypt=reencrypt)
    for _ in range(3):  # marks, then deletes what it marked a grace before
        age_directory(handle.url, 1.2)
        prune(handle.open(), options, lease=LeaseSettings())
    out = tmp_path / "out"
    done = restore_latest(run_cli, handle.url, "db-01", out)
    assert done.code == 0, done.stderr
    assert (out / str(db).lstrip("/") / "shared.bin").read_bytes() == content


@pytest.mark.parametrize("orphan", [True, False])
def test_of_two_marked_copies_the_full_keys_comes_back_not_the_put_only_hosts(
    tmp_path: Path, run_cli: RunCli, orphan: bool
) -> None:
    """A snapshot written after prune marked both copies of a blob (db-01's good one and
    web-01's garbage) needs the blob again: the full key's pack is unmarked. The first
    marked pack in the record came back, whoever wrote it: the garbage was unmarked and the
    good pack deleted a grace later (a second review; also when web-01 wrote no index file)."""
    handle, db, content = _db_and_put_only_host(tmp_path)
    repo_dir = Path(handle.url)
    put = open_local_put_only(handle.url, PUT_PW)
    before = set(repo_dir.rglob("*"))
    writer = put.blob_writer(BlobIndex(), verify=False)
    writer.save(BlobType.DATA, b"garbage " * 100, blob_id(put.payload.id_key, content))
    writer.flush()
    if orphan:  # a host that writes no index file
        for path in set((repo_dir / "index").rglob("*")) - before:
            if path.is_file():
                path.unlink()
    age_directory(handle.url, 1.2)

    class Midway(NullProgress):  # a backup that read the index before the marks
        done = False

        def advanced(self, *, files: int = 0, bytes_: int = 0, item: str = "") -> None:
            if not self.done:
                self.done = True
                forget(
                    handle.open(),
                    ForgetOptions(
                        policy=Policy(), hosts=(socket.gethostname(),), allow_remove_all=True
                    ),
                )
                prune(handle.open(), PruneOptions(grace=1), lease=LeaseSettings())

    write_file(db / "other.bin", os.urandom(20_000))
    midway = Midway()
    done = backup(handle.open(), BackupOptions(paths=(str(db),), host="db-01"), progress=midway)
    assert done.snapshot_id is not None and midway.done
    for _ in range(2):
        age_directory(handle.url, 1.2)
        prune(handle.open(), PruneOptions(grace=1), lease=LeaseSettings())
    out = tmp_path / "out"
    restored = restore_latest(run_cli, handle.url, "db-01", out)
    assert restored.code == 0, restored.stderr
    assert (out / str(db).lstrip("/") / "shared.bin").read_bytes() == content
