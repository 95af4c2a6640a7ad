"""Whether CloudTrail records what happens to a repository's objects (``doctor --audit``;
docs/security.md "Audit trail"): some trail of the bucket's region (or a multi-region one)
logs the data events of the repository's prefix, by basic or advanced event selectors, is
logging, and writes to a log bucket whose policy denies deletes. Not set up: a warning; set
up but stopped: wrong; logging only reads: a warning."""

from __future__ import annotations

import json
from typing import Any

import botocore.exceptions

from s3vault.cloud.check import OK, WARNING, WRONG, Check
from s3vault.cloud.trail import ALL, OBJECT, SETUP, WRITE_ONLY, get_if_any


def _value_covers(value: str, arn: str) -> bool:
    # "arn:aws:s3" or "arn:aws:s3:::" alone: every bucket; else a prefix of the objects' ARN
    return value.rstrip(":").endswith(":s3") or arn.startswith(value)


def coverage(
    selectors: list[dict[str, Any]], advanced: list[dict[str, Any]], arn: str
) -> str | None:
    """How a trail's selectors log the data events of the objects under ``arn``: ``All``,
    ``WriteOnly``, ``ReadOnly`` or None (not at all)."""
    found: set[str] = set()
    for sel in selectors:
        for res in sel.get("DataResources", []):
            if res.get("Type") == OBJECT and any(
                _value_covers(v, arn) for v in res.get("Values", [])
            ):
                found.add(sel.get("ReadWriteType", ALL))
    for sel in advanced:
        fields = {f.get("Field"): f for f in sel.get("FieldSelectors", [])}
        if OBJECT not in fields.get("resources.type", {}).get("Equals", []):
            continue
        where = fields.get("resources.ARN", {})
        starts = where.get("StartsWith", []) + where.get("Equals", [])
        if starts and not any(_value_covers(v, arn) for v in starts):
            continue
        if any(arn.startswith(v) for v in where.get("NotStartsWith", [])):
            continue
        read_only = fields.get("readOnly", {}).get("Equals", [])
        found.add(
            {"true": "ReadOnly", "false": WRITE_ONLY}.get(read_only[0], ALL) if read_only else ALL
        )
    for kind in (ALL, WRITE_ONLY, "ReadOnly"):
        if kind in found:
            return kind
    return None


def _denies_deletes(s3: Any, bucket: str) -> bool | None:
    """Whether the bucket's policy denies object deletes to everyone (None: unreadable)."""
    try:
        found = get_if_any(s3.get_bucket_policy, Bucket=bucket)
        statements = json.loads(found["Policy"]).get("Statement", []) if found else []
    except botocore.exceptions.ClientError:
        return None
    for s in statements:
        actions = s.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if (
            s.get("Effect") == "Deny"
            and s.get("Principal") in ("*", {"AWS": "*"})
            and ("s3:DeleteObject" in actions or "s3:*" in actions)
            and not s.get("Condition")
        ):
            return True
    return False


def check_trail(regional: Any, s3: Any, *, arn: str, region: str) -> list[Check]:
    """Some trail logs the data events of ``arn`` (the repository's objects) in ``region``
    and is logging; and its log bucket denies deletes. ``regional(region)`` gives the
    CloudTrail client of a region (a multi-region trail is read in its home region).

    Not set up: a warning; set up but stopped or read-only: wrong or a warning.
    """
    trails = regional(region).describe_trails(includeShadowTrails=True).get("trailList", [])
    best: tuple[int, str, dict[str, Any], bool] | None = None
    for t in trails:
        home = t.get("HomeRegion", region)
        if home != region and not t.get("IsMultiRegionTrail"):
            continue
        client = regional(home)
        try:  # an organization's trail may be listed but not readable from this account
            got = client.get_event_selectors(TrailName=t["TrailARN"])
            selectors = got.get("EventSelectors") or []
            kind = coverage(selectors, got.get("AdvancedEventSelectors") or [], arn)
            if kind is None:
                continue
            logging = bool(client.get_trail_status(Name=t["TrailARN"]).get("IsLogging"))
        except botocore.exceptions.ClientError:
            continue
        rank = (kind != "ReadOnly") * 2 + logging
        if best is None or rank > best[0]:
            best = (rank, kind, t, logging)
    if best is None:
        return [
            Check(
                item="cloudtrail data events",
                state=WARNING,
                detail=f"no trail logs the data events of {arn}: deletes and overwrites "
                "leave no record",
                fix=SETUP,
            )
        ]
    _, kind, t, logging = best
    name = t.get("Name", t["TrailARN"])
    if not logging:
        checks = [
            Check(
                item="cloudtrail data events",
                state=WRONG,
                detail=f"trail {name} covers {arn} but is not logging (stopped)",
                fix=f"aws cloudtrail start-logging --name {name}, or {SETUP}",
            )
        ]
    elif kind == "ReadOnly":
        checks = [
            Check(
                item="cloudtrail data events",
                state=WARNING,
                detail=f"trail {name} logs only reads of {arn}, not writes or deletes",
                fix=SETUP,
            )
        ]
    else:
        what = "all" if kind == ALL else "write-only"
        checks = [
            Check(
                item="cloudtrail data events",
                state=OK,
                detail=f"trail {name} logs {what} data events of {arn}",
            )
        ]
    return [*checks, _check_log_bucket(s3, t)]


def _check_log_bucket(s3: Any, trail: dict[str, Any]) -> Check:
    """The trail's log bucket denies deletes to everyone."""
    name = trail.get("Name", trail.get("TrailARN", ""))
    log_bucket = trail.get("S3BucketName", "")
    denied = _denies_deletes(s3, log_bucket) if log_bucket else None
    if denied:
        return Check(item="cloudtrail log bucket", state=OK, detail=f"{log_bucket} denies deletes")
    why = "its policy cannot be read" if denied is None else "nothing denies deleting its logs"
    return Check(
        item="cloudtrail log bucket",
        state=WARNING,
        detail=f"{log_bucket}: {why}",
        fix=f"{SETUP} --trail-name {name} --trail-bucket {log_bucket}",
    )
