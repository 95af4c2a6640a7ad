"""AWS Config rules for a repository's bucket (``setup-audit --config-rules``, ``doctor
--audit``; docs/security.md "Audit trail").

The AWS managed rules, each scoped to the bucket (``s3vault-<bucket>-<what>``): TLS-only
requests, versioning, default encryption, no public access, server access logging, and Object
Lock where the bucket has it. Rules are evaluated only by a running configuration recorder:
set-up refuses without one (it names how to start one) rather than leave rules that never
report. Checked: the recorder records, each rule exists for the bucket (ours or any rule with
the same managed identifier whose scope takes the bucket in), and its compliance for the
bucket.
"""

from __future__ import annotations

from typing import Any

import botocore.exceptions

from s3vault.cloud.auditstep import AuditStep
from s3vault.cloud.check import OK, WARNING, WRONG, Check
from s3vault.errors import BackendError

SETUP = "s3vault setup-audit --config-rules"
BUCKET_FIX = "s3vault setup-bucket"
# (name suffix, managed rule, what it checks, the fix when the bucket does not comply)
RULES: tuple[tuple[str, str, str, str], ...] = (
    ("tls-only", "S3_BUCKET_SSL_REQUESTS_ONLY", "TLS-only requests", BUCKET_FIX),
    ("versioning", "S3_BUCKET_VERSIONING_ENABLED", "versioning", BUCKET_FIX),
    ("encryption", "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED", "default encryption", BUCKET_FIX),
    (
        "public-access",
        "S3_BUCKET_LEVEL_PUBLIC_ACCESS_PROHIBITED",
        "public access prohibited",
        BUCKET_FIX,
    ),
    (
        "logging",
        "S3_BUCKET_LOGGING_ENABLED",
        "server access logging",
        "aws s3api put-bucket-logging (docs/security.md#audit-trail)",
    ),
    (
        "object-lock",
        "S3_BUCKET_DEFAULT_LOCK_ENABLED",
        "Object Lock",
        "a bucket made by s3vault setup-bucket --object-lock (docs/immutability.md)",
    ),
)
RECORDER_FIX = (
    "turn AWS Config on in this region (console: AWS Config > Get started; or aws configservice "
    "put-configuration-recorder, put-delivery-channel, start-configuration-recorder)"
)


def wanted_rules(bucket: str, *, object_lock: bool) -> list[dict[str, Any]]:
    """The rule definitions for ``bucket`` (the Object Lock rule only where it is used)."""
    return [
        {
            "ConfigRuleName": f"s3vault-{bucket}-{suffix}",
            "Description": f"s3vault: {what} on bucket {bucket}",
            "Scope": {
                "ComplianceResourceTypes": ["AWS::S3::Bucket"],
                "ComplianceResourceId": bucket,
            },
            "Source": {"Owner": "AWS", "SourceIdentifier": ident},
        }
        for suffix, ident, what, _fix in RULES
        if ident != "S3_BUCKET_DEFAULT_LOCK_ENABLED" or object_lock
    ]


def _recording(cfg: Any) -> bool | None:
    """True: a recorder records; False: one exists, stopped; None: there is none."""
    status = cfg.describe_configuration_recorder_status().get("ConfigurationRecordersStatus", [])
    if not status:
        return None
    return any(s.get("recording") for s in status)


def _all_rules(cfg: Any) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = cfg.describe_config_rules(**({"NextToken": token} if token else {}))
        rules += page.get("ConfigRules", [])
        token = page.get("NextToken")
        if not token:
            return rules


def _same(have: dict[str, Any], want: dict[str, Any]) -> bool:
    """The fields s3vault sets agree (AWS may answer with more)."""
    return all(
        (have.get(part) or {}).get(k) == want[part][k]
        for part, keys in (
            ("Source", ("Owner", "SourceIdentifier")),
            ("Scope", ("ComplianceResourceTypes", "ComplianceResourceId")),
        )
        for k in keys
    )


def plan_config_rules(cfg: Any, bucket: str, *, object_lock: bool, region: str) -> AuditStep:
    """The managed rules for ``bucket``: put where missing or different.

    Raises:
        BackendError: no configuration recorder records in the region (rules would never be
            evaluated); nothing is changed.
    """
    if not _recording(cfg):
        msg = (
            f"AWS Config records nothing in {region}, so its rules would never be evaluated: "
            f"{RECORDER_FIX}; then run this again"
        )
        raise BackendError(msg)
    have = {r.get("ConfigRuleName"): r for r in _all_rules(cfg)}
    wanted = wanted_rules(bucket, object_lock=object_lock)
    missing = [w for w in wanted if not _same(have.get(w["ConfigRuleName"], {}), w)]

    def apply() -> None:
        for rule in missing:
            cfg.put_config_rule(ConfigRule=rule)

    names = ", ".join(r["Source"]["SourceIdentifier"] for r in wanted)
    return AuditStep(
        item=f"config rules for {bucket}",
        state=f"{len(wanted)} managed rules ({names})",
        changes=(f"{len(missing)} of {len(wanted)} rules put",) if missing else (),
        apply=apply if missing else None,
    )


def _scoped(rule: dict[str, Any], bucket: str) -> bool:
    scope = rule.get("Scope") or {}
    types = scope.get("ComplianceResourceTypes") or ["AWS::S3::Bucket"]
    return "AWS::S3::Bucket" in types and scope.get("ComplianceResourceId", bucket) == bucket


def _compliance(cfg: Any, bucket: str) -> tuple[dict[str, str], str]:
    """The bucket's compliance by rule name (COMPLIANT, NON_COMPLIANT...; a rule without an
    evaluation is missing), and why it is unknown ("" when known): one request."""
    found: dict[str, str] = {}
    token: str | None = None
    try:
        while True:
            page = cfg.get_compliance_details_by_resource(
                ResourceType="AWS::S3::Bucket",
                ResourceId=bucket,
                **({"NextToken": token} if token else {}),
            )
            for r in page.get("EvaluationResults", []):
                qualifier = r.get("EvaluationResultIdentifier", {}).get(
                    "EvaluationResultQualifier", {}
                )
                found[str(qualifier.get("ConfigRuleName"))] = str(r.get("ComplianceType"))
            token = page.get("NextToken")
            if not token:
                return found, ""
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        return {}, str(exc)


def check_config_rules(cfg: Any, bucket: str, *, object_lock: bool, region: str) -> list[Check]:
    """The recorder, then each rule: there, and the bucket's compliance with it."""
    recording = _recording(cfg)
    checks = [
        Check(item="config recorder", state=OK, detail=f"recording in {region}")
        if recording
        else Check(
            item="config recorder",
            state=WARNING if recording is None else WRONG,
            detail=f"none in {region}: no rule is evaluated"
            if recording is None
            else f"stopped in {region}: no rule is evaluated",
            fix=RECORDER_FIX,
        )
    ]
    rules = [r for r in _all_rules(cfg) if _scoped(r, bucket)]
    compliance, unknown = _compliance(cfg, bucket) if rules else ({}, "")
    for _suffix, ident, what, fix in RULES:
        if ident == "S3_BUCKET_DEFAULT_LOCK_ENABLED" and not object_lock:
            continue
        item = f"config rule: {what}"
        rule = next(
            (r for r in rules if r.get("Source", {}).get("SourceIdentifier") == ident), None
        )
        if rule is None:
            checks.append(
                Check(item=item, state=WARNING, detail=f"no {ident} rule for {bucket}", fix=SETUP)
            )
            continue
        name = str(rule.get("ConfigRuleName"))
        state = "UNKNOWN" if unknown else compliance.get(name, "INSUFFICIENT_DATA")
        if state == "COMPLIANT":
            checks.append(Check(item=item, state=OK, detail=f"{name}: compliant"))
        elif state == "NON_COMPLIANT":
            checks.append(
                Check(item=item, state=WRONG, detail=f"{name}: {bucket} does not comply", fix=fix)
            )
        elif state == "UNKNOWN":
            checks.append(
                Check(
                    item=item,
                    state=WARNING,
                    detail=f"{name}: compliance unavailable ({unknown})",
                    fix="aws configservice get-compliance-details-by-resource "
                    f"--resource-type AWS::S3::Bucket --resource-id {bucket}",
                )
            )
        else:
            checks.append(
                Check(
                    item=item,
                    state=WARNING,
                    detail=f"{name}: not evaluated yet",
                    fix="aws configservice start-config-rules-evaluation "
                    f"--config-rule-names {name}",
                )
            )
    return checks
