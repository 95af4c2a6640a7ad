"""Every key a put-only host holds, tried on every object in a repository a full key wrote
(design.md §6a, §13): none opens. The full key opens each, so the trial is a fair one: right
nonce, right associated data, only the key is the attacker's. Blob boundaries come from the
full key's index, which a put-only host does not have: the attacker's best case."""

from __future__ import annotations

import os
from pathlib import Path

from s3vault import BackupOptions, backup, list_keys, rotate_master, verify
from s3vault.crypto import aead, kdf, putseal, sealbox
from s3vault.crypto.keys import MasterKey
from s3vault.errors import IntegrityError
from s3vault.format.configfile import ConfigMarker
from s3vault.format.envelope import EnvelopeHeader, SealedKind, blob_aad
from s3vault.format.keyfile import KeyFile
from s3vault.format.layout import ObjectKind, object_name
from s3vault.format.packfile import split_trailer
from s3vault.repository import keyring, putkeys
from s3vault.repository.sealer import BLOB_KINDS, PACK_HEADER_BINDING
from tests.conftest import RepoHandle, write_file


def _candidates(held: list[bytes], repo_id: bytes, epochs: list[int]) -> list[bytes]:
    """Each 32-byte secret as a key, and as the master key or identity it is not."""
    out = []
    for value in held:
        out.append(value)
        for epoch in epochs:
            as_master = MasterKey(value, repo_id, epoch, value)
            out += [as_master.encryption_key, as_master.view_key, as_master.id_key]
    return out


def _refused(candidates: list[bytes], nonce: bytes, ct: bytes, aad: bytes) -> None:
    for key in candidates:
        try:
            aead.open_(key, nonce, ct, aad)
        except IntegrityError:
            continue
        raise AssertionError("a put-only key opened an object it must not")


def test_a_put_only_host_opens_nothing_a_full_key_wrote(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    write_file(tmp_path / "src" / "a", os.urandom(50_000))
    write_file(tmp_path / "src" / "b", b"known content " * 100)
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "src"),)))
    repo = local_repo.open()
    kf = putkeys.wrap_put_only_key(
        repo_id=repo.id,
        payload=repo.sealer.payload(),
        password=b"host pw",
        host="web-01",
        kdf_cost="minimum",
    )
    repo.backend.put(object_name(ObjectKind.KEYS, kf.id), kf.encode())

    # The host's side: its key file, opened with its password, and nothing else.
    mine = KeyFile.decode(repo.backend.get(object_name(ObjectKind.KEYS, kf.id)))
    payload = putkeys.unwrap_put_only(mine, b"host pw")
    assert mine.wrap is not None and mine.kdf is not None
    spec = mine.kdf
    params = kdf.KdfParams(
        memory_kib=spec.memory_kib, iterations=spec.iterations, lanes=spec.lanes, salt=spec.salt
    )
    secret = aead.open_(
        kdf.derive_kek(b"host pw", params), mine.wrap.nonce, mine.wrap.ct, mine.secret_aad()
    )
    held = [secret[:32], secret[32:]]  # its key file's private key, the pinned Σ
    held += [payload.writer, putseal.psk(payload.writer, repo.id), payload.id_key]
    for epoch in payload.epochs.values():
        held += [epoch.public, epoch.view]
    held.append(payload.audit_tag.encode().ljust(32, b"\0"))
    held.append(payload.chunker_seed.to_bytes(8, "big").ljust(32, b"\0"))
    candidates = _candidates(held, repo.id, sorted(payload.epochs))

    full = repo.sealer
    tried = 0
    for info in repo.list_everything():
        raw = repo.backend.get(info.name)
        kind = info.name.split("/", 1)[0]
        if kind == "keys":
            keyfile = KeyFile.decode(raw)
            if keyfile.id == mine.id or keyfile.payload is None:
                continue
            for value in held:  # its own private key first
                sealed = keyfile.payload
                try:
                    sealbox.open_(value, sealed.epk, sealed.nonce, sealed.ct, keyfile.payload_aad())
                except IntegrityError:
                    continue
                raise AssertionError("a put-only key opened a full key file's payload")
            tried += 1
            continue
        if kind == "config":
            raw = ConfigMarker.decode(raw).sealed
        if kind in ("data", "tree"):
            hlen = split_trailer(raw)
            raw = raw[len(raw) - 4 - hlen : len(raw) - 4]
        header = EnvelopeHeader.decode(raw)
        binding = PACK_HEADER_BINDING if kind in ("data", "tree") else b""
        aad = raw[: header.size] + repo.id + binding
        full.open(header.kind, raw, binding)  # the full key opens it: the trial is fair
        _refused(candidates, header.nonce, raw[header.size :], aad)
        tried += 1
    packs = repo.list_packs()
    for btype, bid, loc in repo.index.entries():
        raw = repo.backend.get(packs[loc.pack_id].name, loc.offset, loc.length)
        assert full.open_blob(btype, bid, raw, loc.raw_length, loc.epoch)
        aad = blob_aad(BLOB_KINDS[btype], loc.epoch) + repo.id + bid
        _refused(candidates, raw[:24], raw[24:], aad)
        tried += 1
    assert tried >= 9  # config, a key file, index, snapshot, audit record, 2 packs, 2+ blobs


def test_existing_commands_live_with_a_put_only_key_file(
    tmp_path: Path, local_repo: RepoHandle
) -> None:
    """A put-only key file in a repository: key list shows it usable, verify passes,
    rotate-master gives it the new epoch (signed), and what it then seals the full key opens."""
    write_file(tmp_path / "src" / "a", b"x" * 1000)
    backup(local_repo.open(), BackupOptions(paths=(str(tmp_path / "src"),)))
    repo = local_repo.open()
    kf = putkeys.wrap_put_only_key(
        repo_id=repo.id,
        payload=repo.sealer.payload(),
        password=b"host pw",
        host="web-01",
        kdf_cost="minimum",
    )
    keyring.store_key(repo.backend, kf, lambda k: putkeys.unwrap_put_only(k, b"host pw"))
    listed = {e.id: e for e in list_keys(repo)}
    assert listed[kf.id.hex()].usable
    assert verify(repo).ok

    rotated = rotate_master(repo)
    assert rotated.key_files == 2
    again = local_repo.open()
    mine = KeyFile.decode(again.backend.get(object_name(ObjectKind.KEYS, kf.id)))
    payload = putkeys.unwrap_put_only(mine, b"host pw")
    assert sorted(payload.epochs) == [1, 2]
    sealed = putkeys.put_sealer(mine, payload, again.config.current_epoch).seal_file(
        SealedKind.SNAPSHOT, b"{}"
    )
    assert again.sealer.open_file(SealedKind.SNAPSHOT, sealed) == b"{}"
    assert verify(again).ok
