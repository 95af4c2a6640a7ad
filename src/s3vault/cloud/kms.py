"""AWS KMS as a key-wrapping service for KMS key files (design.md §6).

The KMS key's region comes from its ARN (a multi-region key's replica ARN names the replica's
region), else from --s3-region / the AWS configuration. A multi-region key (``mrk-`` id) is
decrypted first by its replica in the host's region (--s3-region, else the AWS configuration)
when the ARN names another one, then in the ARN's region: a copy of the repository in the DR
region opens with the DR region's replica while the primary's region is down. Credentials,
AWS profile and assumed role are the repository's (the same options as S3). The endpoint is
boto3's: AWS_ENDPOINT_URL_KMS or AWS_ENDPOINT_URL when set (tests point both at a moto server
on 127.0.0.1).
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from s3vault.backend.location import BackendOptions
from s3vault.backend.s3 import aws_session
from s3vault.errors import BackendError, TransientBackendError


def region_of(key_id: str) -> str | None:
    """The region in a KMS key ARN (``arn:aws:kms:REGION:ACCOUNT:key/ID``), else None."""
    parts = key_id.split(":")
    return parts[3] if len(parts) > 5 and parts[0] == "arn" and parts[3] else None


ARN_PARTS = 6  # arn:partition:kms:region:account:key/id


def local_replica(key_id: str, region: str | None) -> str | None:
    """The ARN of a multi-region key's replica in ``region`` (the same key id and account:
    ``arn:aws:kms:REGION:ACCOUNT:key/mrk-...``) when ``key_id`` is the key's ARN in another
    region; else None."""
    parts = key_id.split(":")
    if (
        region
        and len(parts) == ARN_PARTS
        and parts[0] == "arn"
        and parts[5].startswith("key/mrk-")
        and parts[3] != region
    ):
        return ":".join([*parts[:3], region, *parts[4:]])
    return None


class KmsService:
    """Encrypt and decrypt small secrets under a KMS key."""

    def __init__(self, options: BackendOptions) -> None:
        self._options = options
        self._clients: dict[str | None, Any] = {}
        self._lock = threading.Lock()
        self._session: boto3.session.Session | None = None

    def _client(self, key_id: str) -> Any:
        region = region_of(key_id) or self._options.s3_region
        with self._lock:
            if self._session is None:
                o = self._options
                self._session = aws_session(o.aws_profile, o.aws_role_arn, o.aws_external_id)
            if region not in self._clients:
                self._clients[region] = self._session.client(
                    "kms",
                    region_name=region,
                    verify=self._options.s3_verify_tls,
                    config=botocore.config.Config(
                        retries={"mode": "standard", "max_attempts": 5},
                        connect_timeout=10,
                        read_timeout=30,
                    ),
                )
            return self._clients[region]

    def _do(self, what: str, key_id: str, **args: Any) -> Any:
        try:
            return getattr(self._client(key_id), what)(**args)
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            msg = f"KMS {what} with {key_id}: {code}: {error.get('Message', '')}".rstrip(": ")
            if status >= 500 or code in {"ThrottlingException", "KMSInternalException"}:
                raise TransientBackendError(msg) from None
            raise BackendError(msg) from None
        except botocore.exceptions.NoCredentialsError:
            msg = f"KMS {what} with {key_id}: no AWS credentials"
            raise BackendError(msg) from None
        except (botocore.exceptions.BotoCoreError, OSError) as exc:
            msg = f"KMS {what} with {key_id}: {exc}"
            raise TransientBackendError(msg) from None

    def encrypt(self, key_id: str, plaintext: bytes, context: dict[str, str]) -> bytes:
        """KMS Encrypt under ``key_id`` with an encryption context."""
        answer = self._do(
            "encrypt", key_id, KeyId=key_id, Plaintext=plaintext, EncryptionContext=context
        )
        return bytes(answer["CiphertextBlob"])

    def _local_region(self) -> str | None:
        if self._options.s3_region:
            return self._options.s3_region
        o = self._options
        with self._lock:
            if self._session is None:
                self._session = aws_session(o.aws_profile, o.aws_role_arn, o.aws_external_id)
            region: str | None = self._session.region_name
            return region

    def decrypt(self, key_id: str, ciphertext: bytes, context: dict[str, str]) -> bytes:
        """KMS Decrypt, pinned to ``key_id`` (or, for a multi-region key, first to its replica
        in this host's region) and the encryption context.

        Raises:
            BackendError: neither the replica nor ``key_id`` decrypts (the message names both).
        """
        replica = local_replica(key_id, self._local_region())
        first = ""
        if replica:
            try:
                return self._decrypt(replica, ciphertext, context)
            except BackendError as exc:
                first = f"{exc}; then "
        try:
            return self._decrypt(key_id, ciphertext, context)
        except BackendError as exc:
            raise type(exc)(first + str(exc)) from None

    def _decrypt(self, key_id: str, ciphertext: bytes, context: dict[str, str]) -> bytes:
        answer = self._do(
            "decrypt", key_id, KeyId=key_id, CiphertextBlob=ciphertext, EncryptionContext=context
        )
        return bytes(answer["Plaintext"])
