"""The repository bucket's policy: built from a plan, merged into the bucket's existing policy,
and checked (``setup-bucket`` writes it, ``doctor`` reads it back; docs/security.md).

Pure: documents in, documents and findings out; no AWS call, so the same documents can be
evaluated by anything that enforces IAM.

The statements, each a Deny to every principal (``"Principal": "*"``) named by its Sid:
- ``S3vaultDenyInsecureTransport``: every request without TLS (``aws:SecureTransport``), on the
  whole bucket; ``S3vaultDenyOldTls``: TLS older than 1.2 (``s3:TlsVersion``).
- ``S3vaultDenyDelete<Prefix>``: DeleteObject and DeleteObjectVersion under the repository's
  prefix, except to the maintenance role(s) (``aws:PrincipalArn``). Written only when a
  maintenance role is named: a deny without that exception would stop prune.
- ``S3vaultDenyOtherEncryption<Prefix>``, ``S3vaultDenyOtherKmsKey<Prefix>``: a PutObject that
  asks for another encryption than the repository's (SSE-S3, or SSE-KMS with the expected key);
  ``S3vaultDenySseC<Prefix>``: a PutObject with a customer-provided key (SSE-C). A put that names
  no encryption is allowed: the bucket's default encryption (which doctor checks) applies to it,
  and UploadPart, which is authorised as PutObject, never names one.
- ``S3vaultDenyOutsideVpc<Prefix>``: every object request under the prefix that does not come
  through the named VPC endpoint(s) or VPC(s) (``aws:SourceVpce`` / ``aws:SourceVpc``), except
  the exempt principals (the replication role, which S3 itself uses from outside any VPC).

What is never denied, so that nobody is locked out: the bucket-level actions
(``s3:GetBucketPolicy``, ``s3:PutBucketPolicy``, ``s3:DeleteBucketPolicy``, lifecycle,
versioning) are in no statement except the TLS one, so the account's administrators can always
change or remove this policy over TLS; the maintenance role can delete; reads and writes with
the repository's encryption (or none named) pass.

Merging keeps every statement whose Sid is not one of ours, replaces ours by Sid (in place), and
keeps our statements the plan no longer produces (a restriction is never loosened silently:
remove it by hand). The Sid suffix is the prefix's letters and digits in CamelCase, so each
repository in a shared bucket has its own statements (two prefixes that differ only in
punctuation share them).
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import re
from dataclasses import dataclass
from typing import Any

from s3vault.cloud.check import OK, WARNING, WRONG, Check

SID_PREFIX = "S3vault"
VERSION = "2012-10-17"
FIX = "s3vault setup-bucket"


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyPlan:
    """What the bucket policy should enforce for one repository."""

    bucket: str
    prefix: str = ""
    maintenance_roles: tuple[str, ...] = ()  # the principals that may delete
    sse_kms_key_arn: str | None = None  # the expected KMS key's ARN; None: SSE-S3
    source_vpces: tuple[str, ...] = ()  # vpce-... ids the repository is reached through
    source_vpcs: tuple[str, ...] = ()  # vpc-... ids
    exempt_roles: tuple[str, ...] = ()  # reach the objects outside the VPC (replication role)
    object_lock: bool = False  # the maintenance role deletes object versions too


def sid_suffix(prefix: str) -> str:
    """The repository prefix as a Sid suffix: ``hosts/web-1`` → ``HostsWeb1``."""
    return "".join(w[:1].upper() + w[1:] for w in re.findall(r"[A-Za-z0-9]+", prefix))[:48]


def _arns(plan: PolicyPlan) -> tuple[str, str]:
    bucket = f"arn:aws:s3:::{plan.bucket}"
    prefix = plan.prefix.strip("/")
    return bucket, f"{bucket}/{prefix}/*" if prefix else f"{bucket}/*"


def _deny(sid: str, action: str | list[str], resource: str | list[str], **condition: Any) -> Any:
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": resource,
        "Condition": condition,
    }


def statements(plan: PolicyPlan) -> list[dict[str, Any]]:
    """The statements the plan asks for, in a fixed order."""
    bucket, objects = _arns(plan)
    mine = sid_suffix(plan.prefix)
    out = [
        _deny(
            f"{SID_PREFIX}DenyInsecureTransport",
            "s3:*",
            [bucket, f"{bucket}/*"],
            Bool={"aws:SecureTransport": "false"},
        ),
        _deny(
            f"{SID_PREFIX}DenyOldTls",
            "s3:*",
            [bucket, f"{bucket}/*"],
            NumericLessThan={"s3:TlsVersion": "1.2"},
        ),
    ]
    if plan.maintenance_roles:
        out.append(
            _deny(
                f"{SID_PREFIX}DenyDelete{mine}",
                ["s3:DeleteObject", "s3:DeleteObjectVersion"],
                objects,
                ArnNotLike={"aws:PrincipalArn": list(plan.maintenance_roles)},
            )
        )
    sse = "aws:kms" if plan.sse_kms_key_arn else "AES256"
    header = "s3:x-amz-server-side-encryption"
    out.append(
        _deny(
            f"{SID_PREFIX}DenyOtherEncryption{mine}",
            "s3:PutObject",
            objects,
            Null={header: "false"},
            StringNotEquals={header: sse},
        )
    )
    if plan.sse_kms_key_arn:
        key = f"{header}-aws-kms-key-id"
        out.append(
            _deny(
                f"{SID_PREFIX}DenyOtherKmsKey{mine}",
                "s3:PutObject",
                objects,
                Null={key: "false"},
                StringNotEquals={key: plan.sse_kms_key_arn},
            )
        )
    out.append(
        _deny(
            f"{SID_PREFIX}DenySseC{mine}",
            "s3:PutObject",
            objects,
            Null={f"{header}-customer-algorithm": "false"},
        )
    )
    if plan.source_vpces or plan.source_vpcs:
        outside: dict[str, Any] = {}
        if plan.source_vpces:
            outside["aws:SourceVpce"] = list(plan.source_vpces)
        if plan.source_vpcs:
            outside["aws:SourceVpc"] = list(plan.source_vpcs)
        condition: dict[str, Any] = {"StringNotEquals": outside}
        if plan.exempt_roles:
            condition["ArnNotLike"] = {"aws:PrincipalArn": list(plan.exempt_roles)}
        out.append(_deny(f"{SID_PREFIX}DenyOutsideVpc{mine}", "s3:*", objects, **condition))
    return out


def policy_document(plan: PolicyPlan) -> dict[str, Any]:
    """The bucket policy of the plan alone (what a bucket without a policy gets)."""
    return {"Version": VERSION, "Statement": statements(plan)}


def statement_list(policy: dict[str, Any] | None) -> list[dict[str, Any]]:
    found = (policy or {}).get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def merge(existing: dict[str, Any] | None, plan: PolicyPlan) -> dict[str, Any]:
    """The existing policy with the plan's statements in it: foreign statements kept, ours
    replaced by Sid where they were, new ones appended, ours that the plan no longer makes
    kept."""
    wanted = {s["Sid"]: s for s in statements(plan)}
    merged = [wanted.pop(s.get("Sid", ""), s) for s in statement_list(existing)]
    merged += wanted.values()
    out = {k: v for k, v in (existing or {}).items() if k != "Statement"}
    out.setdefault("Version", VERSION)
    out["Statement"] = merged
    return out


def policy_diff(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """A unified diff of the two policies as indented JSON; empty when they are equal."""
    old = json.dumps(before, indent=2).splitlines() if before else []
    new = json.dumps(after, indent=2).splitlines()
    if before == after:
        return []
    return list(
        difflib.unified_diff(old, new, "bucket policy now", "bucket policy", lineterm="", n=2)
    )


# --- checks: does a policy (ours or written by hand, Terraform...) deny what the plan asks for


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value or []]


def covers(patterns: Any, value: str) -> bool:
    return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in _listed(patterns))


def _everyone(statement: dict[str, Any]) -> bool:
    principal = statement.get("Principal")
    return principal == "*" or (
        isinstance(principal, dict) and _listed(principal.get("AWS")) == ["*"]
    )


def _denies(statements_: list[dict[str, Any]], action: str, resource: str) -> list[dict[str, Any]]:
    """The Deny-to-everyone statements that cover ``action`` on ``resource``."""
    return [
        s
        for s in statements_
        if s.get("Effect") == "Deny"
        and _everyone(s)
        and covers(s.get("Action"), action)
        and covers(s.get("Resource"), resource)
    ]


def _condition(statement: dict[str, Any], operator: str, key: str) -> list[str]:
    """The values of a condition key under an operator (keys compared case-insensitively)."""
    for name, value in (statement.get("Condition", {}).get(operator) or {}).items():
        if name.lower() == key.lower():
            return _listed(value)
    return []


def _sample(plan: PolicyPlan) -> str:
    """An object of the repository, to ask whether a statement's Resource covers it."""
    return _arns(plan)[1].removesuffix("*") + "config"


def check_tls(policy: dict[str, Any] | None, plan: PolicyPlan) -> Check:
    """TLS-only: some statement denies every request on the repository without TLS."""
    denies = _denies(statement_list(policy), "s3:GetObject", _sample(plan))
    if any(_condition(s, "Bool", "aws:SecureTransport") == ["false"] for s in denies):
        return Check(item="bucket policy: TLS only", state=OK, detail="requests without TLS denied")
    return Check(
        item="bucket policy: TLS only",
        state=WARNING,
        detail="requests without TLS are not denied (aws:SecureTransport)",
        fix=FIX,
    )


_EXCEPT = ("ArnNotLike", "ArnNotEquals", "StringNotLike", "StringNotEquals")


def _exempt(statement: dict[str, Any]) -> list[str]:
    """The principal ARNs a Deny statement exempts when its only condition is on the principal
    (``aws:PrincipalArn`` not like ...); empty for any other statement (one that also depends
    on the network, say, denies the maintenance role only in some places)."""
    conditions = statement.get("Condition", {})
    keys = {k.lower() for operator in conditions.values() for k in operator}
    if keys != {"aws:principalarn"}:
        return []
    return [a for op in _EXCEPT for a in _condition(statement, op, "aws:PrincipalArn")]


def check_deletes(policy: dict[str, Any] | None, plan: PolicyPlan) -> Check:
    """Deletes: denied to everyone but the maintenance role(s), and never to them (version
    deletes may be denied to everyone too when the repository has no Object Lock: prune then
    deletes objects only)."""
    item, fix = "bucket policy: deletes", FIX + " --maintenance-role ARN"
    found, sample = statement_list(policy), _sample(plan)
    objects = _denies(found, "s3:DeleteObject", sample)
    versions = _denies(found, "s3:DeleteObjectVersion", sample)
    needed = objects + (versions if plan.object_lock else [])
    if any(not s.get("Condition") for s in needed):
        return Check(
            item=item,
            state=WRONG,
            detail="deletes are denied to every principal: prune cannot run",
            fix=fix,
        )
    guarded = [s for s in objects if _exempt(s)]
    if not guarded or not any(_exempt(s) or not s.get("Condition") for s in versions):
        return Check(
            item=item,
            state=WARNING,
            detail=("version" if guarded else "object and version")
            + " deletes are not denied to other principals: anyone whose IAM policy allows "
            "them can delete backups",
            fix=fix,
        )
    blocked = [
        role
        for role in plan.maintenance_roles
        if any(_exempt(s) and not covers(_exempt(s), role) for s in needed)
    ]
    allowed = sorted({a for s in guarded for a in _exempt(s)})
    if blocked:
        return Check(
            item=item,
            state=WRONG,
            detail=f"the maintenance role {', '.join(blocked)} is denied deletes (the policy "
            f"allows {', '.join(allowed)}): prune will fail",
            fix=fix,
        )
    return Check(item=item, state=OK, detail=f"denied except to {', '.join(allowed)}")


def check_encryption(policy: dict[str, Any] | None, plan: PolicyPlan) -> Check:
    """Puts with another encryption than the repository's are denied; the expected one is not."""
    item = "bucket policy: encryption"
    fix = FIX + (" --sse-kms KEY" if plan.sse_kms_key_arn else "")
    header = "s3:x-amz-server-side-encryption"
    denies = _denies(statement_list(policy), "s3:PutObject", _sample(plan))
    algorithms = [v for s in denies for v in _condition(s, "StringNotEquals", header)]
    keys = [v for s in denies for v in _condition(s, "StringNotEquals", header + "-aws-kms-key-id")]
    want = "aws:kms" if plan.sse_kms_key_arn else "AES256"
    if algorithms and want not in algorithms:
        return Check(
            item=item,
            state=WRONG,
            detail=f"puts with {want} are denied (the policy requires {', '.join(algorithms)})",
            fix=fix,
        )
    if plan.sse_kms_key_arn and keys and plan.sse_kms_key_arn not in keys:
        return Check(
            item=item,
            state=WRONG,
            detail=f"puts with the key {plan.sse_kms_key_arn} are denied (the policy requires "
            f"{', '.join(keys)})",
            fix=fix,
        )
    if not algorithms or (plan.sse_kms_key_arn and not keys):
        return Check(
            item=item,
            state=WARNING,
            detail="a put may ask for another encryption"
            + (" or another KMS key" if plan.sse_kms_key_arn else "")
            + " (an attacker's KMS key makes the objects unreadable once it is revoked)",
            fix=fix,
        )
    return Check(
        item=item,
        state=OK,
        detail=f"puts asking for another encryption than {want}"
        + (" or another key" if keys else "")
        + " denied",
    )


def check_network(policy: dict[str, Any] | None, plan: PolicyPlan) -> Check | None:
    """The VPC restriction, when the plan names endpoints or VPCs (else None)."""
    if not (plan.source_vpces or plan.source_vpcs):
        return None
    item, fix = "bucket policy: network", FIX + " --source-vpce ID"
    denies = _denies(statement_list(policy), "s3:GetObject", _sample(plan))
    vpces = {v for s in denies for v in _condition(s, "StringNotEquals", "aws:SourceVpce")}
    vpcs = {v for s in denies for v in _condition(s, "StringNotEquals", "aws:SourceVpc")}
    if not vpces and not vpcs:
        return Check(
            item=item,
            state=WARNING,
            detail="the repository is reachable from outside "
            + ", ".join((*plan.source_vpces, *plan.source_vpcs)),
            fix=fix,
        )
    missing = [v for v in plan.source_vpces if v not in vpces]
    missing += [v for v in plan.source_vpcs if v not in vpcs]
    if missing:
        return Check(
            item=item,
            state=WRONG,
            detail=f"requests through {', '.join(missing)} are denied (the policy allows "
            f"{', '.join(sorted(vpces | vpcs))})",
            fix=fix,
        )
    return Check(item=item, state=OK, detail="only through " + ", ".join(sorted(vpces | vpcs)))


def check_policy(policy: dict[str, Any] | None, plan: PolicyPlan) -> list[Check]:
    """Every policy item doctor reports, from the bucket's policy (None: it has none)."""
    checks = [
        check_tls(policy, plan),
        check_deletes(policy, plan),
        check_encryption(policy, plan),
    ]
    network = check_network(policy, plan)
    return checks + ([network] if network else [])
