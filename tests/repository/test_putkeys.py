"""Put-only key files (design.md §6a): made by a full key, opened by their password into a
signed payload that seals but reads nothing; refused for reading; re-sealed on rotation."""

from __future__ import annotations

import functools
import json
import os
from dataclasses import replace

import pytest

from s3vault.backend.memory import MemoryBackend
from s3vault.crypto import kdf, sealbox
from s3vault.crypto.keys import MasterKey
from s3vault.errors import FormatVersionError, IntegrityError, KeyError_, S3VaultError
from s3vault.format import codec
from s3vault.format.envelope import SealedKind
from s3vault.format.keyfile import KeyFile, KeyPayload, Sealed
from s3vault.format.putpayload import PutOnlyPayload
from s3vault.ids import ObjectId
from s3vault.repository import putkeys
from s3vault.repository.keyring import (
    check_key_mac,
    find_key,
    reseal_all,
    store_key,
    unwrap_key,
    wrap_key,
)
from s3vault.repository.sealer import Sealer

REPO = ObjectId(os.urandom(32))
PAYLOAD = KeyPayload(identity=os.urandom(32), master_keys={1: os.urandom(32)})


def _put_only(payload: KeyPayload = PAYLOAD, host: str = "web-01") -> KeyFile:
    return putkeys.wrap_put_only_key(
        repo_id=REPO, payload=payload, password=b"host pw", host=host, kdf_cost="minimum"
    )


@pytest.fixture(scope="module")
def put_only() -> KeyFile:
    return _put_only()


def _full_sealer(payload: KeyPayload) -> Sealer:
    keys = {e: MasterKey(s, REPO, e, payload.identity) for e, s in payload.master_keys.items()}
    return Sealer(keys, max(keys))


def test_a_put_only_key_seals_what_the_full_key_opens(put_only: KeyFile) -> None:
    stored = json.loads(put_only.encode())
    assert (stored["v"], stored["access"], stored["host"], stored["group"]) == (
        3,
        "put-only",
        "web-01",
        "",
    )
    kf = KeyFile.decode(put_only.encode())
    payload = putkeys.unwrap_put_only(kf, b"host pw")
    master = MasterKey(PAYLOAD.master_keys[1], REPO, 1, PAYLOAD.identity)
    assert payload.epochs[1].public == master.put_public
    assert payload.id_key == master.id_key
    assert payload.writer == master.writer_secret(kf.id)
    assert b"secret" not in repr(payload).encode()
    sealed = putkeys.put_sealer(kf, payload, 1).seal_file(SealedKind.SNAPSHOT, b"snap")
    assert _full_sealer(PAYLOAD).open_file(SealedKind.SNAPSHOT, sealed) == b"snap"
    with pytest.raises(IntegrityError, match="epoch 2"):
        putkeys.put_sealer(kf, payload, 2)


def test_the_payload_holds_no_master_key(put_only: KeyFile) -> None:
    payload = putkeys.unwrap_put_only(put_only, b"host pw")
    text = payload.encode()
    for secret in (PAYLOAD.identity, PAYLOAD.master_keys[1]):
        assert codec.b64(secret).encode() not in text
    master = MasterKey(PAYLOAD.master_keys[1], REPO, 1, PAYLOAD.identity)
    for key in (master.encryption_key, master.put_private, master.cache_key, master.group_key):
        assert codec.b64(key).encode() not in text


def test_a_put_only_password_opens_nothing_for_reading(put_only: KeyFile) -> None:
    backend = MemoryBackend()
    full = wrap_key(repo_id=REPO, payload=PAYLOAD, password=b"admin", kdf_cost="minimum")
    store_key(backend, full, lambda k: unwrap_key(k, b"admin"))
    store_key(backend, put_only, lambda k: putkeys.unwrap_put_only(k, b"host pw"))
    with pytest.raises(KeyError_, match=r"put-only key .* needs a full key") as caught:
        find_key(backend, b"host pw", repo_id=REPO)
    assert caught.value.exit_code == 12
    assert find_key(backend, b"admin", repo_id=REPO)[1] == PAYLOAD
    with pytest.raises(IntegrityError, match="put-only"):
        unwrap_key(put_only, b"host pw")
    # The same password on a full key file as well: the full key opens.
    same = wrap_key(repo_id=REPO, payload=PAYLOAD, password=b"host pw", kdf_cost="minimum")
    store_key(backend, same, lambda k: unwrap_key(k, b"host pw"))
    assert find_key(backend, b"host pw", repo_id=REPO) == (same, PAYLOAD)


def test_a_substituted_payload_is_refused(put_only: KeyFile) -> None:
    """Anyone can seal to the key file's public key; the payload must be signed with the
    repository's σ, whose public half the key file pins under its password."""
    other = KeyPayload(identity=os.urandom(32), master_keys={1: os.urandom(32)})
    forged_payload = putkeys.derive_payload(other, put_only)  # signed by another σ
    epk, nonce, ct = sealbox.seal(put_only.public, forged_payload.encode(), put_only.payload_aad())
    forged = replace(put_only, payload=Sealed(epk=epk, nonce=nonce, ct=ct))
    with pytest.raises(IntegrityError, match="not signed by this repository"):
        putkeys.unwrap_put_only(KeyFile.decode(forged.encode()), b"host pw")


def test_rebinding_to_another_host_breaks_the_key(put_only: KeyFile) -> None:
    moved = KeyFile.decode(put_only.encode().replace(b'"host":"web-01"', b'"host":"db-01"'))
    with pytest.raises(S3VaultError):
        putkeys.unwrap_put_only(moved, b"host pw")


def test_every_byte_of_a_put_only_key_file_is_protected(
    put_only: KeyFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host refuses every changed byte but the MAC's (which it cannot check: its key is
    the identity's); a full key refuses a changed MAC."""
    monkeypatch.setattr(kdf, "derive_kek", functools.cache(kdf.derive_kek))
    raw = put_only.encode()
    mac_at = raw.index(b'"mac":"') + len(b'"mac":"')
    full = MasterKey(PAYLOAD.master_keys[1], REPO, 1, PAYLOAD.identity)
    for pos in range(len(raw)):
        damaged = bytearray(raw)
        damaged[pos] ^= 1
        if mac_at <= pos < mac_at + 64:
            try:
                decoded = KeyFile.decode(bytes(damaged))
            except IntegrityError:
                continue  # no longer hex
            assert not check_key_mac(decoded, full)
            continue
        with pytest.raises(S3VaultError):
            putkeys.unwrap_put_only(KeyFile.decode(bytes(damaged)), b"host pw")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ((b'"v":3', b'"v":2'), "version 2 has no"),
        ((b'"host":"web-01"', b'"host":""'), "bound to a host"),
        ((b'"access":"put-only"', b'"access":"full"'), "bound to a host"),
    ],
)
def test_version_and_access_fields_must_agree(
    put_only: KeyFile, change: tuple[bytes, bytes], why: str
) -> None:
    raw = put_only.encode().replace(*change)
    with pytest.raises(IntegrityError, match=why):
        KeyFile.decode(raw)


def test_a_reader_of_version_2_refuses_a_put_only_key_file() -> None:
    with pytest.raises(FormatVersionError, match="reads up to 2: upgrade"):
        codec.check_version(3, 2, "key file")


def test_rotation_reseals_put_only_key_files(put_only: KeyFile) -> None:
    backend = MemoryBackend()
    store_key(backend, put_only, lambda k: putkeys.unwrap_put_only(k, b"host pw"))
    rotated = KeyPayload(
        identity=PAYLOAD.identity, master_keys={**PAYLOAD.master_keys, 2: os.urandom(32)}
    )
    assert reseal_all(backend, rotated, REPO) == 1
    (info,) = backend.list("keys/")
    kf = KeyFile.decode(backend.get(info.name))
    payload = putkeys.unwrap_put_only(kf, b"host pw")
    assert sorted(payload.epochs) == [1, 2]
    sealed = putkeys.put_sealer(kf, payload, 2).seal_file(SealedKind.INDEX, b"index")
    assert _full_sealer(rotated).open_file(SealedKind.INDEX, sealed) == b"index"


def test_put_only_payloads_round_trip_and_refuse_damage(put_only: KeyFile) -> None:
    payload = putkeys.unwrap_put_only(put_only, b"host pw")
    assert PutOnlyPayload.decode(payload.encode()) == payload
    extra = payload.encode()[:-1] + b',"x":1}'
    with pytest.raises(IntegrityError, match="expected the fields"):
        PutOnlyPayload.decode(extra)
    with pytest.raises(ValueError, match="dedup groups"):
        putkeys.derive_payload(PAYLOAD, replace(put_only, group="tenant-a"))
    with pytest.raises(ValueError, match="host"):
        _put_only(host="")
