"""setup-bucket: create or update the repository's bucket to the posture doctor checks
(cloud/bucket.py; docs/s3.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from s3vault.backend.location import BackendOptions, s3_location, url_options
from s3vault.errors import UsageError
from s3vault.ops.records import refuse_bare_strings


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
    replica_kms_key_id: str | None = None  # KMS key of the destination region for replicas
    # merge s3vault's statements into the bucket policy; None: when a maintenance role or a
    # VPC restriction is named (without the role, the policy could not restrict deletes)
    bucket_policy: bool | None = None
    maintenance_roles: tuple[str, ...] = ()  # the only principals that may delete
    source_vpces: tuple[str, ...] = ()  # reach the repository only through these endpoints
    source_vpcs: tuple[str, ...] = ()  # ...or these VPCs
    dry_run: bool = False  # say what would change; change nothing

    def __post_init__(self) -> None:
        refuse_bare_strings(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class SetupBucketResult:
    """The bucket, what was done to it step by step (a dry run: what would be), and the bucket
    policy's diff (empty: unchanged)."""

    bucket: str
    done: tuple[str, ...]
    policy_diff: tuple[str, ...] = ()
    dry_run: bool = False


ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/*-]+$")
VPCE = re.compile(r"^vpce-[0-9a-f]{8,17}$")
VPC = re.compile(r"^vpc-[0-9a-f]{8,17}$")


def validate_posture(
    maintenance_roles: tuple[str, ...],
    source_vpces: tuple[str, ...],
    source_vpcs: tuple[str, ...],
    kms_roles: tuple[str, ...] = (),
) -> None:
    """Refuse a malformed role ARN, VPC endpoint or VPC id before anything is written. A role
    is named by its IAM ARN (what ``aws:PrincipalArn`` holds), never by a session's STS ARN,
    which no request would match.

    Raises:
        UsageError: the first malformed value, named.
    """
    for flag, what, pattern, values in (
        (
            "--maintenance-role",
            "an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
            ARN,
            maintenance_roles,
        ),
        ("--kms-role", "an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", ARN, kms_roles),
        ("--source-vpce", "a VPC endpoint id (vpce-...)", VPCE, source_vpces),
        ("--source-vpc", "a VPC id (vpc-...)", VPC, source_vpcs),
    ):
        bad = [v for v in values if not pattern.match(v)]
        if bad:
            msg = f"{flag} {bad[0]!r}: not {what}"
            raise UsageError(msg)


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
    encryption, the public access block, the lifecycle, replication (optional) and the bucket
    policy (merged into the bucket's own; docs/security.md).

    Raises:
        UsageError: not an S3 repository; a replication target without its role or back; a
            malformed role ARN, VPC endpoint or VPC id.
        BackendError: the store refused a step (the message names it); KMS does not know
            the key.
    """
    bucket, prefix = s3_repository(options.url)
    options = replace(options, backend=url_options(options.url, options.backend))
    if bool(options.replicate_to) != bool(options.replication_role):
        raise UsageError("--replicate-to and --replication-role go together")
    if options.replica_kms_key_id and not options.replicate_to:
        raise UsageError("--replica-kms-key goes with --replicate-to")
    validate_posture(options.maintenance_roles, options.source_vpces, options.source_vpcs)
    from s3vault.cloud.bucket import BucketPlan, client  # boto3 only when used
    from s3vault.cloud.bucket import setup_bucket as apply_plan
    from s3vault.cloud.posture import key_arn

    policy = options.bucket_policy
    if policy is None:
        policy = bool(options.maintenance_roles or options.source_vpces or options.source_vpcs)

    plan = BucketPlan(
        bucket=bucket,
        prefix=prefix,
        object_lock=options.object_lock,
        sse_kms_key_id=options.sse_kms_key_id,
        data_class=options.data_class,
        after_days=options.after_days,
        replicate_to=options.replicate_to,
        replication_role=options.replication_role,
        replica_kms_key_id=options.replica_kms_key_id,
        bucket_policy=policy,
        maintenance_roles=options.maintenance_roles,
        source_vpces=options.source_vpces,
        source_vpcs=options.source_vpcs,
        dry_run=options.dry_run,
    )
    kms = options.sse_kms_key_id
    arn = key_arn(options.backend, kms) if kms and policy else None
    done, diff = apply_plan(
        client(options.backend), plan, region=options.backend.s3_region, kms_key_arn=arn
    )
    return SetupBucketResult(
        bucket=bucket, done=tuple(done), policy_diff=tuple(diff), dry_run=options.dry_run
    )
