"""setup-bucket: create or update the repository's bucket to the posture doctor checks
(cloud/bucket.py; docs/s3.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

from s3vault.backend.location import BackendOptions, s3_location
from s3vault.errors import UsageError


@dataclass(frozen=True, slots=True, kw_only=True)
class SetupBucketOptions:
    """The repository's S3 URL, how to reach it, and what to apply beyond the fixed list."""

    url: str
    backend: BackendOptions = field(default_factory=BackendOptions)
    object_lock: bool = False
    sse_kms_key_id: str | None = None  # None: SSE-S3
    data_class: str | None = None  # move data packs to this class...
    after_days: int = 30  # ...after this many days
    replicate_to: str | None = None  # destination bucket name
    replication_role: str | None = None  # IAM role S3 replicates with


@dataclass(frozen=True, slots=True, kw_only=True)
class SetupBucketResult:
    """The bucket and what was done to it, step by step."""

    bucket: str
    done: tuple[str, ...]


def s3_repository(url: str, command: str = "this command") -> tuple[str, str]:
    """The bucket and prefix of an S3 repository URL (backend/location.py parses it).

    Raises:
        UsageError: not an s3:// URL, or no bucket in it.
    """
    if not url.startswith("s3:"):
        msg = f"{command} needs an s3:// repository (-r, S3VAULT_REPOSITORY or -P)"
        raise UsageError(msg)
    return s3_location(url)


def setup_bucket(options: SetupBucketOptions) -> SetupBucketResult:
    """Create the bucket if needed and apply versioning, Object Lock (optional), default
    encryption, the public access block, the lifecycle and replication (optional).

    Raises:
        UsageError: not an S3 repository; a replication target without its role or back.
        BackendError: the store refused a step (the message names it).
    """
    bucket, prefix = s3_repository(options.url)
    if bool(options.replicate_to) != bool(options.replication_role):
        raise UsageError("--replicate-to and --replication-role go together")
    from s3vault.cloud.bucket import BucketPlan, client  # boto3 only when used
    from s3vault.cloud.bucket import setup_bucket as apply_plan

    plan = BucketPlan(
        bucket=bucket,
        prefix=prefix,
        object_lock=options.object_lock,
        sse_kms_key_id=options.sse_kms_key_id,
        data_class=options.data_class,
        after_days=options.after_days,
        replicate_to=options.replicate_to,
        replication_role=options.replication_role,
    )
    done = apply_plan(client(options.backend), plan, region=options.backend.s3_region)
    return SetupBucketResult(bucket=bucket, done=tuple(done))
