"""GuardDuty with S3 protection (``setup-audit --guardduty``, ``doctor --audit``;
docs/security.md "Audit trail").

S3 protection is the detector feature ``S3_DATA_EVENTS`` (the older ``dataSources.s3Logs``
answers the same); both are read. Set up: a detector created, enabled and given the feature,
whichever is missing. The detector is regional: the repository's region."""

from __future__ import annotations

from typing import Any

from s3vault.cloud.auditstep import AuditStep
from s3vault.cloud.check import OK, WARNING, WRONG, Check

FEATURE = "S3_DATA_EVENTS"
SETUP = "s3vault setup-audit --guardduty"
ON = [{"Name": FEATURE, "Status": "ENABLED"}]


def _s3_protection(detector: dict[str, Any]) -> bool:
    features = {f.get("Name"): f.get("Status") for f in detector.get("Features") or []}
    logs = (detector.get("DataSources") or {}).get("S3Logs", {}).get("Status")
    return features.get(FEATURE) == "ENABLED" or (FEATURE not in features and logs == "ENABLED")


def _detector(gd: Any) -> tuple[str | None, dict[str, Any]]:
    ids = gd.list_detectors().get("DetectorIds", [])
    if not ids:
        return None, {}
    return ids[0], gd.get_detector(DetectorId=ids[0])


def plan_guardduty(gd: Any, region: str) -> AuditStep:
    """The region's detector: created, enabled, S3 protection on (what is missing)."""
    detector_id, detector = _detector(gd)
    changes = []
    if detector_id is None:
        changes = ["detector created", "S3 protection on"]
    else:
        if detector.get("Status") != "ENABLED":
            changes.append("detector enabled")
        if not _s3_protection(detector):
            changes.append("S3 protection on")

    def apply() -> None:
        if detector_id is None:
            gd.create_detector(Enable=True, Features=ON)
        else:
            gd.update_detector(DetectorId=detector_id, Enable=True, Features=ON)

    return AuditStep(
        item=f"guardduty in {region}",
        state="detector enabled with S3 protection",
        changes=tuple(changes),
        apply=apply if changes else None,
    )


def check_guardduty(gd: Any, region: str) -> list[Check]:
    """The detector is there, enabled, and protects S3."""
    item = "guardduty s3 protection"
    detector_id, detector = _detector(gd)
    if detector_id is None:
        return [Check(item=item, state=WARNING, detail=f"GuardDuty is off in {region}", fix=SETUP)]
    if detector.get("Status") != "ENABLED":
        detail = f"detector {detector_id} in {region} is suspended"
        return [Check(item=item, state=WRONG, detail=detail, fix=SETUP)]
    if not _s3_protection(detector):
        detail = f"detector {detector_id} in {region} does not watch S3 data events"
        return [Check(item=item, state=WARNING, detail=detail, fix=SETUP)]
    return [Check(item=item, state=OK, detail=f"detector {detector_id} in {region}")]
