"""setup-audit and doctor --audit: who did what to the repository's bucket, recorded and
watched outside s3vault — CloudTrail data events for the repository's prefix (cloud/trail.py),
AWS Config rules for the bucket (cloud/configrules.py) and GuardDuty's S3 protection
(cloud/guardduty.py). Not the repository's own audit log (ops/audit.py).

Each part only if asked. Plan first (reading only), then apply in order: a second run finds
everything in place and changes nothing; ``dry_run`` only plans. A part that cannot be set up
(no Config recorder, a trail with advanced selectors) fails before anything is changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from s3vault.backend.location import BackendOptions
from s3vault.cloud.check import Check
from s3vault.errors import UsageError
from s3vault.ops.bucket import s3_repository

MAX_BUCKET_NAME = 63  # S3's limit
TRAIL_EVENTS = {"write-only": "WriteOnly", "all": "All"}


@dataclass(frozen=True, slots=True, kw_only=True)
class SetupAuditOptions:
    """The repository's S3 URL, how to reach AWS, and which parts to set up."""

    url: str
    backend: BackendOptions = field(default_factory=BackendOptions)
    trail: str | None = None  # "write-only" or "all": the trail's data events
    trail_name: str | None = None  # default s3vault-<bucket>
    trail_bucket: str | None = None  # the log bucket; default <bucket>-cloudtrail
    config_rules: bool = False
    guardduty: bool = False
    dry_run: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditItem:
    """One part: what it is once set up and what was (or, dry run, would be) changed."""

    item: str
    state: str
    changes: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SetupAuditResult:
    """Each part asked for, in order."""

    bucket: str
    items: tuple[AuditItem, ...]
    dry_run: bool

    @property
    def changed(self) -> bool:
        """Whether anything was (dry run: would be) changed."""
        return any(i.changes for i in self.items)


def check_on_aws(backend: BackendOptions, command: str) -> None:
    """CloudTrail, Config and GuardDuty exist only on AWS: refuse an S3-compatible store.

    Raises:
        UsageError: the repository's endpoint is not AWS's.
    """
    endpoint = backend.s3_endpoint
    if endpoint and ".amazonaws.com" not in endpoint:
        msg = (
            f"{command} needs a repository on AWS S3: the endpoint {endpoint} is not AWS's "
            "(CloudTrail, Config and GuardDuty exist only there)"
        )
        raise UsageError(msg)


def _log_bucket(bucket: str, given: str | None) -> str:
    if given:
        return given
    name = f"{bucket}-cloudtrail"
    if len(name) > MAX_BUCKET_NAME:
        msg = f"{name!r} is too long for a bucket name: name the log bucket with --trail-bucket"
        raise UsageError(msg)
    return name


def _object_lock(s3: Any, bucket: str) -> bool:
    from s3vault.cloud.trail import get_if_any  # boto3 only when used

    lock = get_if_any(s3.get_object_lock_configuration, Bucket=bucket) or {}
    return bool(lock.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled")


def setup_audit(options: SetupAuditOptions) -> SetupAuditResult:
    """Set up (or, dry run, plan) the parts asked for.

    Raises:
        UsageError: not an S3 repository or not on AWS; nothing asked for; a bad --trail; a
            trail with advanced event selectors.
        BackendError: AWS refused a step, or AWS Config has no recorder (nothing changed).
    """
    bucket, prefix = s3_repository(options.url, "setup-audit")
    check_on_aws(options.backend, "setup-audit")
    if not (options.trail or options.config_rules or options.guardduty):
        raise UsageError("say what to set up: --trail write-only|all, --config-rules, --guardduty")
    if options.trail is not None and options.trail not in TRAIL_EVENTS:
        raise UsageError(f"--trail is write-only or all, not {options.trail!r}")
    from s3vault.cloud import configrules, guardduty, trail  # boto3 only when used
    from s3vault.cloud.bucket import client
    from s3vault.cloud.services import Clients, aws_errors

    aws = Clients(options.backend)
    s3 = client(options.backend)
    region = aws.region
    planned = []
    with aws_errors("setup-audit: reading what is set up"):
        if options.trail:
            name = options.trail_name or f"s3vault-{bucket}"
            # an existing trail keeps its log bucket unless another is named
            given = options.trail_bucket or trail.current_log_bucket(aws.get("cloudtrail"), name)
            plan = trail.TrailPlan(
                bucket=bucket,
                prefix=prefix,
                events=TRAIL_EVENTS[options.trail],
                name=name,
                log_bucket=_log_bucket(bucket, given),
                region=region,
                account=aws.account(),
            )
            planned.append(trail.plan_log_bucket(s3, plan))
            planned.append(trail.plan_trail(aws.get("cloudtrail"), plan))
        if options.config_rules:
            lock = _object_lock(s3, bucket)
            config = aws.get("config")
            planned.append(
                configrules.plan_config_rules(config, bucket, object_lock=lock, region=region)
            )
        if options.guardduty:
            planned.append(guardduty.plan_guardduty(aws.get("guardduty"), region))
    if not options.dry_run:
        for step in planned:
            if step.apply is not None:
                with aws_errors(f"setup-audit: {step.item}"):
                    step.apply()
    items = tuple(AuditItem(item=s.item, state=s.state, changes=s.changes) for s in planned)
    return SetupAuditResult(bucket=bucket, items=items, dry_run=options.dry_run)


def audit_checks(backend: BackendOptions, url: str, *, object_lock: bool) -> list[Check]:
    """doctor --audit: the trail, the Config rules and GuardDuty of an S3 repository, each ok,
    warning or wrong with its fix.

    Raises:
        UsageError: the repository is not on AWS S3.
        BackendError: AWS refused to answer (e.g. no permission to read CloudTrail).
    """
    bucket, prefix = s3_repository(url, "doctor --audit")
    check_on_aws(backend, "doctor --audit")
    from s3vault.cloud import configrules, guardduty, trail, trailcheck  # boto3 only when used
    from s3vault.cloud.bucket import client
    from s3vault.cloud.services import Clients, aws_errors

    aws = Clients(backend)
    region = aws.region

    def regional(where: str) -> Any:
        return aws.get("cloudtrail", where)

    checks: list[Check] = []
    with aws_errors("doctor --audit: CloudTrail"):
        arn = trail.prefix_arn(aws.account().partition, bucket, prefix)
        checks += trailcheck.check_trail(regional, client(backend), arn=arn, region=region)
    with aws_errors("doctor --audit: AWS Config"):
        # two attempts, not five: a compliance AWS cannot give now is reported as unavailable
        # (a warning) instead of holding doctor up for seconds of backoff
        checks += configrules.check_config_rules(
            aws.get("config", attempts=2), bucket, object_lock=object_lock, region=region
        )
    with aws_errors("doctor --audit: GuardDuty"):
        checks += guardduty.check_guardduty(aws.get("guardduty"), region)
    return checks
