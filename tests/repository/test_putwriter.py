"""What a put-only writer stores (design.md §6a): packs sealed to the repository's public key
under one ephemeral key per run, index files of version 2 that carry each pack's sender, as
version 2 envelopes; a full key reads every blob, verifies every pack, and the local index
cache keeps the senders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from s3vault import InitOptions, add_put_only_key, init, open_repository
from s3vault.format.envelope import PUT_ENVELOPE_VERSION, EnvelopeHeader
from s3vault.format.indexfile import SENDER_VERSION, IndexFile
from s3vault.format.layout import ObjectKind
from s3vault.format.packfile import BlobType
from s3vault.repository.index import BlobIndex
from tests.conftest import TEST_SETTINGS, RepoHandle, RunCli
from tests.putonly import open_local_put_only

HOST_PW = b"web-01 secret"


@pytest.fixture
def written(tmp_path: Path) -> tuple[RepoHandle, dict[bytes, tuple[BlobType, bytes]]]:
    """A repository into which a put-only writer stored a few blobs (two packs or more)."""
    handle = RepoHandle(url=str(tmp_path / "repo"), cache=tmp_path / "cache")
    init(handle.options, InitOptions(settings=TEST_SETTINGS))
    add_put_only_key(handle.open(), HOST_PW, host="web-01", kdf_cost="minimum", switch=True)
    put = open_local_put_only(handle.url, HOST_PW)
    writer = put.blob_writer(BlobIndex())
    blobs: dict[bytes, tuple[BlobType, bytes]] = {}  # id → (its type, its data)
    for _ in range(6):
        data = os.urandom(1 << 20)
        bid, new = writer.save(BlobType.DATA, data)
        assert new
        blobs[bytes(bid)] = (BlobType.DATA, data)
    tree_id, _ = writer.save(BlobType.TREE, b'{"nodes":[],"v":1}')
    blobs[bytes(tree_id)] = (BlobType.TREE, b'{"nodes":[],"v":1}')
    writer.flush()
    return handle, blobs


def test_a_full_key_reads_every_blob_a_put_only_writer_stored(
    written: tuple[RepoHandle, dict[bytes, tuple[BlobType, bytes]]],
) -> None:
    handle, blobs = written
    full = open_repository(handle.options)
    senders = {full.index.sender(pack) for pack, _size in full.index.packs()}
    assert len(senders) == 1 and len(senders.pop()) == 64  # one ephemeral key for the run
    assert full.index.pack_count >= 3  # data packs and a tree pack
    for bid, (btype, data) in blobs.items():  # (a random blob may start with "{" too)
        assert full.load_blob(btype, bid) == data
    for oid in full.list_files(ObjectKind.INDEX):
        raw = full.read_object(ObjectKind.INDEX, oid)
        assert EnvelopeHeader.decode(raw).version == PUT_ENVELOPE_VERSION
        plain = full.load_file(ObjectKind.INDEX, oid)
        assert plain[4] == SENDER_VERSION
        assert all(p.sender for p in IndexFile.decode(plain).packs)
    # the local index cache, rebuilt from its image, still knows the senders
    again = open_repository(handle.options)
    assert all(again.index.sender(pack) for pack, _ in again.index.packs())
    first = next(iter(blobs))  # a data blob: stored first
    assert again.load_blob(BlobType.DATA, first) == blobs[first][1]


def test_verify_read_data_proves_a_put_only_writers_packs(
    written: tuple[RepoHandle, dict[bytes, tuple[BlobType, bytes]]], run_cli: RunCli
) -> None:
    handle, _ = written
    done = run_cli("-r", handle.url, "verify", "--read-data")
    assert done.code == 0, done.stdout + done.stderr
