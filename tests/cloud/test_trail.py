"""How a trail's event selectors cover a repository prefix, and how setup-audit merges its
prefix into them (cloud/trail.py, cloud/trailcheck.py): pure functions, checked on small tables."""

from __future__ import annotations

from s3vault.cloud.trail import merged_selectors, prefix_arn
from s3vault.cloud.trailcheck import coverage

ARN = "arn:aws:s3:::backups/fleet/"
OBJECT = "AWS::S3::Object"


def data(kind: str, *values: str) -> dict[str, object]:
    return {
        "ReadWriteType": kind,
        "IncludeManagementEvents": False,
        "DataResources": [{"Type": OBJECT, "Values": list(values)}],
    }


def test_prefix_arn_names_the_objects_under_the_prefix() -> None:
    assert prefix_arn("aws", "backups", "fleet") == ARN
    assert prefix_arn("aws", "backups", "/fleet/") == ARN
    assert prefix_arn("aws-cn", "backups", "") == "arn:aws-cn:s3:::backups/"


def test_basic_selectors_cover_by_prefix_or_every_bucket() -> None:
    assert coverage([data("WriteOnly", ARN)], [], ARN) == "WriteOnly"
    assert coverage([data("All", "arn:aws:s3:::backups/")], [], ARN) == "All"
    assert coverage([data("ReadOnly", "arn:aws:s3")], [], ARN) == "ReadOnly"
    assert coverage([data("All", "arn:aws:s3:::backups/other/")], [], ARN) is None
    assert coverage([data("All", "arn:aws:s3:::backup/")], [], ARN) is None
    # the widest wins
    assert coverage([data("ReadOnly", ARN), data("WriteOnly", ARN)], [], ARN) == "WriteOnly"


def test_advanced_selectors_cover_by_field() -> None:
    def advanced(*fields: dict[str, object]) -> list[dict[str, object]]:
        base = [
            {"Field": "eventCategory", "Equals": ["Data"]},
            {"Field": "resources.type", "Equals": [OBJECT]},
        ]
        return [{"FieldSelectors": base + list(fields)}]

    assert coverage([], advanced(), ARN) == "All"
    writes = {"Field": "readOnly", "Equals": ["false"]}
    assert coverage([], advanced(writes), ARN) == "WriteOnly"
    prefix = {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::backups/"]}
    assert coverage([], advanced(prefix), ARN) == "All"
    other = {"Field": "resources.ARN", "StartsWith": ["arn:aws:s3:::logs/"]}
    assert coverage([], advanced(other), ARN) is None
    excluded = {"Field": "resources.ARN", "NotStartsWith": ["arn:aws:s3:::backups/"]}
    assert coverage([], advanced(excluded), ARN) is None


def test_merge_adds_the_prefix_once_and_keeps_the_rest() -> None:
    default = {"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": []}
    merged = merged_selectors([default], ARN, "WriteOnly")
    assert merged == [default, data("WriteOnly", ARN)]
    assert merged_selectors(merged, ARN, "WriteOnly") == merged  # a second run: unchanged
    other = "arn:aws:s3:::backups/other/"
    both = merged_selectors(merged, other, "WriteOnly")
    assert both == [default, data("WriteOnly", ARN, other)]
    # asked for all events: moved from the write-only selector to an all-events one
    moved = merged_selectors(both, ARN, "All")
    assert moved == [default, data("WriteOnly", other), data("All", ARN)]


def test_merge_adds_management_write_events_when_none_are_logged() -> None:
    merged = merged_selectors([], ARN, "WriteOnly")
    assert merged == [
        data("WriteOnly", ARN),
        {"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True, "DataResources": []},
    ]
