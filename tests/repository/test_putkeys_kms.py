"""A put-only key file whose secret KMS holds (design.md §6a), against moto's KMS on the
local test server: the backup host's role decrypts it and seals; it opens nothing for
reading; KMS's encryption context binds it to its key file."""

from __future__ import annotations

import os
from dataclasses import replace

import boto3
import pytest

from s3vault.backend.memory import MemoryBackend
from s3vault.crypto.keys import MasterKey
from s3vault.errors import IntegrityError, PutOnlyKeyError, S3VaultError
from s3vault.format.envelope import SealedKind
from s3vault.format.keyfile import KeyFile, KeyPayload
from s3vault.ids import ObjectId
from s3vault.repository import keyring, putkeys
from s3vault.repository.sealer import Sealer

REPO = ObjectId(os.urandom(32))
PAYLOAD = KeyPayload(identity=os.urandom(32), master_keys={1: os.urandom(32)})


class MotoKms:
    """keyring.KeyWrapService over a boto3 KMS client of the test server."""

    def __init__(self, endpoint: str) -> None:
        self.client = boto3.client(
            "kms",
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )

    def encrypt(self, key_id: str, plaintext: bytes, context: dict[str, str]) -> bytes:
        answer = self.client.encrypt(KeyId=key_id, Plaintext=plaintext, EncryptionContext=context)
        return bytes(answer["CiphertextBlob"])

    def decrypt(self, key_id: str, ciphertext: bytes, context: dict[str, str]) -> bytes:
        try:
            answer = self.client.decrypt(
                KeyId=key_id, CiphertextBlob=ciphertext, EncryptionContext=context
            )
        except self.client.exceptions.ClientError as exc:
            raise S3VaultError(str(exc)) from None
        return bytes(answer["Plaintext"])


def test_a_kms_put_only_key_seals_and_reads_nothing(s3_server_http: str) -> None:
    kms = MotoKms(s3_server_http)
    arn = kms.client.create_key(Description="put-only hosts")["KeyMetadata"]["Arn"]
    kf = keyring.wrap_put_only_key_kms(
        repo_id=REPO, payload=PAYLOAD, kms=kms, kms_key_id=arn, host="web-01"
    )
    kf = KeyFile.decode(kf.encode())
    assert (kf.kind, kf.access, kf.host) == ("kms", "put-only", "web-01")
    payload = keyring.unwrap_put_only_kms(kf, kms)
    sealed = putkeys.put_sealer(kf, payload, 1).seal_file(SealedKind.AUDIT, b"record")
    master = MasterKey(PAYLOAD.master_keys[1], REPO, 1, PAYLOAD.identity)
    assert Sealer({1: master}, 1).open_file(SealedKind.AUDIT, sealed) == b"record"

    backend = MemoryBackend()
    keyring.store_key(backend, kf, lambda k: keyring.unwrap_put_only_kms(k, kms))
    with pytest.raises(PutOnlyKeyError, match="writes backups and reads nothing"):
        keyring.find_kms_key(backend, kms, repo_id=REPO)
    with pytest.raises(IntegrityError, match="put-only"):
        keyring.unwrap_kms(kf, kms)
    # Another key file's name in the encryption context: KMS refuses the ciphertext.
    moved = replace(kf, id=ObjectId(os.urandom(32)))
    with pytest.raises(S3VaultError, match="InvalidCiphertext"):
        kms.decrypt(arn, moved.kms_ct, keyring.kms_context(moved))
