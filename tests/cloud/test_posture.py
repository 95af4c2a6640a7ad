"""doctor's posture checks (cloud/posture.py): the replication-key finding on the rule
setup-bucket writes (moto's GetBucketReplication drops SourceSelectionCriteria, so the CLI test
cannot see a fixed rule), and the VPC endpoint and KMS key checks against moto's EC2 and KMS."""

from __future__ import annotations

import json

import boto3

from s3vault.cloud.bucket import BucketPlan, replication_rule
from s3vault.cloud.check import OK, WARNING, WRONG
from s3vault.cloud.posture import (
    check_kms_key,
    check_mfa_delete,
    check_replica_rule,
    check_vpc_endpoint,
)

US = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EU = "arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab"
ROLE = "arn:aws:iam::123456789012:role/replication"


def rule(key: str | None) -> dict:
    plan = BucketPlan(
        bucket="acme",
        prefix="p",
        replicate_to="acme-eu",
        replication_role=ROLE,
        replica_kms_key_id=key,
    )
    return replication_rule(plan)


def eu(bucket: str) -> str:
    assert bucket == "acme-eu"
    return "eu-west-1"


def test_replica_key_in_the_destination_region_is_ok() -> None:
    check = check_replica_rule(rule(EU), kms_default=True, destination_region=eu)
    assert (check.item, check.state) == ("replica key (acme-eu)", OK)


def test_replica_key_of_another_region_is_wrong() -> None:
    check = check_replica_rule(rule(US), kms_default=True, destination_region=eu)
    assert check.state == WRONG
    assert "is in us-east-1, the destination bucket in eu-west-1" in check.detail
    assert "--replica-kms-key" in check.fix


def test_sse_kms_objects_without_a_replica_key_are_not_replicated() -> None:
    check = check_replica_rule(rule(None), kms_default=True, destination_region=eu)
    assert check.state == WRONG and "replica stays empty" in check.detail
    sse_s3 = check_replica_rule(rule(None), kms_default=False, destination_region=eu)
    assert sse_s3.state == OK


def test_a_replica_key_given_by_id_is_a_warning() -> None:
    check = check_replica_rule(rule("1234abcd"), kms_default=True, destination_region=eu)
    assert check.state == WARNING and "not a key ARN" in check.detail


# the checks' variants against moto's EC2 and KMS, called as doctor calls them (the CLI tests
# in tests/cli/test_bucket_policy.py run doctor once on each)


def test_vpc_endpoint_policy_narrow_wide_elsewhere(s3_bucket: str) -> None:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName="com.amazonaws.us-east-1.s3", VpcEndpointType="Gateway"
    )["VpcEndpoint"]["VpcEndpointId"]
    plan = BucketPlan(bucket="backups", prefix="hosts/web1")
    wide = check_vpc_endpoint(ec2, endpoint, plan)  # moto's default: everything
    assert wide.state == WARNING and "any bucket" in wide.detail
    narrow = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
                "Resource": ["arn:aws:s3:::backups", "arn:aws:s3:::backups/*"],
            }
        ]
    }
    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint, PolicyDocument=json.dumps(narrow))
    assert check_vpc_endpoint(ec2, endpoint, plan).state == OK
    narrow["Statement"][0]["Resource"] = ["arn:aws:s3:::someone-else/*"]
    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint, PolicyDocument=json.dumps(narrow))
    elsewhere = check_vpc_endpoint(ec2, endpoint, plan)
    assert elsewhere.state == WRONG and "backups through it fail" in elsewhere.detail
    assert "modify-vpc-endpoint" in elsewhere.fix


def test_kms_key_rotation_and_who_the_key_policy_allows(s3_bucket: str) -> None:
    kms = boto3.client("kms", region_name="us-east-1")
    key = kms.create_key(Description="repository")["KeyMetadata"]["KeyId"]
    stranger = "arn:aws:iam::123456789012:role/stranger"
    rotation, policy = check_kms_key(kms, key, (ROLE,))
    assert rotation.state == WARNING and "enable-key-rotation" in rotation.fix
    assert policy.state == OK and "arn:aws:iam::123456789012:root" in policy.detail
    kms.enable_key_rotation(KeyId=key)
    grant = {
        "Sid": "Use",
        "Effect": "Allow",
        "Principal": {"AWS": [ROLE, stranger]},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": "*",
    }

    def put(statement: dict) -> None:
        document = {"Version": "2012-10-17", "Statement": [statement]}
        kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(document))

    put(grant)
    rotation, policy = check_kms_key(kms, key, (ROLE,))
    assert rotation.state == OK
    assert (policy.state, policy.detail) == (WARNING, f"also allows {stranger}")
    assert check_kms_key(kms, key, (ROLE, stranger))[1].state == OK
    put({**grant, "Principal": "*"})
    assert check_kms_key(kms, key, (ROLE,))[1].state == WRONG


def test_mfa_delete_is_asked_for_unless_object_lock_protects_the_versions(
    s3_bucket: str,
) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    bare = check_mfa_delete(s3, BucketPlan(bucket=s3_bucket))
    assert bare.state == WARNING and "MFADelete=Enabled" in bare.fix and "root user" in bare.fix
    s3.create_bucket(Bucket="locked", ObjectLockEnabledForBucket=True)
    # found on the bucket even when the plan does not know of it (doctor --bucket-only)
    locked = check_mfa_delete(s3, BucketPlan(bucket="locked"))
    assert (locked.state, locked.detail) == (OK, "not enabled; Object Lock protects the versions")
