"""CloudTrail data events for a repository's prefix (``setup-audit --trail``, ``doctor
--audit``; docs/security.md "Audit trail").

Set up: a log bucket of its own (versioned, no public access, SSE-S3, and a bucket policy that
lets only this trail write, denies every object and version delete and every lifecycle change
to everyone, and denies requests without TLS), then a multi-region trail with log file
validation writing to it, whose basic event selectors log the repository prefix's S3 data
events (write-only or all) beside management write events, and logging started. The prefix
is merged into the trail's selectors: other prefixes and selectors stay. A trail with
advanced event selectors is left alone (s3vault does not rewrite them).

Checked by trailcheck.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from s3vault.cloud.auditstep import AuditStep
from s3vault.cloud.services import Account, error_code
from s3vault.errors import UsageError

WRITE_ONLY, ALL = "WriteOnly", "All"
OBJECT = "AWS::S3::Object"
DENY_DELETE = "S3VaultDenyDelete"
SETUP = "s3vault setup-audit --trail write-only"


@dataclass(frozen=True, slots=True, kw_only=True)
class TrailPlan:
    """The trail for one repository prefix."""

    bucket: str
    prefix: str
    events: str  # WRITE_ONLY or ALL
    name: str  # the trail
    log_bucket: str
    region: str
    account: Account

    @property
    def arn(self) -> str:
        """The trail's ARN (known before it exists: the log bucket policy names it)."""
        a = self.account
        return f"arn:{a.partition}:cloudtrail:{self.region}:{a.id}:trail/{self.name}"

    @property
    def data_arn(self) -> str:
        """What the data event selector names: the repository's objects."""
        return prefix_arn(self.account.partition, self.bucket, self.prefix)


def prefix_arn(partition: str, bucket: str, prefix: str) -> str:
    """``arn:aws:s3:::bucket/prefix/`` (the objects under the prefix; the bucket's if none)."""
    base = prefix.strip("/")
    return f"arn:{partition}:s3:::{bucket}/" + (f"{base}/" if base else "")


def log_bucket_policy(plan: TrailPlan) -> list[dict[str, Any]]:
    """The log bucket's statements: CloudTrail of this trail may check the ACL and write its
    logs; nobody deletes an object or a version or changes the lifecycle; no request without
    TLS."""
    p, bucket = plan.account.partition, plan.log_bucket
    whole, objects = f"arn:{p}:s3:::{bucket}", f"arn:{p}:s3:::{bucket}/*"
    trail = {"aws:SourceArn": plan.arn}
    service = {"Service": "cloudtrail.amazonaws.com"}
    return [
        {
            "Sid": "S3VaultCloudTrailAclCheck",
            "Effect": "Allow",
            "Principal": service,
            "Action": "s3:GetBucketAcl",
            "Resource": whole,
            "Condition": {"StringEquals": trail},
        },
        {
            "Sid": "S3VaultCloudTrailWrite",
            "Effect": "Allow",
            "Principal": service,
            "Action": "s3:PutObject",
            "Resource": f"{whole}/AWSLogs/{plan.account.id}/*",
            "Condition": {"StringEquals": {**trail, "s3:x-amz-acl": "bucket-owner-full-control"}},
        },
        {
            "Sid": DENY_DELETE,
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
            "Resource": objects,
        },
        {
            "Sid": "S3VaultDenyLifecycle",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutLifecycleConfiguration",
            "Resource": whole,
        },
        {
            "Sid": "S3VaultDenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [whole, objects],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ]


def get_if_any(call: Any, **args: Any) -> dict[str, Any] | None:
    """A Get* or Head* call; None when there is no such thing (or configuration)."""
    try:
        answer: dict[str, Any] = call(**args)
    except botocore.exceptions.ClientError as exc:
        code = error_code(exc)
        if code.startswith("NoSuch") or code in ("404", "NotFound", "TrailNotFoundException"):
            return None
        if (
            code.endswith("NotFoundError")
            or code == "ServerSideEncryptionConfigurationNotFoundError"
        ):
            return None
        raise
    return answer


def _statements(s3: Any, bucket: str) -> list[dict[str, Any]]:
    found = get_if_any(s3.get_bucket_policy, Bucket=bucket)
    return list(json.loads(found["Policy"]).get("Statement", [])) if found else []


def plan_log_bucket(s3: Any, plan: TrailPlan) -> AuditStep:
    """The log bucket: created if needed, then versioning, public access block, default
    encryption and the policy (merged by statement id: other statements stay)."""
    bucket, changes = plan.log_bucket, []
    try:
        exists = get_if_any(s3.head_bucket, Bucket=bucket) is not None
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) not in ("403", "AccessDenied"):
            raise
        msg = (
            f"the log bucket {bucket} belongs to another account (or these credentials may "
            "not read it): name another with --trail-bucket"
        )
        raise UsageError(msg) from None
    if not exists:
        changes.append("created")
    versioning = get_if_any(s3.get_bucket_versioning, Bucket=bucket) if exists else None
    if (versioning or {}).get("Status") != "Enabled":
        changes.append("versioning enabled")
    block = get_if_any(s3.get_public_access_block, Bucket=bucket) if exists else None
    flags = (block or {}).get("PublicAccessBlockConfiguration", {})
    if not (flags and all(flags.values())):
        changes.append("public access blocked")
    encryption = get_if_any(s3.get_bucket_encryption, Bucket=bucket) if exists else None
    if not encryption:
        changes.append("SSE-S3")
    ours = log_bucket_policy(plan)
    current = _statements(s3, bucket) if exists else []
    if any(s not in current for s in ours):
        changes.append("deny-delete policy set")
    sids = {s["Sid"] for s in ours}
    policy = [s for s in current if s.get("Sid") not in sids] + ours

    def apply() -> None:
        if not exists:
            args: dict[str, Any] = {"Bucket": bucket}
            if plan.region != "us-east-1":
                args["CreateBucketConfiguration"] = {"LocationConstraint": plan.region}
            s3.create_bucket(**args)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration=dict.fromkeys(
                (
                    "BlockPublicAcls",
                    "IgnorePublicAcls",
                    "BlockPublicPolicy",
                    "RestrictPublicBuckets",
                ),
                True,
            ),
        )
        if not encryption:
            rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
            s3.put_bucket_encryption(
                Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [rule]}
            )
        document = {"Version": "2012-10-17", "Statement": policy}
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(document))

    return AuditStep(
        item=f"log bucket {bucket}",
        state="versioned, private, encrypted; only the trail writes; deletes denied to everyone",
        changes=tuple(changes),
        apply=apply if changes else None,
    )


def _normal(selectors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The selectors as put back: their three fields, and the management event sources a
    selector excludes (kept: someone chose them)."""
    keys = ("ReadWriteType", "IncludeManagementEvents", "DataResources")
    out = []
    for s in selectors:
        sel = {k: s.get(k, []) for k in keys}
        if s.get("ExcludeManagementEventSources"):
            sel["ExcludeManagementEventSources"] = s["ExcludeManagementEventSources"]
        out.append(sel)
    return out


def merged_selectors(current: list[dict[str, Any]], arn: str, events: str) -> list[dict[str, Any]]:
    """``current`` with ``arn`` logged by a data selector of type ``events`` (and by no other
    data selector), and management write events when no selector logs management events."""
    out, placed = [], False
    for sel in _normal(current):
        target = (
            not placed and sel["ReadWriteType"] == events and not sel["IncludeManagementEvents"]
        )
        resources = []
        for res in sel["DataResources"]:
            values = list(res.get("Values", []))
            if res.get("Type") == OBJECT:
                values = [v for v in values if v != arn]
                if target:
                    values.append(arn)
                    placed, target = True, False
            if values:
                resources.append({**res, "Values": values})
        if resources or sel["IncludeManagementEvents"]:
            out.append({**sel, "DataResources": resources})
    if not placed:
        out.append(
            {
                "ReadWriteType": events,
                "IncludeManagementEvents": False,
                "DataResources": [{"Type": OBJECT, "Values": [arn]}],
            }
        )
    if not any(s["IncludeManagementEvents"] for s in out):
        out.append(
            {"ReadWriteType": WRITE_ONLY, "IncludeManagementEvents": True, "DataResources": []}
        )
    return out


def current_log_bucket(ct: Any, name: str) -> str | None:
    """Where the trail ``name`` writes its logs (None: no such trail)."""
    trail = (get_if_any(ct.get_trail, Name=name) or {}).get("Trail") or {}
    return trail.get("S3BucketName")


def plan_trail(ct: Any, plan: TrailPlan) -> AuditStep:
    """The trail: created (multi-region, log file validation, to the log bucket) or brought
    there, its selectors merged, logging started.

    Raises:
        UsageError: the trail has advanced event selectors (s3vault does not rewrite them).
    """
    trail = (get_if_any(ct.get_trail, Name=plan.name) or {}).get("Trail")
    changes: list[str] = []
    selectors: list[dict[str, Any]] = []
    update = False
    if trail is None:
        changes.append("created")
    else:
        if trail.get("S3BucketName") != plan.log_bucket:
            changes.append(f"logs to {plan.log_bucket}")
        if not trail.get("IsMultiRegionTrail") or not trail.get("LogFileValidationEnabled"):
            changes.append("multi-region with log file validation")
        update = bool(changes)
        got = ct.get_event_selectors(TrailName=plan.name)
        if got.get("AdvancedEventSelectors"):
            msg = (
                f"trail {plan.name} uses advanced event selectors, which s3vault does not "
                f"rewrite: add the data events of {plan.data_arn} to it yourself, or choose "
                "another trail with --trail-name"
            )
            raise UsageError(msg)
        selectors = list(got.get("EventSelectors") or [])
    wanted = merged_selectors(selectors, plan.data_arn, plan.events)
    if trail is None or wanted != _normal(selectors):
        changes.append(f"{'write-only' if plan.events == WRITE_ONLY else 'all'} data events")
    logging = trail is not None and ct.get_trail_status(Name=plan.name).get("IsLogging")
    if not logging:
        changes.append("logging started")
    settings = {
        "Name": plan.name,
        "S3BucketName": plan.log_bucket,
        "IsMultiRegionTrail": True,
        "IncludeGlobalServiceEvents": True,
        "EnableLogFileValidation": True,
    }

    def apply() -> None:
        if trail is None:
            ct.create_trail(**settings)
        elif update:
            ct.update_trail(**settings)
        ct.put_event_selectors(TrailName=plan.name, EventSelectors=wanted)
        if not logging:
            ct.start_logging(Name=plan.name)

    kind = "write-only" if plan.events == WRITE_ONLY else "all"
    return AuditStep(
        item=f"trail {plan.name}",
        state=f"logging {kind} data events of {plan.data_arn} to {plan.log_bucket}",
        changes=tuple(changes),
        apply=apply if changes else None,
    )
