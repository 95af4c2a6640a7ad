"""The bucket s3vault keeps a repository in: set it up, and check it against the same list
(``setup-bucket``, ``doctor``; docs/s3.md).

The list: versioning on; Object Lock when asked for; default encryption (SSE-S3, or SSE-KMS
with S3 Bucket Keys); every public access blocked and no public bucket policy; a lifecycle that
aborts incomplete multipart uploads after a day, expires noncurrent versions, moves data packs
(and only them) to a colder class after N days if asked, and never expires a current object
under the repository; optionally replication to a second bucket (with SSE-KMS objects
re-encrypted under a key of the destination's region); the bucket policy of bucketpolicy.py,
merged into the bucket's own. The checks beyond the bucket's configuration (MFA delete, the VPC
endpoint, the KMS keys) are in posture.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.config
import botocore.exceptions

from s3vault.backend.location import BackendOptions
from s3vault.backend.s3 import aws_session
from s3vault.backend.s3.errors import CREDENTIAL_CODES, translate
from s3vault.cloud.bucketpolicy import PolicyPlan, check_policy, merge, policy_diff
from s3vault.cloud.check import OK, WARNING, WRONG, Check
from s3vault.errors import BackendError, NoSuchBucketError

SETUP = "s3vault setup-bucket"  # the fix of most findings
RULE_ABORT = "s3vault-abort-incomplete-uploads"
RULE_NONCURRENT = "s3vault-expire-noncurrent-versions"
RULE_DATA = "s3vault-data-packs-to-colder-class"


@dataclass(frozen=True, slots=True, kw_only=True)
class BucketPlan:
    """What the bucket should look like."""

    bucket: str
    prefix: str = ""
    object_lock: bool = False
    sse_kms_key_id: str | None = None  # None: SSE-S3
    data_class: str | None = None  # move data packs to this class...
    after_days: int = 30  # ...after this many days
    noncurrent_days: int = 1
    replicate_to: str | None = None  # destination bucket name
    replication_role: str | None = None
    replica_kms_key_id: str | None = None  # SSE-KMS replicas: a key in the destination region
    bucket_policy: bool = True  # write (setup) / expect (doctor) the bucket policy
    maintenance_roles: tuple[str, ...] = ()  # may delete; every other principal may not
    source_vpces: tuple[str, ...] = ()  # the repository only through these VPC endpoints...
    source_vpcs: tuple[str, ...] = ()  # ...or VPCs
    kms_roles: tuple[str, ...] = ()  # besides the maintenance roles, may use the KMS key
    dry_run: bool = False  # setup: say what would change, change nothing

    def policy_plan(self, kms_key_arn: str | None = None) -> PolicyPlan:
        """What the bucket policy enforces (the KMS key as an ARN: the policy compares ARNs)."""
        return PolicyPlan(
            bucket=self.bucket,
            prefix=self.prefix,
            maintenance_roles=self.maintenance_roles,
            sse_kms_key_arn=kms_key_arn or self.sse_kms_key_id,
            source_vpces=self.source_vpces,
            source_vpcs=self.source_vpcs,
            exempt_roles=(self.replication_role,) if self.replication_role else (),
            object_lock=self.object_lock,
        )


def client(options: BackendOptions) -> Any:
    """An S3 client with the repository's credentials, role, region and endpoint."""
    session = aws_session(options.aws_profile, options.aws_role_arn, options.aws_external_id)
    return session.client(
        "s3",
        endpoint_url=options.s3_endpoint,
        region_name=options.s3_region,
        verify=options.s3_verify_tls,
        config=botocore.config.Config(
            retries={"mode": "standard", "max_attempts": 5},
            s3={"addressing_style": "path"} if options.s3_path_style else None,
        ),
    )


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _prefix(plan: BucketPlan, sub: str = "") -> str:
    base = plan.prefix.strip("/")
    return f"{base}/{sub}" if base else sub


def _lifecycle(plan: BucketPlan) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {
            "ID": RULE_ABORT,
            "Status": "Enabled",
            "Filter": {"Prefix": _prefix(plan)},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        },
        {
            "ID": RULE_NONCURRENT,
            "Status": "Enabled",
            "Filter": {"Prefix": _prefix(plan)},
            "NoncurrentVersionExpiration": {"NoncurrentDays": plan.noncurrent_days},
        },
    ]
    if plan.data_class:
        rules.append(
            {
                "ID": RULE_DATA,
                "Status": "Enabled",
                "Filter": {"Prefix": _prefix(plan, "data/")},
                "Transitions": [{"Days": plan.after_days, "StorageClass": plan.data_class}],
            }
        )
    return rules


def _exists(s3: Any, plan: BucketPlan) -> bool:
    try:
        s3.head_bucket(Bucket=plan.bucket)
    except botocore.exceptions.ClientError as exc:
        if _code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
        return False
    return True


def require_bucket(s3: Any, bucket: str) -> None:
    """Raises NoSuchBucketError when ``bucket`` does not exist: each of doctor's checks would
    read that answer as a setting never made ("versioning never enabled"). A HEAD refused or
    failing otherwise says nothing here: the checks say what they can read.

    Raises:
        NoSuchBucketError: the store says there is no such bucket.
    """
    try:
        s3.head_bucket(Bucket=bucket)
    except botocore.exceptions.ClientError as exc:
        if _code(exc) in ("404", "NoSuchBucket", "NotFound"):
            msg = (
                f"doctor: the bucket {bucket} does not exist (create it with 's3vault "
                "setup-bucket', then run 's3vault init')"
            )
            raise NoSuchBucketError(msg) from None
    except botocore.exceptions.BotoCoreError:
        return  # no answer (a connection, credentials): the checks say what they can read


def _create(s3: Any, plan: BucketPlan, region: str | None) -> str:
    """Create the bucket (with Object Lock when asked for)."""
    args: dict[str, Any] = {"Bucket": plan.bucket}
    if region and region != "us-east-1":
        args["CreateBucketConfiguration"] = {"LocationConstraint": region}
    if plan.object_lock:
        args["ObjectLockEnabledForBucket"] = True
    s3.create_bucket(**args)
    return f"created bucket {plan.bucket}" + (" with Object Lock" if plan.object_lock else "")


def _versioning(s3: Any, plan: BucketPlan) -> str:
    s3.put_bucket_versioning(Bucket=plan.bucket, VersioningConfiguration={"Status": "Enabled"})
    return "versioning enabled"


def _public_access_block(s3: Any, plan: BucketPlan) -> str:
    s3.put_public_access_block(
        Bucket=plan.bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    return "all public access blocked"


def _default_encryption(s3: Any, plan: BucketPlan) -> str:
    rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    if plan.sse_kms_key_id:
        rule = {
            "ApplyServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": plan.sse_kms_key_id,
            },
            "BucketKeyEnabled": True,
        }
    s3.put_bucket_encryption(
        Bucket=plan.bucket, ServerSideEncryptionConfiguration={"Rules": [rule]}
    )
    return "default encryption " + ("SSE-KMS with bucket keys" if plan.sse_kms_key_id else "SSE-S3")


def _apply_lifecycle(s3: Any, plan: BucketPlan) -> str:
    s3.put_bucket_lifecycle_configuration(
        Bucket=plan.bucket, LifecycleConfiguration={"Rules": _lifecycle(plan)}
    )
    return f"lifecycle: {len(_lifecycle(plan))} rules on {_prefix(plan) or 'the bucket'}"


def replication_rule(plan: BucketPlan) -> dict[str, Any]:
    """The replication rule setup-bucket writes (pure: doctor's checks are tested on it)."""
    rule: dict[str, Any] = {
        "ID": "s3vault-replica",
        "Status": "Enabled",
        "Priority": 1,
        "Filter": {"Prefix": _prefix(plan)},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": f"arn:aws:s3:::{plan.replicate_to}"},
    }
    if plan.replica_kms_key_id:  # else S3 skips every SSE-KMS object
        rule["SourceSelectionCriteria"] = {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
        rule["Destination"]["EncryptionConfiguration"] = {
            "ReplicaKmsKeyID": plan.replica_kms_key_id
        }
    return rule


def _replication(s3: Any, plan: BucketPlan) -> str:
    rule = replication_rule(plan)
    s3.put_bucket_replication(
        Bucket=plan.bucket,
        ReplicationConfiguration={"Role": plan.replication_role, "Rules": [rule]},
    )
    return f"replication to {plan.replicate_to}" + (
        f" (replicas under {plan.replica_kms_key_id})" if plan.replica_kms_key_id else ""
    )


def read_policy(s3: Any, bucket: str) -> dict[str, Any] | None:
    """The bucket's policy, None when it has none."""
    answer = _get(s3, "get_bucket_policy", Bucket=bucket)
    if not answer:
        return None
    policy: dict[str, Any] = json.loads(answer["Policy"])
    return policy


def apply_policy(s3: Any, plan: BucketPlan, kms_key_arn: str | None) -> tuple[str, list[str]]:
    """Merge the plan's statements into the bucket's policy (unless a dry run): what was
    done, and the diff.

    Raises:
        botocore.exceptions.ClientError: the store refused to read or write the policy.
    """
    want = plan.policy_plan(kms_key_arn)
    before = read_policy(s3, plan.bucket) if _exists(s3, plan) else None
    after = merge(before, want)
    diff = policy_diff(before, after)
    unguarded = "" if plan.maintenance_roles else " (deletes not restricted: no --maintenance-role)"
    if not diff:
        return "bucket policy unchanged" + unguarded, diff
    if plan.dry_run:
        return "would update the bucket policy" + unguarded, diff
    s3.put_bucket_policy(Bucket=plan.bucket, Policy=json.dumps(after, separators=(",", ":")))
    return f"bucket policy: {len(after['Statement'])} statements" + unguarded, diff


def setup_bucket(
    s3: Any, plan: BucketPlan, *, region: str | None, kms_key_arn: str | None = None
) -> tuple[list[str], list[str]]:
    """Create the bucket if needed and apply the list, the bucket policy last; returns what
    was done (a dry run: what would be) and the bucket policy's diff.

    Raises:
        BackendError: the store refused a step (the message names it).
    """
    steps: list[tuple[str, Callable[[Any, BucketPlan], str]]] = [
        ("versioning", _versioning),
        ("public access block", _public_access_block),
        ("default encryption", _default_encryption),
        ("lifecycle", _apply_lifecycle),
    ]
    if plan.replicate_to and plan.replication_role:
        steps.append(("replication", _replication))
    done: list[str] = []
    diff: list[str] = []
    step = "head bucket"
    try:
        if not _exists(s3, plan):
            step = "create bucket"
            done.append(
                f"would create bucket {plan.bucket}" if plan.dry_run else _create(s3, plan, region)
            )
        for step, apply in steps:
            done.append(f"would apply: {step}" if plan.dry_run else apply(s3, plan))
        if plan.bucket_policy:
            step = "bucket policy"
            line, diff = apply_policy(s3, plan, kms_key_arn)
            done.append(line)
        else:
            done.append(
                "bucket policy not written: name the maintenance role (--maintenance-role ARN), "
                "or --bucket-policy for TLS and encryption only (docs/security.md)"
            )
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        msg = f"setup-bucket {plan.bucket}: {step} failed: {exc}"
        raise BackendError(msg) from None
    return done, diff


def _get(s3: Any, what: str, **args: Any) -> dict[str, Any] | None:
    """A Get* call; None when the bucket has no such configuration."""
    try:
        answer: dict[str, Any] = getattr(s3, what)(**args)
    except botocore.exceptions.ClientError as exc:
        code = _code(exc)
        if (
            code.startswith("NoSuch")
            or code.endswith("NotFoundError")
            or code
            in (
                "ObjectLockConfigurationNotFoundError",
                "ReplicationConfigurationNotFoundError",
                "NoSuchPublicAccessBlockConfiguration",
            )
        ):
            return None
        raise
    return answer


def _check_versioning(s3: Any, plan: BucketPlan) -> Check:
    versioning = (_get(s3, "get_bucket_versioning", Bucket=plan.bucket) or {}).get("Status")
    if versioning == "Enabled":
        return Check(item="versioning", state=OK, detail="enabled")
    return Check(
        item="versioning",
        state=WRONG,
        detail=f"{versioning or 'never enabled'}: a deleted or overwritten object "
        "cannot be recovered",
        fix=SETUP,
    )


def _check_object_lock(s3: Any, plan: BucketPlan) -> Check:
    lock = (_get(s3, "get_object_lock_configuration", Bucket=plan.bucket) or {}).get(
        "ObjectLockConfiguration", {}
    )
    enabled = lock.get("ObjectLockEnabled") == "Enabled"
    default = lock.get("Rule", {}).get("DefaultRetention")
    if plan.object_lock and not enabled:
        return Check(
            item="object lock",
            state=WRONG,
            detail="not enabled on the bucket",
            fix="create a bucket with s3vault setup-bucket --object-lock and copy the "
            "repository into it",
        )
    if enabled and default:
        return Check(
            item="object lock",
            state=WARNING,
            detail=f"its DefaultRetention ({default}) also locks the maintenance lease",
            fix="remove the bucket's DefaultRetention: s3vault sets each object's retain-until",
        )
    return Check(item="object lock", state=OK, detail="enabled" if enabled else "not used")


def _check_encryption(s3: Any, plan: BucketPlan) -> Check:
    enc = _get(s3, "get_bucket_encryption", Bucket=plan.bucket)
    rules = (enc or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    algo = (
        rules[0].get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm")
        if rules
        else None
    )
    if not algo:
        return Check(item="default encryption", state=WARNING, detail="none configured", fix=SETUP)
    if algo == "aws:kms" and not rules[0].get("BucketKeyEnabled"):
        return Check(
            item="default encryption",
            state=WARNING,
            detail="SSE-KMS without bucket keys: one KMS request per object",
            fix=SETUP + " --sse-kms KEY",
        )
    return Check(item="default encryption", state=OK, detail=str(algo))


def _check_public_access(s3: Any, plan: BucketPlan) -> Check:
    block = (_get(s3, "get_public_access_block", Bucket=plan.bucket) or {}).get(
        "PublicAccessBlockConfiguration", {}
    )
    flags = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    missing = [f for f in flags if not block.get(f)]
    if not missing:
        return Check(item="public access block", state=OK, detail="all four set")
    return Check(
        item="public access block",
        state=WRONG,
        detail="not set: " + ", ".join(missing),
        fix=SETUP,
    )


def _check_replication(s3: Any, plan: BucketPlan) -> Check:
    replication = _get(s3, "get_bucket_replication", Bucket=plan.bucket)
    if plan.replicate_to and not replication:
        return Check(
            item="replication",
            state=WARNING,
            detail="not configured",
            fix=SETUP + " --replicate-to BUCKET --replication-role ARN",
        )
    rules = (replication or {}).get("ReplicationConfiguration", {}).get("Rules", [])
    dest = ", ".join(r.get("Destination", {}).get("Bucket", "") for r in rules)
    return Check(item="replication", state=OK, detail=f"to {dest}" if rules else "not used")


def check_bucket(s3: Any, plan: BucketPlan, kms_key_arn: str | None = None) -> list[Check]:
    """The posture check: each item ok, warning or wrong, with the fix.

    Raises:
        BackendError: the bucket cannot be inspected.
    """
    try:
        checks = [
            _check_versioning(s3, plan),
            _check_object_lock(s3, plan),
            _check_encryption(s3, plan),
            _check_public_access(s3, plan),
        ]
        checks += _check_lifecycle(s3, plan)
        checks.append(_check_replication(s3, plan))
        checks += _check_policy(s3, plan, kms_key_arn) if plan.bucket_policy else []
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        credential = isinstance(exc, botocore.exceptions.ClientError) and (
            _code(exc) in CREDENTIAL_CODES
        )
        if credential:  # botocore's raw text, where every other command
            # names the credential (an attack pass, 2026-12-07)
            raise translate(exc, "doctor: inspect bucket", plan.bucket) from None
        msg = f"doctor: cannot inspect bucket {plan.bucket}: {exc}"
        raise BackendError(msg) from None
    return checks


def _check_policy(s3: Any, plan: BucketPlan, kms_key_arn: str | None) -> list[Check]:
    """The bucket policy's items; one warning when doctor may not read the policy (an
    auditor's role without s3:GetBucketPolicy still gets every other item)."""
    try:
        policy = read_policy(s3, plan.bucket)
    except botocore.exceptions.ClientError as exc:
        if _code(exc) not in ("AccessDenied", "403"):
            raise
        return [
            Check(
                item="bucket policy",
                state=WARNING,
                detail=f"cannot read ({_code(exc)})",
                fix="allow s3:GetBucketPolicy to doctor",
            )
        ]
    return check_policy(policy, plan.policy_plan(kms_key_arn))


def _check_lifecycle(s3: Any, plan: BucketPlan) -> list[Check]:
    rules = (_get(s3, "get_bucket_lifecycle_configuration", Bucket=plan.bucket) or {}).get(
        "Rules", []
    )
    mine = _prefix(plan)
    checks: list[Check] = []
    applies = [
        r
        for r in rules
        if r.get("Status") == "Enabled"
        and (
            mine.startswith(r.get("Filter", {}).get("Prefix", r.get("Prefix", "")))
            or r.get("Filter", {}).get("Prefix", "").startswith(mine)
        )
    ]
    for key, item, done, missing in (
        (
            "AbortIncompleteMultipartUpload",
            "lifecycle: incomplete uploads",
            "aborted",
            "never aborted: their parts are billed for ever",
        ),
        (
            "NoncurrentVersionExpiration",
            "lifecycle: noncurrent versions",
            "expired",
            "kept for ever: deleted packs are still billed",
        ),
    ):
        if any(key in r for r in applies):
            checks.append(Check(item=item, state=OK, detail=done))
        else:
            checks.append(
                Check(item=item, state=WARNING, detail=missing, fix="s3vault setup-bucket")
            )
    expiring = [
        r.get("ID", "?")
        for r in applies
        if "Expiration" in r and ("Days" in r["Expiration"] or "Date" in r["Expiration"])
    ]
    if expiring:
        checks.append(
            Check(
                item="lifecycle: expiration",
                state=WRONG,
                detail=f"rule(s) {', '.join(expiring)} delete current objects of the repository",
                fix="remove them: only prune may decide what is deleted",
            )
        )
    else:
        checks.append(
            Check(
                item="lifecycle: expiration", state=OK, detail="no rule deletes repository objects"
            )
        )
    data = _prefix(plan, "data/")
    cold = [
        r.get("ID", "?")
        for r in applies
        if r.get("Transitions") and not r.get("Filter", {}).get("Prefix", "").startswith(data)
    ]
    if cold:
        checks.append(
            Check(
                item="lifecycle: transitions",
                state=WRONG,
                detail=f"rule(s) {', '.join(cold)} move metadata (index, snapshots, trees) to "
                "a colder class",
                fix=f"limit transitions to {data}",
            )
        )
    else:
        checks.append(
            Check(
                item="lifecycle: transitions",
                state=OK,
                detail="data packs only" if any(r.get("Transitions") for r in applies) else "none",
            )
        )
    return checks
