"""doctor: the repository's and the bucket's posture, item by item, each ok, warning or wrong
with its fix (cloud/bucket.py checks the bucket; docs/s3.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from s3vault.backend.dialect import StoreDialect
from s3vault.backend.location import BackendOptions, url_options
from s3vault.backend.stack import stack_for
from s3vault.cloud.check import OK, WARNING, WRONG, Check
from s3vault.errors import AccessDeniedError, S3VaultError
from s3vault.ops.audit_setup import audit_checks, check_on_aws
from s3vault.ops.bucket import s3_repository
from s3vault.ops.keys import KEY_ROTATION, key_age_check, list_keys
from s3vault.ops.keys_putonly import pin_check
from s3vault.ops.records import refuse_bare_strings
from s3vault.repository.repository import Repository


@dataclass(frozen=True, slots=True, kw_only=True)
class DoctorOptions:
    """The repository's URL and how to reach its store."""

    url: str
    backend: BackendOptions = field(default_factory=BackendOptions)
    repository: bool = True  # False: the bucket's posture only (before init, or an auditor)
    maintenance_roles: tuple[str, ...] = ()  # expected exception of the deny-delete statement
    kms_key_id: str | None = None  # the expected KMS key (else the bucket's default's)
    kms_roles: tuple[str, ...] = ()  # further roles the KMS key's policy is expected to allow
    source_vpces: tuple[str, ...] = ()  # VPC endpoints the repository must be reached through
    source_vpcs: tuple[str, ...] = ()  # ...or VPCs
    audit: bool = False  # also CloudTrail, Config rules, GuardDuty (ops/audit_setup.py)
    key_rotation: float = KEY_ROTATION  # seconds: the master key's rotation period

    def __post_init__(self) -> None:
        refuse_bare_strings(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class DoctorResult:
    """Every check, in order: the repository's, then (S3 only) the bucket's."""

    checks: tuple[Check, ...]

    @property
    def wrong(self) -> int:
        """How many checks found something wrong."""
        return sum(c.state == WRONG for c in self.checks)

    @property
    def warnings(self) -> int:
        """How many checks found something to improve."""
        return sum(c.state == WARNING for c in self.checks)


def _key_checks(repo: Repository, rotation: float) -> list[Check]:
    entries = list_keys(repo)
    usable = [k for k in entries if k.usable and k.access == "full"]  # put-only keys read nothing
    recovery = any(k.kind in ("recovery", "kms") for k in usable)
    checks = [
        Check(
            item="keys",
            state=WARNING,
            detail="one key file and no recovery or KMS key: a lost password loses everything",
            fix="s3vault key add --recovery (or --kms-key-id ARN)",
        )
        if len(usable) < 2 and not recovery
        else Check(item="keys", state=OK, detail=f"{len(usable)} usable key files")
    ]
    pinning = pin_check(entries)
    if pinning.state != OK:  # said only when a key file is not pinned (design.md §13)
        checks.append(pinning)
    checks.append(key_age_check(repo, rotation))
    if len(repo.config.epochs) > 1:
        checks.append(
            Check(
                item="key epochs",
                state=WARNING,
                detail=f"{len(repo.config.epochs)} live epochs: a rotation is not finished",
                fix="s3vault prune --reencrypt",
            )
        )
    return checks


def _store_check(repo: Repository, options: DoctorOptions) -> list[Check]:
    """The store's capabilities now against what init found (stores that are probed)."""
    if not repo.config.store:
        return []
    stack = stack_for(options.url, options.backend)
    probing = stack.backend.capabilities.probing
    if probing is None:
        return []
    try:
        now = probing.probe()
    except AccessDeniedError as exc:  # the probe writes: a read-only credential may not
        # (it ended doctor with exit 1 and no check shown, naming init: an attack pass)
        return [
            Check(
                item="store",
                state=WARNING,
                detail=f"not probed: the probe writes a few objects, and {exc}",
                fix="run doctor with a credential that may write to check the store",
            )
        ]
    then = StoreDialect.from_dict(repo.config.store)
    if (now.checksum, now.create_only, now.compare_and_swap) == (
        then.checksum,
        then.create_only,
        then.compare_and_swap,
    ):
        return [Check(item="store", state=OK, detail=now.summary())]
    return [
        Check(
            item="store",
            state=WARNING,
            detail=f"the store changed since init: now {now.summary()}, then {then.summary()}",
            fix="the repository keeps what init found; see docs/s3-compatible.md",
        )
    ]


def doctor(options: DoctorOptions, *, opener: Callable[[], Repository]) -> DoctorResult:
    """Check the repository (it opens, keys, key age and epochs, the store's capabilities; not
    with ``repository=False``) and, for an S3 repository, the bucket (versioning, Object Lock,
    encryption, public access, lifecycle, replication, the bucket policy), the posture around
    it (MFA delete, VPC endpoints, the KMS key, replica keys) and, with ``audit``, CloudTrail,
    Config rules and GuardDuty. ``opener`` opens the repository (without its index); its
    failure is the first check's finding, not an error.

    Raises:
        UsageError: the bucket only, of a repository that is not on S3; ``audit`` for a
            repository that is not on AWS S3; a malformed role ARN, VPC endpoint or VPC id.
        BackendError: the bucket (or, with ``audit``, CloudTrail, Config or GuardDuty) cannot
            be inspected; KMS does not know the expected key.
        NoSuchBucketError: an S3 repository's bucket does not exist.
    """
    if options.audit:
        check_on_aws(options.backend, "doctor --audit")  # before anything is read
    repo: Repository | None = None
    checks: list[Check] = []
    if not options.repository:
        s3_repository(options.url, "doctor --bucket-only")
    else:
        try:
            repo = opener()
        except S3VaultError as exc:
            checks = [
                Check(item="repository", state=WRONG, detail=str(exc), fix="see docs/usage.md")
            ]
        else:
            checks = [Check(item="repository", state=OK, detail=f"{repo.id.short} opens")]
            checks += _key_checks(repo, options.key_rotation)
            checks += _store_check(repo, options)
    if options.url.startswith("s3:"):
        checks += _bucket_checks(options, repo)
        if options.audit:
            lock = bool(repo.config.object_lock) if repo is not None else False
            checks += audit_checks(options.backend, options.url, object_lock=lock)
    return DoctorResult(checks=tuple(checks))


def _bucket_checks(options: DoctorOptions, repo: Repository | None) -> list[Check]:
    """The bucket's configuration and policy, then the posture around it (cloud/posture.py)."""
    from s3vault.cloud.bucket import (  # boto3 only here
        BucketPlan,
        check_bucket,
        client,
        require_bucket,
    )
    from s3vault.cloud.posture import check_posture, expected_key
    from s3vault.ops.bucket import validate_posture

    validate_posture(
        options.maintenance_roles, options.source_vpces, options.source_vpcs, options.kms_roles
    )
    bucket, prefix = s3_repository(options.url)
    lock = bool(repo.config.object_lock) if repo is not None else False
    options = replace(options, backend=url_options(options.url, options.backend))
    s3 = client(options.backend)
    require_bucket(s3, bucket)
    key, kms_arn = expected_key(s3, options.backend, bucket, options.kms_key_id)
    plan = BucketPlan(
        bucket=bucket,
        prefix=prefix,
        object_lock=lock,
        sse_kms_key_id=key,
        maintenance_roles=options.maintenance_roles,
        source_vpces=options.source_vpces,
        source_vpcs=options.source_vpcs,
        kms_roles=options.kms_roles,
    )
    return check_bucket(s3, plan, kms_arn) + check_posture(s3, options.backend, plan)
