"""Any flipped byte in any stored object is refused when that object is read: an error, or (for a
snapshot or index file, which readers pass over so that one bad object stops nothing else) a
record of the skipped object that names it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s3vault import BackupOptions, audit_log, backup
from s3vault.errors import S3VaultError
from s3vault.format.envelope import SealedKind
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import decode_header, split_trailer
from s3vault.repository.repository import Repository
from s3vault.repository.sealer import PACK_HEADER_BINDING
from s3vault.repository.snapshots import list_snapshots
from tests.conftest import RepoHandle, write_file


def read_everything(handle: RepoHandle) -> Repository:
    """Open the repository and read every object: config, keys, index, snapshots, packs."""
    repo = handle.open()
    for _sid, _snap in list_snapshots(repo):
        pass
    for btype, bid, loc in list(repo.index.entries()):
        repo.load_blob(btype, bid)
        del loc
    for kind in (ObjectKind.DATA, ObjectKind.TREE):
        for pack_id in repo.list_files(kind):
            data = repo.backend.get(object_name(kind, pack_id))
            hlen = split_trailer(data)
            sealed = data[len(data) - 4 - hlen : len(data) - 4]
            entries = decode_header(
                repo.sealer.open(SealedKind.PACK_HEADER, sealed, PACK_HEADER_BINDING)
            )
            assert sum(e.length for e in entries) + hlen + 4 == len(data)
    return repo


@pytest.fixture(scope="module")
def damaged_repo_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[RepoHandle, Path]:
    from s3vault import InitOptions, init
    from tests.conftest import TEST_SETTINGS

    base = tmp_path_factory.mktemp("tamper")
    handle = RepoHandle(url=str(base / "repo"), cache=base / "cache")
    init(handle.options, InitOptions(settings=TEST_SETTINGS))
    src = base / "src"
    write_file(src / "a.txt", b"alpha " * 1000)
    write_file(src / "b.bin", os.urandom(3000))
    backup(handle.open(), BackupOptions(paths=(str(src),)))
    read_everything(handle)  # clean repository reads fine
    return handle, Path(handle.url)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_any_flipped_byte_is_refused(
    damaged_repo_source: tuple[RepoHandle, Path], data: st.DataObject
) -> None:
    handle, root = damaged_repo_source
    files = sorted(p for p in root.rglob("*") if p.is_file())
    victim = data.draw(st.sampled_from(files))
    original = victim.read_bytes()
    pos = data.draw(st.integers(0, len(original) - 1))
    bit = data.draw(st.integers(0, 7))
    damaged = bytearray(original)
    damaged[pos] ^= 1 << bit
    victim.write_bytes(bytes(damaged))
    try:
        # A fresh cache each time: a cache filled before the damage would (rightly) hide it.
        fresh = RepoHandle(url=handle.url, cache=Path(tempfile.mkdtemp(dir=root.parent)))
        try:
            repo = read_everything(fresh)
        except S3VaultError:
            pass
        else:
            name = victim.relative_to(root).as_posix()
            if name.startswith("audit/"):  # library calls are audited: `s3vault audit` checks
                assert audit_log(repo).broken, f"{name}: damage not noticed"
                return
            assert name.startswith(("snapshots/", "index/")), f"{name}: damage not noticed"
            assert name in repo.skipped
    finally:
        victim.write_bytes(original)
