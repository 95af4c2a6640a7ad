"""The bucket policy as documents (cloud/bucketpolicy.py, pure): what it denies and to whom,
what it never denies, merging into a policy someone else wrote, and the checks doctor runs on
any policy (ours, or an equivalent written by hand)."""

from __future__ import annotations

import copy
from typing import Any

from s3vault.cloud.bucketpolicy import (
    PolicyPlan,
    check_policy,
    merge,
    policy_diff,
    policy_document,
    sid_suffix,
)
from s3vault.cloud.check import OK, WARNING, WRONG

MAINT = "arn:aws:iam::123456789012:role/s3vault-maintenance"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
PLAN = PolicyPlan(bucket="acme", prefix="hosts/web1", maintenance_roles=(MAINT,))


def by_sid(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in policy["Statement"]}


def states(policy: dict[str, Any] | None, plan: PolicyPlan = PLAN) -> dict[str, str]:
    return {c.item.removeprefix("bucket policy: "): c.state for c in check_policy(policy, plan)}


def test_policy_denies_plain_http_deletes_but_maintenance_and_other_encryption() -> None:
    doc = by_sid(policy_document(PLAN))
    assert sorted(doc) == sorted(
        [
            "S3vaultDenyInsecureTransport",
            "S3vaultDenyOldTls",
            "S3vaultDenyDeleteHostsWeb1",
            "S3vaultDenyOtherEncryptionHostsWeb1",
            "S3vaultDenySseCHostsWeb1",
        ]
    )
    assert all(s["Effect"] == "Deny" and s["Principal"] == "*" for s in doc.values())
    tls = doc["S3vaultDenyInsecureTransport"]
    assert tls["Resource"] == ["arn:aws:s3:::acme", "arn:aws:s3:::acme/*"]
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    delete = doc["S3vaultDenyDeleteHostsWeb1"]
    assert delete["Action"] == ["s3:DeleteObject", "s3:DeleteObjectVersion"]
    assert delete["Resource"] == "arn:aws:s3:::acme/hosts/web1/*"
    assert delete["Condition"] == {"ArnNotLike": {"aws:PrincipalArn": [MAINT]}}
    sse = doc["S3vaultDenyOtherEncryptionHostsWeb1"]["Condition"]
    # a put naming no encryption passes (the bucket default applies; UploadPart names none)
    assert sse == {
        "Null": {"s3:x-amz-server-side-encryption": "false"},
        "StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"},
    }


def test_policy_never_denies_changing_the_policy_itself() -> None:
    """Only the TLS statements cover bucket-level actions: the owner's administrators can
    always read, change or delete the policy over TLS."""
    plan = PolicyPlan(
        bucket="acme",
        prefix="p",
        maintenance_roles=(MAINT,),
        sse_kms_key_arn=KEY,
        source_vpces=("vpce-0123456789abcdef0",),
    )
    for statement in policy_document(plan)["Statement"]:
        if statement["Resource"] != "arn:aws:s3:::acme/p/*":
            assert statement["Sid"] in ("S3vaultDenyInsecureTransport", "S3vaultDenyOldTls")
        assert "PutBucketPolicy" not in str(statement["Action"])


def test_no_maintenance_role_no_delete_statement() -> None:
    """A deny without the maintenance exception would stop prune: not written."""
    doc = by_sid(policy_document(PolicyPlan(bucket="acme", prefix="p")))
    assert not any(sid.startswith("S3vaultDenyDelete") for sid in doc)
    assert states(policy_document(PolicyPlan(bucket="acme", prefix="p")))["deletes"] == WARNING


def test_kms_and_vpc_statements() -> None:
    plan = PolicyPlan(
        bucket="acme",
        prefix="",
        maintenance_roles=(MAINT,),
        sse_kms_key_arn=KEY,
        source_vpces=("vpce-0123456789abcdef0",),
        exempt_roles=("arn:aws:iam::123456789012:role/replication",),
    )
    doc = by_sid(policy_document(plan))
    assert doc["S3vaultDenyOtherEncryption"]["Condition"]["StringNotEquals"] == {
        "s3:x-amz-server-side-encryption": "aws:kms"
    }
    assert doc["S3vaultDenyOtherKmsKey"]["Condition"]["StringNotEquals"] == {
        "s3:x-amz-server-side-encryption-aws-kms-key-id": KEY
    }
    vpc = doc["S3vaultDenyOutsideVpc"]
    assert vpc["Resource"] == "arn:aws:s3:::acme/*"
    assert vpc["Condition"] == {
        "StringNotEquals": {"aws:SourceVpce": ["vpce-0123456789abcdef0"]},
        "ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::123456789012:role/replication"]},
    }
    assert set(states(policy_document(plan), plan).values()) == {OK}


def test_merge_keeps_foreign_statements_and_replaces_ours_in_place() -> None:
    foreign = {
        "Sid": "AllowAuditAccount",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::acme/*",
    }
    old_delete = copy.deepcopy(by_sid(policy_document(PLAN))["S3vaultDenyDeleteHostsWeb1"])
    old_delete["Condition"] = {"ArnNotLike": {"aws:PrincipalArn": ["arn:aws:iam::1:role/old"]}}
    existing = {"Version": "2012-10-17", "Id": "mine", "Statement": [old_delete, foreign]}
    merged = merge(existing, PLAN)
    assert merged["Id"] == "mine"
    sids = [s["Sid"] for s in merged["Statement"]]
    assert sids[:2] == ["S3vaultDenyDeleteHostsWeb1", "AllowAuditAccount"]  # in place
    assert merged["Statement"][1] == foreign
    assert by_sid(merged)["S3vaultDenyDeleteHostsWeb1"]["Condition"] == {
        "ArnNotLike": {"aws:PrincipalArn": [MAINT]}
    }
    assert merge(merged, PLAN) == merged  # idempotent
    assert policy_diff(merged, merge(merged, PLAN)) == []
    diff = policy_diff(existing, merged)
    removed = [line.replace(" ", "") for line in diff if line[:1] == "-" and line[:3] != "---"]
    assert removed == ['-"arn:aws:iam::1:role/old"']  # the foreign statement is untouched
    assert f'+"{MAINT}"' in [line.replace(" ", "") for line in diff]


def test_merge_never_drops_a_restriction_the_plan_no_longer_makes() -> None:
    with_vpc = PolicyPlan(bucket="acme", prefix="p", source_vpces=("vpce-0123456789abcdef0",))
    merged = merge(policy_document(with_vpc), PolicyPlan(bucket="acme", prefix="p"))
    assert "S3vaultDenyOutsideVpcP" in by_sid(merged)


def test_merge_of_a_single_statement_policy_and_of_two_repositories() -> None:
    single = {"Version": "2012-10-17", "Statement": {"Sid": "X", "Effect": "Allow"}}
    merged = merge(single, PLAN)
    assert merged["Statement"][0] == {"Sid": "X", "Effect": "Allow"}
    other = PolicyPlan(bucket="acme", prefix="hosts/db1", maintenance_roles=(MAINT,))
    both = by_sid(merge(merged, other))
    assert {"S3vaultDenyDeleteHostsWeb1", "S3vaultDenyDeleteHostsDb1"} <= set(both)
    assert sid_suffix("hosts/web-1") == "HostsWeb1"


def test_checks_report_what_is_missing_and_what_would_break_prune() -> None:
    assert states(None) == {"TLS only": WARNING, "deletes": WARNING, "encryption": WARNING}
    assert set(states(policy_document(PLAN)).values()) == {OK}
    # the statement names another role: the maintenance role's prune would be denied
    other = PolicyPlan(bucket="acme", prefix="hosts/web1", maintenance_roles=("arn:x:role/y",))
    assert states(policy_document(other))["deletes"] == WRONG
    # a deny of every delete, to everyone, with no exception
    flat = {
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "s3:Delete*",
                "Resource": "arn:aws:s3:::acme/*",
            }
        ]
    }
    check = next(c for c in check_policy(flat, PLAN) if c.item == "bucket policy: deletes")
    assert check.state == WRONG and "prune cannot run" in check.detail


def test_checks_accept_an_equivalent_policy_written_by_hand() -> None:
    hand = {
        "Statement": [
            {
                "Sid": "https-only",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::acme", "arn:aws:s3:::acme/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "only-maintenance-deletes",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:DeleteObject*"],
                "Resource": "arn:aws:s3:::acme/*",
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": MAINT}},
            },
        ]
    }
    assert states(hand) == {"TLS only": OK, "deletes": OK, "encryption": WARNING}


def test_checks_catch_a_policy_that_denies_the_repository_its_own_encryption() -> None:
    kms = PolicyPlan(bucket="acme", prefix="hosts/web1", sse_kms_key_arn=KEY)
    other_key = PolicyPlan(bucket="acme", prefix="hosts/web1", sse_kms_key_arn=KEY + "0")
    assert states(policy_document(other_key), kms)["encryption"] == WRONG
    sse_s3 = PolicyPlan(bucket="acme", prefix="hosts/web1")
    assert states(policy_document(sse_s3), kms)["encryption"] == WRONG
    assert states(policy_document(kms), kms)["encryption"] == OK


def test_checks_of_the_network_restriction() -> None:
    plan = PolicyPlan(bucket="acme", prefix="p", source_vpces=("vpce-0123456789abcdef0",))
    assert states(None, plan)["network"] == WARNING
    assert states(policy_document(plan), plan)["network"] == OK
    moved = PolicyPlan(bucket="acme", prefix="p", source_vpces=("vpce-0fffffffffffffff0",))
    assert states(policy_document(moved), plan)["network"] == WRONG
    assert "network" not in states(policy_document(plan), PolicyPlan(bucket="acme", prefix="p"))
