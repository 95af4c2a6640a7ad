"""Crypto refusals (issue 6): a blob's ciphertext is bound to its id, its kind and its
repository. Blobs swapped within a pack, moved between blob kinds, or spliced from another
repository (one sharing the password, or even the master key) are refused; another
repository placed at a location this host used is refused against its local state."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from s3vault import BackupOptions, backup
from s3vault.crypto.keys import MasterKey
from s3vault.errors import IntegrityError
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import BlobType
from s3vault.ids import ObjectId
from s3vault.repository.known import KnownRepositories
from s3vault.repository.sealer import Sealer
from tests.conftest import RepoHandle, RunCli, write_file


def two_blob_pack(
    handle: RepoHandle, tmp_path: Path
) -> tuple[Path, list[tuple[int, int, ObjectId]]]:
    """Back up two incompressible files of one size: their blobs share a data pack and have
    the same sealed length. Returns the pack's path and (offset, length, id) of both."""
    src = tmp_path / "src"
    write_file(src / "a.bin", os.urandom(300_000))
    write_file(src / "b.bin", os.urandom(300_000))
    repo = handle.open()
    backup(repo, BackupOptions(paths=(str(src),), host="h"))
    repo = handle.open()
    by_pack: dict[ObjectId, list[tuple[int, int, ObjectId]]] = {}
    for btype, bid, loc in repo.index.entries():
        if btype is BlobType.DATA:
            by_pack.setdefault(loc.pack_id, []).append((loc.offset, loc.length, bid))
    ((pack_id, blobs),) = by_pack.items()
    assert len(blobs) == 2 and blobs[0][1] == blobs[1][1]
    return Path(handle.url) / object_name(ObjectKind.DATA, pack_id), sorted(blobs)


def test_blobs_swapped_within_a_pack_are_refused(local_repo: RepoHandle, tmp_path: Path) -> None:
    path, blobs = two_blob_pack(local_repo, tmp_path)
    data = bytearray(path.read_bytes())
    (o1, n, id1), (o2, _, id2) = blobs
    data[o1 : o1 + n], data[o2 : o2 + n] = data[o2 : o2 + n], data[o1 : o1 + n]
    path.chmod(0o600)
    path.write_bytes(bytes(data))
    repo = local_repo.open()
    for bid in (id1, id2):
        with pytest.raises(IntegrityError):
            repo.load_blob(BlobType.DATA, bid)


def test_a_data_blob_is_not_a_tree_blob(local_repo: RepoHandle, tmp_path: Path) -> None:
    path, blobs = two_blob_pack(local_repo, tmp_path)
    repo = local_repo.open()
    offset, length, bid = blobs[0]
    sealed = path.read_bytes()[offset : offset + length]
    loc = repo.index.lookup(BlobType.DATA, bid)
    assert loc is not None
    assert repo.sealer.open_blob(BlobType.DATA, bid, sealed, loc.raw_length, loc.epoch)
    with pytest.raises(IntegrityError):
        repo.sealer.open_blob(BlobType.TREE, bid, sealed, loc.raw_length, loc.epoch)


def test_blobs_from_another_repository_are_refused(local_repo: RepoHandle, tmp_path: Path) -> None:
    path, blobs = two_blob_pack(local_repo, tmp_path)
    repo = local_repo.open()
    offset, length, bid = blobs[0]
    sealed = path.read_bytes()[offset : offset + length]
    loc = repo.index.lookup(BlobType.DATA, bid)
    assert loc is not None
    mine = repo.sealer.current
    # Another repository with the same password has its own master key; even one given the
    # very same master and identity secrets (a cloned key file) has another repository id.
    for other in (
        MasterKey.generate(os.urandom(32), 1, os.urandom(32)),
        MasterKey(mine.secret, os.urandom(32), 1, mine.identity),
    ):
        with pytest.raises(IntegrityError):
            Sealer({1: other}, 1).open_blob(BlobType.DATA, bid, sealed, loc.raw_length, 1)


def test_another_repository_at_a_known_location_is_refused(
    tmp_path: Path, cli_env: dict[str, str], run_cli: RunCli
) -> None:
    url, other = str(tmp_path / "repo"), str(tmp_path / "other")
    for where in (url, other):  # the same password for both
        done = run_cli("-r", where, "init", "--kdf-cost", "minimum", "--no-recovery-key")
        assert done.code == 0, done.stderr
    assert run_cli("-r", url, "snapshots").code == 0
    shutil.rmtree(url)
    shutil.copytree(other, url)  # someone put another repository where ours was
    refused = run_cli("-r", url, "snapshots")
    assert refused.code == 13
    assert "is not the one this host used before" in refused.stderr
    assert "known-repositories.json" in refused.stderr
    assert run_cli("-r", url, "--no-cache", "snapshots").code == 0  # nothing pinned: opens


def test_a_damaged_known_repositories_line_names_what_differs(tmp_path: Path) -> None:
    """A line that holds no id (a damaged cache file) is ignored and rewritten; ids that
    differ only after their first 8 digits are shown long enough to differ (they read
    "id d52c2ed5, now d52c2ed5")."""
    known = KnownRepositories(tmp_path)
    rid = ObjectId(bytes(range(32)))
    known.remember("/r", rid)
    text = known.path.read_text() if known.path else ""
    assert known.path is not None
    known.path.write_text(text.replace(rid.hex(), rid.hex()[:-1] + "g"))  # not an id
    known.check("/r", rid)
    known.remember("/r", rid)
    assert rid.hex() in known.path.read_text()
    near = rid.hex()[:20] + ("0" if rid.hex()[20] != "0" else "1") + rid.hex()[21:]
    known.path.write_text(known.path.read_text().replace(rid.hex(), near))
    with pytest.raises(IntegrityError) as refused:
        known.check("/r", rid)
    assert f"id {near[:32]}, now {rid.hex()[:32]}" in str(refused.value)


@pytest.mark.parametrize("content", ["{garbage", '["x"]', "directory"])
def test_a_known_repositories_file_that_cannot_be_read_is_said_once(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Its locations go unchecked (a replaced repository at one of them would not be seen):
    said once a command, where it was ignored or replaced without a word (an attack pass)."""
    known = KnownRepositories(tmp_path)
    assert known.path is not None
    if content == "directory":
        known.path.mkdir()
    else:
        known.path.write_text(content)
    rid = ObjectId(bytes(range(32)))
    known.check("/r", rid)
    known.remember("/r", rid)
    said = [r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(said) == 1 and "not checked this time" in said[0], said
