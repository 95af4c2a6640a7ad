"""doctor's replication-key finding on the rule setup-bucket writes (moto's
GetBucketReplication drops SourceSelectionCriteria, so the CLI test cannot see a fixed rule)."""

from __future__ import annotations

from s3vault.cloud.bucket import BucketPlan, replication_rule
from s3vault.cloud.check import OK, WARNING, WRONG
from s3vault.cloud.posture import check_replica_rule

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
