"""Key files: the right password opens them; any change to any byte makes them unusable."""

from __future__ import annotations

import functools
import os

import pytest

from s3vault.backend.memory import MemoryBackend
from s3vault.crypto import kdf
from s3vault.errors import FormatVersionError, KeyError_, S3VaultError, WrongPasswordError
from s3vault.format.keyfile import KeyFile, KeyPayload
from s3vault.format.layout import ObjectKind, object_name
from s3vault.ids import ObjectId
from s3vault.repository.keyring import find_key, store_key, unwrap_key, wrap_key

PAYLOAD = KeyPayload(identity=b"i" * 32, master_keys={1: b"m" * 32, 2: b"n" * 32})


def _keyfile() -> bytes:
    kf = wrap_key(
        repo_id=ObjectId(os.urandom(32)),
        payload=PAYLOAD,
        password=b"pw",
        kdf_cost="minimum",
        label="ops",
        hostname="h1",
        username="root",
        created="2026-11-26T00:00:00+00:00",
    )
    return kf.encode()


@pytest.fixture(scope="module")
def keyfile_bytes() -> bytes:
    return _keyfile()


def test_right_password_opens_wrong_one_does_not(keyfile_bytes: bytes) -> None:
    kf = KeyFile.decode(keyfile_bytes)
    assert unwrap_key(kf, b"pw") == PAYLOAD
    with pytest.raises(WrongPasswordError):
        unwrap_key(kf, b"pW")


@pytest.mark.parametrize("bit", [0, 5])
def test_every_byte_of_a_key_file_is_protected(
    keyfile_bytes: bytes, bit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Most flips leave the KDF's input (password, salt, parameters) as it was: the real Argon2
    # runs once per distinct input (about 30 ms each at the floor, ~600 flips) and its output
    # is reused; what is proven is what happens after it.
    monkeypatch.setattr(kdf, "derive_kek", functools.cache(kdf.derive_kek))
    for pos in range(len(keyfile_bytes)):
        damaged = bytearray(keyfile_bytes)
        damaged[pos] ^= 1 << bit
        with pytest.raises(S3VaultError):
            unwrap_key(KeyFile.decode(bytes(damaged)), b"pw")


@pytest.mark.real_kdf
def test_kdf_parameters_below_the_floor_are_refused() -> None:
    keyfile_bytes = _keyfile()  # on the real floor's cost (the marker)
    weak = keyfile_bytes.replace(b'"memory_kib":19456', b'"memory_kib":1024')
    assert weak != keyfile_bytes
    with pytest.raises(S3VaultError, match=r"below the safe floor|canonical|wrong password"):
        unwrap_key(KeyFile.decode(weak), b"pw")


def test_a_development_version_1_key_file_is_refused_with_a_reason() -> None:
    with pytest.raises(FormatVersionError, match="development build"):
        KeyFile.decode(b'{"id":"00","kdf":{},"v":1,"wrap":{}}')


def _stored(password: bytes, repo_id: ObjectId) -> tuple[MemoryBackend, KeyFile]:
    backend = MemoryBackend()
    kf = wrap_key(repo_id=repo_id, payload=PAYLOAD, password=password, kdf_cost="minimum")
    store_key(backend, kf, lambda k: unwrap_key(k, password))
    return backend, kf


def test_find_key_names_a_damaged_key_file_the_password_opens() -> None:
    backend, kf = _stored(b"pw", ObjectId(os.urandom(32)))
    name = object_name(ObjectKind.KEYS, kf.id)
    data = bytearray(backend.get(name))
    at = data.index(kf.mac.hex().encode()) + 5
    data[at] = ord("1") if data[at] != ord("1") else ord("2")  # still hex: a MAC that fails
    backend.delete(name)
    backend.put(name, bytes(data))
    with pytest.raises(KeyError_) as caught:
        find_key(backend, b"pw")
    assert not isinstance(caught.value, WrongPasswordError)
    assert f"key file {kf.id.short}" in str(caught.value) and "--recovery-key-file" in str(
        caught.value
    )
    with pytest.raises(WrongPasswordError, match="wrong password"):
        find_key(backend, b"not it")  # a wrong password is still told as one


def test_find_key_skips_a_key_file_it_cannot_read_and_opens_another() -> None:
    repo_id = ObjectId(os.urandom(32))
    backend, kf = _stored(b"pw", repo_id)
    for junk in (b'{"v":1}', b'{"v":99}', b"\x00garbage"):
        backend.put(object_name(ObjectKind.KEYS, ObjectId(os.urandom(32))), junk)
    assert find_key(backend, b"pw", repo_id=repo_id)[0].id == kf.id
    with pytest.raises(
        WrongPasswordError, match=r"key file .* is damaged.*recovery-key-file.*cannot be read by"
    ):
        find_key(backend, b"other", repo_id=repo_id)
