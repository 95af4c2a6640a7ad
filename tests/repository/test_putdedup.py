"""A put-only host's dedup set (repository/putdedup.py, design.md §6a): blobs named by view
digest count as stored for the ids that hash to them, and no id comes out of it; views of
version 1 (raw ids) are ignored with one warning until a full key's prune rewrites them."""

from __future__ import annotations

import os
from pathlib import Path

from s3vault import add_put_only_key
from s3vault.crypto.hashing import blob_id, view_digest
from s3vault.format.dedupview import ViewPack
from s3vault.format.indexfile import decode_raw
from s3vault.format.layout import ObjectKind
from s3vault.format.packfile import ENTRY, BlobType
from s3vault.ids import ObjectId
from s3vault.maintenance.prune import PruneOptions
from s3vault.ops.backup import BackupOptions, backup
from s3vault.ops.backup_putonly import backup_put_only
from s3vault.ops.prune import prune
from s3vault.progress import NullProgress
from s3vault.repository import views
from s3vault.repository.putdedup import PutDedupIndex
from s3vault.repository.putrepo import PutOnlyRepository
from s3vault.repository.putstate import PutArchiveView, endorsed_blobs
from tests.conftest import RepoHandle, write_file
from tests.putonly import open_local_put_only

REPO = os.urandom(32)
HOST_PW = b"web-01 writes"


def test_a_viewed_blob_counts_as_stored_for_its_id_and_yields_no_id() -> None:
    bid, other = os.urandom(32), os.urandom(32)
    index = PutDedupIndex(REPO)
    assert not index.has(BlobType.DATA, bid) and index.viewed == 0
    pack = ViewPack(
        id=ObjectId(os.urandom(32)), size=9, blobs=((BlobType.DATA, view_digest(REPO, bid)),)
    )
    index.add_view_pack(pack)
    assert index.has(BlobType.DATA, bid) and not index.reserve(BlobType.DATA, bid)
    assert not index.has(BlobType.TREE, bid) and not index.has(BlobType.DATA, other)
    assert index.reserve(BlobType.DATA, other)  # not viewed: stored by this run
    assert list(index.entries()) == [] and index.viewed == 1  # digests are no entries
    index.drop_blob(BlobType.DATA, bid)  # found unreadable: stored again
    assert not index.has(BlobType.DATA, bid) and index.reserve(BlobType.DATA, bid)


class _Warnings(NullProgress):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def warned(self, path: str, message: str) -> None:
        self.seen.append((path, message))


def _put(handle: RepoHandle) -> PutOnlyRepository:
    return open_local_put_only(handle.url, HOST_PW)


def _as_version_1(handle: RepoHandle) -> int:
    """Replace every view by what s3vault wrote before views listed digests: version 1, raw
    blob ids, signed without the index id. Returns how many."""
    repo = handle.open()
    key = repo.sealer.current
    done = 0
    for oid in repo.list_files(ObjectKind.INDEX):
        packs, supersedes = decode_raw(repo.load_file(ObjectKind.INDEX, oid))
        body = [b"S3VV\x01", len(supersedes).to_bytes(4, "little"), *map(bytes, supersedes)]
        body.append(len(packs).to_bytes(4, "little"))
        for p in packs:
            body += [
                bytes(p.id),
                p.size.to_bytes(8, "little"),
                (len(p.raw) // ENTRY.size).to_bytes(4, "little"),
            ]
            body += [bytes([c]) + bid for c, bid, *_ in ENTRY.iter_unpack(p.raw)]
        plain = b"".join(body)
        sig = key.signing_key.sign(b"s3vault-view-v1/endorsed" + key.repo_id + plain)
        sealed = views._seal(key.view_key, key.epoch, key.repo_id, views.ENDORSED, plain + sig)
        name = f"views/{oid.hex()}"
        repo.backend.delete(name)
        repo.backend.put(name, sealed)
        done += 1
    return done


def test_views_of_version_1_are_ignored_with_one_warning_until_prune_rewrites_them(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    shared = os.urandom(30_000)
    write_file(tmp_path / "db" / "a", shared)
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "db"),), host="db-01"))
    write_file(tmp_path / "db" / "b", os.urandom(1000))  # a second index file
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "db"),), host="db-01"))
    add_put_only_key(local_repo.open(), HOST_PW, host="web-01", kdf_cost="minimum", switch=True)
    assert _as_version_1(local_repo) == 2
    bid = blob_id(local_repo.open().sealer.current.id_key, shared)

    progress = _Warnings()
    dedup = PutArchiveView(_put(local_repo), None).index
    assert endorsed_blobs(_put(local_repo), dedup, on_skip=progress.warned) == 0
    ((where, what),) = progress.seen  # once for all of them
    assert where == "views/" and what.startswith("2 view(s): a dedup view of version 1")
    assert "`s3vault prune`" in what and not dedup.has(BlobType.DATA, bid)
    write_file(tmp_path / "web" / "a", shared)
    source = BackupOptions(paths=(str(tmp_path / "web"),), host="web-01")
    assert backup_put_only(_put(local_repo), source).data_blobs == 1  # stored again

    prune(local_repo.open(), PruneOptions())  # supersedes every index file: views of version 2
    progress = _Warnings()
    dedup = PutArchiveView(_put(local_repo), None).index
    assert endorsed_blobs(_put(local_repo), dedup, on_skip=progress.warned) >= 1
    assert progress.seen == [] and dedup.has(BlobType.DATA, bid)
    again = BackupOptions(paths=source.paths, host="web-01", force=True)  # no state trusted
    assert backup_put_only(_put(local_repo), again).data_blobs == 0  # db-01's copy, viewed
