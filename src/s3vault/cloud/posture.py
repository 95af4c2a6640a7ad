"""The posture checks around the bucket (doctor; docs/security.md): MFA delete, the VPC
endpoint the repository is reached through, the KMS key (rotation, who its policy lets use it)
and the key replicas are re-encrypted with.

Each check reads with the repository's credentials; what those may not read is a warning that
names the permission, never an abort: the other items are still worth reporting.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import botocore.exceptions

from s3vault.backend.location import BackendOptions
from s3vault.backend.s3 import aws_session
from s3vault.cloud.bucket import BucketPlan
from s3vault.cloud.bucketpolicy import covers, statement_list
from s3vault.cloud.check import OK, WARNING, WRONG, Check
from s3vault.cloud.kms import region_of
from s3vault.errors import BackendError

MFA_FIX = (
    "as the root user, with its MFA device (s3vault cannot: only the root user may): aws s3api "
    "put-bucket-versioning --bucket {bucket} --versioning-configuration "
    "Status=Enabled,MFADelete=Enabled --mfa 'SERIAL CODE'; or Object Lock on a new bucket "
    "(s3vault setup-bucket --object-lock)"
)


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _guarded(item: str, permission: str, check: Callable[[], list[Check]]) -> list[Check]:
    """Run one check; a refusal or an unreachable service is a warning naming the permission."""
    try:
        return check()
    except botocore.exceptions.ClientError as exc:
        detail = f"cannot read ({_code(exc) or exc})"
    except botocore.exceptions.BotoCoreError as exc:
        detail = f"cannot read ({exc})"
    return [Check(item=item, state=WARNING, detail=detail, fix=f"allow {permission} to doctor")]


def key_arn(options: BackendOptions, key_id: str) -> str:
    """The ARN of a KMS key given by id, alias or ARN (the bucket policy compares ARNs).

    Raises:
        BackendError: KMS does not know the key, or refused to describe it.
    """
    if key_id.startswith("arn:") and ":key/" in key_id:
        return key_id
    try:
        kms = _client(options, "kms", region_of(key_id))
        return str(kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        msg = f"KMS key {key_id}: {exc}"
        raise BackendError(msg) from None


def expected_key(
    s3: Any, options: BackendOptions, bucket: str, given: str | None
) -> tuple[str | None, str | None]:
    """The KMS key doctor expects (the one given, else the bucket's default encryption's) and
    its ARN (the key as given when KMS cannot describe it: the KMS items then say why).

    Raises:
        BackendError: the given key is unknown to KMS.
    """
    key = given
    if key is None:
        with contextlib.suppress(
            botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError
        ):
            key = default_key(s3, bucket)[1]
    if key is None:
        return None, None
    if given:
        return key, key_arn(options, key)
    try:
        return key, key_arn(options, key)
    except BackendError:
        return key, key


def _client(options: BackendOptions, service: str, region: str | None = None) -> Any:
    session = aws_session(options.aws_profile, options.aws_role_arn, options.aws_external_id)
    return session.client(
        service, region_name=region or options.s3_region, verify=options.s3_verify_tls
    )


def check_mfa_delete(s3: Any, plan: BucketPlan) -> Check:
    """MFA delete (versioning's MFADelete): it cannot be set by s3vault, only by the root user."""
    versioning = s3.get_bucket_versioning(Bucket=plan.bucket)
    item = "MFA delete"
    if versioning.get("MFADelete") == "Enabled":
        return Check(
            item=item,
            state=OK,
            detail="enabled: only the root user with its MFA device deletes versions (S3 then "
            "refuses lifecycle rules: noncurrent versions are kept until it does)",
        )
    try:  # read even when the plan does not ask for a lock (doctor --bucket-only)
        lock = s3.get_object_lock_configuration(Bucket=plan.bucket)
    except botocore.exceptions.ClientError as exc:
        if "NotFound" not in _code(exc):
            raise
        lock = {}
    if lock.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled":
        return Check(item=item, state=OK, detail="not enabled; Object Lock protects the versions")
    return Check(
        item=item,
        state=WARNING,
        detail="not enabled and no Object Lock: whoever may delete object versions (the "
        "maintenance role, an administrator who can change the bucket policy) can destroy "
        "every version",
        fix=MFA_FIX.format(bucket=plan.bucket),
    )


def _reaches(policy: dict[str, Any], arn: str) -> bool:
    """Whether an endpoint policy allows GetObject on ``arn`` (and no Deny stops it)."""
    found = statement_list(policy)
    covering = [
        s
        for s in found
        if covers(s.get("Action", []), "s3:GetObject") and covers(s.get("Resource", []), arn)
    ]
    if any(s.get("Effect") == "Deny" and not s.get("Condition") for s in covering):
        return False
    return any(s.get("Effect") == "Allow" for s in covering)


def check_vpc_endpoint(ec2: Any, endpoint: str, plan: BucketPlan) -> Check:
    """The named VPC endpoint: an S3 endpoint, available, whose policy lets the fleet reach the
    repository and (better) nothing else."""
    item = f"VPC endpoint {endpoint}"
    fix = f"aws ec2 modify-vpc-endpoint --vpc-endpoint-id {endpoint} --policy-document FILE"
    try:
        found = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint])["VpcEndpoints"]
    except botocore.exceptions.ClientError as exc:
        if "NotFound" not in _code(exc):
            raise
        found = []
    if not found:
        return Check(item=item, state=WRONG, detail="no such endpoint", fix="see docs/security.md")
    vpce = found[0]
    if not str(vpce.get("ServiceName", "")).endswith(".s3"):
        return Check(
            item=item, state=WRONG, detail=f"an endpoint of {vpce.get('ServiceName')}, not S3"
        )
    if vpce.get("State", "available").lower() != "available":
        return Check(item=item, state=WARNING, detail=f"state {vpce.get('State')}")
    policy = json.loads(vpce.get("PolicyDocument") or '{"Statement": []}')
    sample = f"arn:aws:s3:::{plan.bucket}/{plan.prefix.strip('/')}/config".replace("//", "/")
    if not _reaches(policy, sample):
        return Check(
            item=item,
            state=WRONG,
            detail="its policy does not allow the repository: backups through it fail",
            fix=fix,
        )
    if _reaches(policy, "arn:aws:s3:::any-other-bucket-of-any-account/x"):
        return Check(
            item=item,
            state=WARNING,
            detail="its policy allows any bucket: data can leave for a bucket of another account "
            "through it",
            fix=fix + " (allow the repository's bucket and the buckets the hosts need)",
        )
    return Check(
        item=item,
        state=OK,
        detail=f"{vpce.get('VpcEndpointType', '')} endpoint, policy limited to named buckets",
    )


def _principals(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if isinstance(principal, dict):
        aws = principal.get("AWS", [])
        return [aws] if isinstance(aws, str) else list(aws)
    return []


def check_kms_key(kms: Any, key_id: str, expected: tuple[str, ...]) -> list[Check]:
    """Rotation of the repository's KMS key, and the principals its key policy allows (the
    account root delegates to IAM; any other principal must be one of ``expected`` when given).
    """
    checks = []
    rotation = kms.get_key_rotation_status(KeyId=key_id).get("KeyRotationEnabled")
    checks.append(
        Check(item="KMS key rotation", state=OK, detail="enabled")
        if rotation
        else Check(
            item="KMS key rotation",
            state=WARNING,
            detail=f"not enabled on {key_id}",
            fix=f"aws kms enable-key-rotation --key-id {key_id}",
        )
    )
    policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    allows = [s for s in statement_list(policy) if s.get("Effect") == "Allow"]
    item, fix = "KMS key policy", f"aws kms put-key-policy --key-id {key_id} --policy-name default"
    if any("*" in _principals(s) and not s.get("Condition") for s in allows):
        return [
            *checks,
            Check(item=item, state=WRONG, detail='allows every principal ("*")', fix=fix),
        ]
    named = sorted({p for s in allows for p in _principals(s) if p != "*"})
    roots = [p for p in named if p.endswith(":root")]
    others = [p for p in named if p not in roots]
    unexpected = [p for p in others if expected and p not in expected]
    delegation = f"; {', '.join(roots)}: IAM policies decide" if roots else ""
    if unexpected:
        return [
            *checks,
            Check(
                item=item,
                state=WARNING,
                detail=f"also allows {', '.join(unexpected)}{delegation}",
                fix=fix,
            ),
        ]
    detail = (
        "allows " + ", ".join(others) + delegation
        if others
        else f"only {', '.join(roots) or 'no principal'}: IAM policies decide who uses the key"
    )
    return [*checks, Check(item=item, state=OK, detail=detail)]


def check_replica_rule(
    rule: dict[str, Any], kms_default: bool, destination_region: Callable[[str], str]
) -> Check:
    """One replication rule: S3 replicates SSE-KMS objects only when the rule says so, and
    re-encrypts them under a key that must be in the destination bucket's region."""
    destination = rule.get("Destination", {})
    target = str(destination.get("Bucket", "")).rsplit(":", 1)[-1]
    key = destination.get("EncryptionConfiguration", {}).get("ReplicaKmsKeyID")
    criteria = rule.get("SourceSelectionCriteria", {}).get("SseKmsEncryptedObjects", {})
    item = f"replica key ({target})"
    fix = "s3vault setup-bucket --replicate-to BUCKET --replication-role ARN --replica-kms-key ARN"
    if kms_default and criteria.get("Status") != "Enabled":
        return Check(
            item=item,
            state=WRONG,
            detail="the repository's objects are SSE-KMS and the rule does not replicate "
            "SSE-KMS objects: the replica stays empty",
            fix=fix,
        )
    if not key:
        return Check(item=item, state=OK, detail="replicas keep the bucket's SSE-S3")
    region, wanted = region_of(key), destination_region(target)
    if region is None:
        return Check(item=item, state=WARNING, detail=f"{key} is not a key ARN", fix=fix)
    if region != wanted:
        return Check(
            item=item,
            state=WRONG,
            detail=f"{key} is in {region}, the destination bucket in {wanted}: S3 cannot replicate",
            fix=fix + f" (a key of {wanted}, e.g. a multi-Region replica key)",
        )
    return Check(item=item, state=OK, detail=f"{key} in {region}")


def check_replica_key(s3: Any, plan: BucketPlan, kms_default: bool) -> list[Check]:
    """Every replication rule of the bucket (check_replica_rule); none without replication."""
    try:
        replication = s3.get_bucket_replication(Bucket=plan.bucket)["ReplicationConfiguration"]
    except botocore.exceptions.ClientError as exc:
        if "NotFound" not in _code(exc):
            raise
        return []

    def located(bucket: str) -> str:
        return str(s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1")

    return [check_replica_rule(r, kms_default, located) for r in replication.get("Rules", [])]


def default_key(s3: Any, bucket: str) -> tuple[bool, str | None]:
    """Whether the bucket's default encryption is SSE-KMS, and with which key (None: the AWS
    managed key).

    Raises:
        botocore.exceptions.ClientError: the encryption configuration cannot be read.
    """
    try:
        answer = s3.get_bucket_encryption(Bucket=bucket)
    except botocore.exceptions.ClientError as exc:
        if "NotFound" in _code(exc):
            return False, None
        raise
    rules = answer.get("ServerSideEncryptionConfiguration", {}).get("Rules", [{}])
    default = rules[0].get("ApplyServerSideEncryptionByDefault", {}) if rules else {}
    return default.get("SSEAlgorithm") == "aws:kms", default.get("KMSMasterKeyID")


def check_posture(s3: Any, options: BackendOptions, plan: BucketPlan) -> list[Check]:
    """MFA delete, the named VPC endpoints, the KMS key (the plan's, else the bucket's
    default) and the replicas' keys, each ok, warning or wrong with its fix."""
    checks = _guarded("MFA delete", "s3:GetBucketVersioning", lambda: [check_mfa_delete(s3, plan)])
    kms_default, bucket_key = False, None
    # unreadable: the default encryption item of check_bucket says so
    with contextlib.suppress(botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
        kms_default, bucket_key = default_key(s3, plan.bucket)
    ec2 = _client(options, "ec2") if plan.source_vpces else None
    for endpoint in plan.source_vpces:
        checks += _guarded(
            f"VPC endpoint {endpoint}",
            "ec2:DescribeVpcEndpoints",
            lambda e=endpoint: [check_vpc_endpoint(ec2, e, plan)],  # type: ignore[misc]
        )
    key = plan.sse_kms_key_id or bucket_key
    if key:
        kms = _client(options, "kms", region_of(key))
        expected = (*plan.maintenance_roles, *plan.kms_roles)
        checks += _guarded(
            "KMS key",
            "kms:GetKeyRotationStatus and kms:GetKeyPolicy",
            lambda: check_kms_key(kms, key, expected),
        )
    elif kms_default:
        checks.append(
            Check(
                item="KMS key",
                state=WARNING,
                detail="SSE-KMS with the AWS managed key aws/s3: its policy cannot be narrowed "
                "and it cannot be used across accounts",
                fix="s3vault setup-bucket --sse-kms KEY",
            )
        )
    checks += _guarded(
        "replica key",
        "s3:GetReplicationConfiguration and s3:GetBucketLocation",
        lambda: check_replica_key(s3, plan, kms_default),
    )
    return checks
