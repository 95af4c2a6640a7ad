"""Key files: the right password opens them; any change to any byte makes them unusable."""

from __future__ import annotations

import os

import pytest

from s3vault.errors import FormatVersionError, S3VaultError, WrongPasswordError
from s3vault.format.keyfile import KeyFile, KeyPayload
from s3vault.ids import ObjectId
from s3vault.repository.keyring import unwrap_key, wrap_key

PAYLOAD = KeyPayload(identity=b"i" * 32, master_keys={1: b"m" * 32, 2: b"n" * 32})


@pytest.fixture(scope="module")
def keyfile_bytes() -> bytes:
    kf = wrap_key(
        repo_id=ObjectId(os.urandom(32)),
        payload=PAYLOAD,
        password=b"pw",
        kdf_profile="minimum",
        label="ops",
        hostname="h1",
        username="root",
        created="2026-11-26T00:00:00+00:00",
    )
    return kf.encode()


def test_right_password_opens_wrong_one_does_not(keyfile_bytes: bytes) -> None:
    kf = KeyFile.decode(keyfile_bytes)
    assert unwrap_key(kf, b"pw") == PAYLOAD
    with pytest.raises(WrongPasswordError):
        unwrap_key(kf, b"pW")


@pytest.mark.parametrize("bit", [0, 5])
def test_every_byte_of_a_key_file_is_protected(keyfile_bytes: bytes, bit: int) -> None:
    for pos in range(len(keyfile_bytes)):
        damaged = bytearray(keyfile_bytes)
        damaged[pos] ^= 1 << bit
        with pytest.raises(S3VaultError):
            unwrap_key(KeyFile.decode(bytes(damaged)), b"pw")


def test_kdf_parameters_below_the_floor_are_refused(keyfile_bytes: bytes) -> None:
    weak = keyfile_bytes.replace(b'"memory_kib":19456', b'"memory_kib":1024')
    assert weak != keyfile_bytes
    with pytest.raises(S3VaultError, match=r"below the safe floor|canonical|wrong password"):
        unwrap_key(KeyFile.decode(weak), b"pw")


def test_a_development_version_1_key_file_is_refused_with_a_reason() -> None:
    with pytest.raises(FormatVersionError, match="development build"):
        KeyFile.decode(b'{"id":"00","kdf":{},"v":1,"wrap":{}}')
