"""backup with a put-only key (design.md §6a), end to end: the host backs up incrementally
from its own state, reads nothing else; a full key restores what it wrote byte for byte,
verifies every pack, and prune keeps it; no key the host holds opens anything in the store
but its own state and the config's view."""

from __future__ import annotations

import filecmp
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from s3vault import InitOptions, add_put_only_key, init, open_repository
from s3vault.crypto import aead, putseal
from s3vault.crypto.hashing import blob_id
from s3vault.crypto.keys import MasterKey
from s3vault.errors import IntegrityError, UsageError
from s3vault.format.configfile import ConfigMarker
from s3vault.format.envelope import EnvelopeHeader, blob_aad
from s3vault.format.keyfile import KeyFile
from s3vault.format.layout import ObjectKind
from s3vault.format.packfile import BlobType, split_trailer
from s3vault.ops.backup import BackupOptions, BackupResult, backup
from s3vault.ops.backup_putonly import backup_put_only
from s3vault.ops.keys import remove_key
from s3vault.repository import hoststate
from s3vault.repository.putrepo import PutOnlyRepository
from s3vault.repository.sealer import BLOB_KINDS, PACK_HEADER_BINDING
from s3vault.repository.snapshots import list_snapshots, load_snapshot
from tests.conftest import TEST_SETTINGS, RepoHandle, RunCli, write_file
from tests.putonly import open_local_put_only, wrapped_secret

HOST_PW = b"web-01 writes, never reads"


@dataclass
class Fleet:
    handle: RepoHandle
    source: Path
    runs: list[BackupResult]
    shared: bytes  # a file both hosts back up


def _put(handle: RepoHandle) -> PutOnlyRepository:
    return open_local_put_only(handle.url, HOST_PW)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    base = tmp_path_factory.mktemp("fleet")
    handle = RepoHandle(url=str(base / "repo"), cache=base / "cache")
    init(handle.options, InitOptions(settings=TEST_SETTINGS))
    shared = os.urandom(300_000)
    write_file(base / "db" / "shared.bin", shared)
    backup(handle.open(), BackupOptions(paths=(str(base / "db"),), host="db-01"))
    add_put_only_key(handle.open(), HOST_PW, host="web-01", kdf_cost="minimum", switch=True)
    source = base / "web"
    for i in range(5):
        write_file(source / "www" / f"page{i}.html", os.urandom(40_000 + i))
    write_file(source / "big.bin", os.urandom(3 << 20))
    write_file(source / "shared.bin", shared)
    os.symlink("www/page0.html", source / "link")
    options = BackupOptions(paths=(str(source),), host="web-01")
    runs = [backup_put_only(_put(handle), options), backup_put_only(_put(handle), options)]
    write_file(source / "www" / "page1.html", b"changed")
    runs.append(backup_put_only(_put(handle), options))
    return Fleet(handle=handle, source=source, runs=runs, shared=shared)


def test_the_host_deduplicates_against_another_hosts_blobs(fleet: Fleet) -> None:
    full = open_repository(fleet.handle.options)
    shared = blob_id(full.sealer.current.id_key, fleet.shared)
    (stored,) = full.index.locations(BlobType.DATA, shared)  # db-01's copy, once
    assert stored.sender == b""


def test_the_second_run_reads_no_unchanged_file_and_stores_nothing(fleet: Fleet) -> None:
    first, second, third = fleet.runs
    assert (first.files_new, first.parent_id) == (7, None)
    # five pages and big.bin's chunks: as many as the repository's keyed chunker cuts from
    # 3 MiB of random bytes, most often 3 (">= 8" failed a clean clone's run with 2);
    # shared.bin's blob is db-01's
    assert first.data_blobs >= 6
    assert (second.files_new, second.files_changed, second.files_unmodified) == (0, 0, 7)
    assert (second.data_blobs, second.parent_id) == (0, first.snapshot_id)
    assert (third.files_changed, third.files_unmodified, third.data_blobs) == (1, 6, 1)


def test_a_full_key_restores_what_the_put_only_host_wrote(
    fleet: Fleet, run_cli: RunCli, tmp_path: Path
) -> None:
    url = fleet.handle.url
    listed = json.loads(run_cli("-r", url, "--json", "snapshots", "--host", "web-01").stdout)
    assert len(listed) == 3
    last = fleet.runs[-1].snapshot_id
    assert last is not None
    done = run_cli("-r", url, "restore", last.hex()[:12], "--target", str(tmp_path / "out"))
    assert done.code == 0, done.stderr
    restored = tmp_path / "out" / str(fleet.source).lstrip("/")
    _same, mismatch, errors = filecmp.cmpfiles(
        fleet.source,
        restored,
        ["big.bin", "shared.bin", "link", *[f"www/page{i}.html" for i in range(5)]],
        shallow=False,
    )
    assert (mismatch, errors) == ([], [])
    assert os.readlink(restored / "link") == "www/page0.html"
    done = run_cli("-r", url, "verify", "--read-data")
    assert done.code == 0, done.stdout + done.stderr


def test_prune_keeps_what_the_put_only_host_wrote(
    fleet: Fleet, run_cli: RunCli, tmp_path: Path
) -> None:
    url = fleet.handle.url
    done = run_cli("-r", url, "forget", "--host", "web-01", "--keep-last", "1", "--prune")
    assert done.code == 0, done.stdout + done.stderr
    done = run_cli("-r", url, "verify", "--read-data")
    assert done.code == 0, done.stdout + done.stderr
    done = run_cli("-r", url, "restore", "latest", "--host", "web-01", "--target", str(tmp_path))
    assert done.code == 0, done.stderr
    restored = tmp_path / str(fleet.source).lstrip("/") / "big.bin"
    assert restored.read_bytes() == (fleet.source / "big.bin").read_bytes()


def test_a_put_only_backup_refuses_another_host_and_reading_options(fleet: Fleet) -> None:
    put = _put(fleet.handle)
    with pytest.raises(UsageError, match="writes snapshots for host 'web-01'"):
        backup_put_only(put, BackupOptions(paths=(str(fleet.source),), host="db-01"))
    with pytest.raises(UsageError, match="--dry-run is not available"):
        backup_put_only(put, BackupOptions(paths=(str(fleet.source),), host="web-01", dry_run=True))


def _held(handle: RepoHandle, put: PutOnlyRepository) -> list[bytes]:
    """Every secret the put-only host holds, each also taken as a master key or identity."""
    secret = wrapped_secret(put, HOST_PW)
    payload = put.payload
    held = [secret[:32], secret[32:], payload.writer, payload.id_key]
    held += [putseal.psk(payload.writer, put.id)]
    held += [putseal.writer_subkey(payload.writer, put.id, p) for p in ("psk", "tag")]
    for epoch in payload.epochs.values():
        held += [epoch.public, epoch.view]
    out = []
    for value in held:
        out.append(value)
        for epoch in payload.epochs:
            as_master = MasterKey(value, put.id, epoch, value)
            out += [as_master.encryption_key, as_master.id_key]
    return out


def _opens(keys: list[bytes], nonce: bytes, ct: bytes, aad: bytes) -> bool:
    for key in keys:
        try:
            aead.open_(key, nonce, ct, aad)
        except IntegrityError:
            continue
        return True
    return False


def test_the_put_only_host_opens_nothing_but_its_state_and_the_config_view(
    fleet: Fleet,
) -> None:
    put = _put(fleet.handle)
    keys = _held(fleet.handle, put)
    full = open_repository(fleet.handle.options)
    tried = 0
    for info in full.list_everything():
        kind = info.name.split("/", 1)[0]
        raw = full.backend.get(info.name)
        if kind in ("keys", "state", "views"):  # key files: their own test; its state and
            # the dedup views are the host's to read (design.md §6a)
            assert kind != "keys" or KeyFile.decode(raw).payload is not None
            continue
        if kind == "config":
            raw = ConfigMarker.decode(raw).sealed  # the view is the host's to read
        if kind in ("data", "tree"):
            hlen = split_trailer(raw)
            raw = raw[len(raw) - 4 - hlen : len(raw) - 4]
        header = EnvelopeHeader.decode(raw)
        binding = PACK_HEADER_BINDING if kind in ("data", "tree") else b""
        full.sealer.open(header.kind, raw, binding)  # a fair trial: the full key opens it
        assert not _opens(
            keys, header.nonce, raw[header.size :], raw[: header.size] + put.id + binding
        )
        tried += 1
    packs = full.list_packs()
    for btype, bid, loc in full.index.entries():
        raw = full.backend.get(packs[loc.pack_id].name, loc.offset, loc.length)
        assert full.sealer.open_blob(btype, bid, raw, loc.raw_length, loc.epoch, loc.sender)
        version = 2 if loc.sender else 1
        aad = blob_aad(BLOB_KINDS[btype], loc.epoch, version) + put.id + bid
        assert not _opens(keys, raw[:24], raw[24:], aad)
        tried += 1
    assert tried >= 20
    # the host's own state opens for it (its state subkey); a full key opens it too
    state_names = [i.name for i in full.list_everything() if i.name.startswith("state/")]
    assert len(state_names) == 3
    stored = full.backend.get(state_names[-1])
    tag, place = state_names[-1].split("/")[1:]
    seq = int(place.partition("-")[0])
    writer = put.payload.writer
    assert hoststate.open_state(writer, put.id, put.keyfile.id, stored, host_tag=tag, seq=seq)
    assert hoststate.open_state_full(
        full.sealer.current, put.keyfile.id, stored, host_tag=tag, seq=seq
    )


def test_a_snapshot_for_another_host_is_refused_as_forged_and_removal_keeps_the_check(
    tmp_path: Path,
) -> None:
    handle = RepoHandle(url=str(tmp_path / "repo"), cache=tmp_path / "cache")
    init(handle.options, InitOptions(settings=TEST_SETTINGS))
    add_put_only_key(handle.open(), HOST_PW, host="web-01", kdf_cost="minimum", switch=True)
    write_file(tmp_path / "src" / "a", b"web-01's file")
    real = backup_put_only(
        _put(handle), BackupOptions(paths=(str(tmp_path / "src"),), host="web-01")
    )
    assert real.snapshot_id is not None
    put = _put(handle)
    forged = replace(load_snapshot(handle.open(), real.snapshot_id), hostname="db-01")
    forged_id = put.save_file(ObjectKind.SNAPSHOTS, forged.encode(), put.sealer())
    full = handle.open()
    with pytest.raises(IntegrityError, match="forged"):
        load_snapshot(full, forged_id)
    assert [s.hostname for _, s in list_snapshots(full)] == ["web-01"]
    # removed with `key remove`: the config keeps its host, the check goes on
    remove_key(full, put.keyfile.id.hex())
    again = handle.open()
    assert again.config.revoked == {put.keyfile.id.hex(): "web-01"}
    assert load_snapshot(again, real.snapshot_id).hostname == "web-01"
    with pytest.raises(IntegrityError, match="forged"):
        load_snapshot(again, forged_id)
    # a key file deleted from the store behind s3vault's back lifts nothing
    del_config = replace(again.config, revoked={})
    again.save_config(del_config)
    with pytest.raises(IntegrityError, match="does not know"):
        load_snapshot(handle.open(), real.snapshot_id)
