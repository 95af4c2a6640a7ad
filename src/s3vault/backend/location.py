"""Repository URLs → backend stacks: a path or ``file:PATH``, ``memory:`` (tests), and
``s3://bucket/prefix`` (boto3 is imported only then, so local repositories start fast)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from s3vault.backend.base import Backend
from s3vault.errors import UsageError


@dataclass(frozen=True, slots=True, kw_only=True)
class BackendOptions:
    """How to reach the storage (S3 settings are ignored for local repositories)."""

    s3_endpoint: str | None = None
    s3_region: str | None = None
    aws_profile: str | None = None
    s3_path_style: bool = False
    s3_checksum: str | None = None
    s3_verify_tls: bool | str | None = None
    s3_connections: int = 8
    s3_storage_class: str | None = None
    s3_sse: str | None = None  # "AES256" or "aws:kms"
    s3_kms_key_id: str | None = None
    s3_bucket_owner: str | None = None
    aws_role_arn: str | None = None
    aws_external_id: str | None = None
    retry_deadline: float = 300.0
    limit_upload: int | None = None  # KiB/s
    limit_download: int | None = None


def s3_location(url: str) -> tuple[str, str]:
    """The bucket and prefix of an ``s3://bucket/prefix`` (or ``s3:bucket/prefix``) URL: THE
    parser of S3 repository URLs.

    Raises:
        UsageError: no bucket in the URL.
    """
    rest = url.removeprefix("s3://") if url.startswith("s3://") else url.removeprefix("s3:")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        msg = f"no bucket in {url!r}: use s3://bucket/prefix"
        raise UsageError(msg)
    return bucket, prefix


def open_backend(url: str, options: BackendOptions | None = None) -> Backend:
    """The raw backend for a repository URL.

    Raises:
        UsageError: an empty or malformed URL.
    """
    options = options or BackendOptions()
    if not url:
        msg = "no repository given: use -r/--repo or set S3VAULT_REPOSITORY"
        raise UsageError(msg)
    if url.startswith("s3:"):
        bucket, prefix = s3_location(url)
        from s3vault.backend.s3 import S3Backend, S3Settings

        return S3Backend(
            S3Settings(
                bucket=bucket,
                prefix=prefix,
                endpoint_url=options.s3_endpoint,
                region=options.s3_region,
                aws_profile=options.aws_profile,
                path_style=options.s3_path_style,
                checksum=options.s3_checksum,
                verify_tls=options.s3_verify_tls,
                connections=options.s3_connections,
                storage_class=options.s3_storage_class,
                sse=options.s3_sse,
                kms_key_id=options.s3_kms_key_id,
                bucket_owner=options.s3_bucket_owner,
                role_arn=options.aws_role_arn,
                external_id=options.aws_external_id,
            )
        )
    if url == "memory:":
        from s3vault.backend.memory import MemoryBackend

        return MemoryBackend()
    from s3vault.backend.local import LocalBackend

    path = url.removeprefix("file:")
    return LocalBackend(Path(path).expanduser().absolute())
