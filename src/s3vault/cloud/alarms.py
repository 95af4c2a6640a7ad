"""CloudWatch alarms on s3vault's custom metrics (``setup-alarms``; docs/security.md#alerting):
the failure scenarios of a backup fleet, each one alarm, each notifying an SNS topic.

Per host (the dimensions its runs put: Command, Host, Profile, Repository):
- ``backup-failed``: a backup's ``success`` was 0 (an exit code other than 0 and 3). Missing
  data keeps the state, so the alarm holds until a backup of that host succeeds.
- ``backup-partial``: a backup's ``partial`` was 1 (exit code 3: saved, but some paths or
  files left out); held until a whole backup of that host.
- ``backup-missed``: no ``success`` of 1 in any hour of the allowed age (26 h by default).
  Missing data is breaching: a host that went silent (powered off, timer disabled, metrics
  not sent) alarms, as does one that never reported.

Per repository (the figures put with the Repository dimension alone, cloud/cloudwatch.py, so
whichever host drills, verifies or prunes):
- ``restore-test-failed``: a drill's ``restore_test_passed`` was 0 (held until one passes);
- ``restore-test-slow``: a drill projected a full restore longer than the RTO target;
- ``verify-damage``: verify found problems (``verify_problems`` above 0);
- ``verify-coverage-behind``: ``verify --coverage`` reported part of the repository unproven
  within its period (``verify_proven_ratio`` below 1) on two days running;
- ``prune-overdue``: no ``last_prune_timestamp_seconds`` datum in any hour of the allowed age
  (7 days by default; missing data is breaching);
- ``repository-growth`` (only with a projection): the backups added more bytes in a day
  (``bytes_added``, summed over the repository's hosts) than the projected growth per day.

CloudWatch limits an alarm to 7 days of evaluation (period × evaluation periods), so the ages
are whole hours from 1 h to 7 days. Alarm names are ``PREFIX-SCENARIO`` and the host, profile
and repository: PutMetricAlarm replaces an alarm of the same name, so setting them up again is
idempotent (an alarm whose definition is already the wanted one is left untouched).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from s3vault.errors import BackendError, UsageError

HOUR = 3600
DAY = 24 * HOUR
MAX_EVALUATION = 7 * 86400  # CloudWatch: period × evaluation periods
MAX_NAME = 255
IAM_ACTIONS = (
    "cloudwatch:PutMetricAlarm, cloudwatch:DescribeAlarms, cloudwatch:ListMetrics "
    "and sns:GetTopicAttributes"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmSettings:
    """What to alarm on: the metrics' namespace and repository, the hosts, the limits."""

    namespace: str
    repository: str  # the Repository dimension: the URL as the hosts give it
    sns_topic: str  # notified on ALARM and on OK
    hosts: tuple[tuple[str, str], ...]  # (Host, Profile) of the per-host alarms
    max_backup_age: int  # seconds; a whole number of hours, at most 7 days
    max_prune_age: int  # the same
    rto_target: int  # seconds
    max_growth_per_day: int | None = None  # bytes; None: no growth alarm
    prefix: str = "s3vault"


@dataclass(frozen=True, slots=True, kw_only=True)
class Alarm:
    """One CloudWatch metric alarm, as PutMetricAlarm takes it."""

    name: str
    scenario: str
    description: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]  # sorted (Name, Value)
    statistic: str
    period: int
    evaluation_periods: int
    threshold: float
    comparison: str
    treat_missing_data: str

    def request(self, namespace: str, topic: str) -> dict[str, Any]:
        """The PutMetricAlarm arguments (also what DescribeAlarms gives back)."""
        return {
            "AlarmName": self.name,
            "AlarmDescription": self.description,
            "ActionsEnabled": True,
            "AlarmActions": [topic],
            "OKActions": [topic],
            "Namespace": namespace,
            "MetricName": self.metric,
            "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions],
            "Statistic": self.statistic,
            "Period": self.period,
            "EvaluationPeriods": self.evaluation_periods,
            "DatapointsToAlarm": self.evaluation_periods,
            "Threshold": self.threshold,
            "ComparisonOperator": self.comparison,
            "TreatMissingData": self.treat_missing_data,
        }


def check_age(seconds: float, what: str) -> int:
    """An allowed age as whole seconds.

    Raises:
        UsageError: not a whole number of hours from 1 hour to 7 days.
    """
    if seconds % HOUR or not HOUR <= seconds <= MAX_EVALUATION:
        msg = (
            f"{what} must be a whole number of hours from 1h to 7d "
            "(CloudWatch evaluates an alarm over at most 7 days)"
        )
        raise UsageError(msg)
    return int(seconds)


def _name(settings: AlarmSettings, scenario: str, *parts: str) -> str:
    """``PREFIX-SCENARIO part...``; a name over CloudWatch's 255 characters is cut and ends
    with a hash of the whole, so it stays unique."""
    name = " ".join((f"{settings.prefix}-{scenario}", *parts))
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{name[: MAX_NAME - 18]}~ {digest}"


def _host_alarms(settings: AlarmSettings, host: str, profile: str) -> list[Alarm]:
    dims = tuple(
        sorted(
            {
                "Command": "backup",
                "Host": host,
                "Profile": profile or "-",
                "Repository": settings.repository,
            }.items()
        )
    )
    where = (f"host={host}", f"profile={profile or '-'}", f"repository={settings.repository}")
    hours = settings.max_backup_age // HOUR

    def alarm(scenario: str, description: str, **fields: Any) -> Alarm:
        defaults: dict[str, Any] = {
            "period": HOUR,
            "evaluation_periods": 1,
            "threshold": 1.0,
            "treat_missing_data": "ignore",
        }
        return Alarm(
            name=_name(settings, scenario, *where),
            scenario=scenario,
            description=f"s3vault: {description}",
            dimensions=dims,
            **{**defaults, **fields},
        )

    return [
        alarm(
            "backup-failed",
            f"the last backup of {host} to {settings.repository} failed (exit code other "
            "than 0 and 3); see its log and `s3vault audit`",
            metric="success",
            statistic="Minimum",
            comparison="LessThanThreshold",
        ),
        alarm(
            "backup-partial",
            f"the last backup of {host} to {settings.repository} saved a snapshot without "
            "some of its paths or files (exit code 3: unreadable, missing, or a source not "
            "mounted); the warnings in its log name them",
            metric="partial",
            statistic="Maximum",
            comparison="GreaterThanOrEqualToThreshold",
        ),
        alarm(
            "backup-missed",
            f"no successful backup of {host} to {settings.repository} for {hours} h (a "
            "silent host alarms too)",
            metric="success",
            statistic="Maximum",
            evaluation_periods=hours,
            comparison="LessThanThreshold",
            treat_missing_data="breaching",
        ),
    ]


def _repository_alarm(
    settings: AlarmSettings, scenario: str, description: str, **fields: Any
) -> Alarm:
    defaults: dict[str, Any] = {
        "period": HOUR,
        "evaluation_periods": 1,
        "treat_missing_data": "ignore",
    }
    return Alarm(
        name=_name(settings, scenario, f"repository={settings.repository}"),
        scenario=scenario,
        description=f"s3vault: {description} ({settings.repository})",
        dimensions=(("Repository", settings.repository),),
        **{**defaults, **fields},
    )


def plan_alarms(settings: AlarmSettings) -> list[Alarm]:
    """Every alarm of the settings: the per-host ones for each host, then the repository's."""
    alarms = [a for host, profile in settings.hosts for a in _host_alarms(settings, host, profile)]
    prune_hours = settings.max_prune_age // HOUR
    alarms += [
        _repository_alarm(
            settings,
            "restore-test-failed",
            "the last restore drill failed; see `s3vault restore-test --history`",
            metric="restore_test_passed",
            statistic="Minimum",
            threshold=1.0,
            comparison="LessThanThreshold",
        ),
        _repository_alarm(
            settings,
            "restore-test-slow",
            f"a restore drill projected a full restore longer than {settings.rto_target} s",
            metric="restore_test_projected_rto_seconds",
            statistic="Maximum",
            threshold=float(settings.rto_target),
            comparison="GreaterThanThreshold",
        ),
        _repository_alarm(
            settings,
            "verify-damage",
            "verify found damage; run `s3vault verify` and see docs/verify.md",
            metric="verify_problems",
            statistic="Maximum",
            threshold=0.0,
            comparison="GreaterThanThreshold",
        ),
        _repository_alarm(
            settings,
            "verify-coverage-behind",
            "verify --coverage left part of the repository unproven within its period two days "
            "running; it says what budget catches up (docs/verify.md)",
            metric="verify_proven_ratio",
            statistic="Maximum",
            period=DAY,
            evaluation_periods=2,
            threshold=1.0,
            comparison="LessThanThreshold",
        ),
        _repository_alarm(
            settings,
            "prune-overdue",
            f"no prune completed for {prune_hours} h",
            metric="last_prune_timestamp_seconds",
            statistic="SampleCount",
            evaluation_periods=prune_hours,
            threshold=1.0,
            comparison="LessThanThreshold",
            treat_missing_data="breaching",
        ),
    ]
    if settings.max_growth_per_day is not None:
        alarms.append(
            _repository_alarm(
                settings,
                "repository-growth",
                f"backups added more than {settings.max_growth_per_day} bytes in a day "
                "(the projection); see `s3vault stats --history`",
                metric="bytes_added",
                statistic="Sum",
                period=86400,
                threshold=float(settings.max_growth_per_day),
                comparison="GreaterThanThreshold",
                treat_missing_data="notBreaching",
            )
        )
    return alarms


def _failed(call: str, exc: Exception) -> BackendError:
    return BackendError(f"{call}: {exc} (setup-alarms needs {IAM_ACTIONS})")


def reporting_hosts(cw: Any, namespace: str, repository: str) -> list[tuple[str, str]]:
    """The (Host, Profile) pairs whose backups of ``repository`` put metrics in the namespace
    (ListMetrics: those with data in the last two weeks).

    Raises:
        BackendError: CloudWatch refused or is unreachable.
    """
    found: set[tuple[str, str]] = set()
    wanted = [{"Name": "Command", "Value": "backup"}, {"Name": "Repository", "Value": repository}]
    try:
        pages = cw.get_paginator("list_metrics").paginate(
            Namespace=namespace, MetricName="success", Dimensions=wanted
        )
        for page in pages:
            for metric in page["Metrics"]:
                dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
                if "Host" in dims:
                    found.add((dims["Host"], dims.get("Profile", "-")))
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise _failed("CloudWatch ListMetrics", exc) from None
    return sorted(found)


def check_topic(sns: Any, topic: str) -> None:
    """That the SNS topic exists (an alarm notifying a missing topic tells no one) in the
    alarms' region (CloudWatch notifies topics of its own region only).

    Raises:
        UsageError: no such topic, or one in another region.
        BackendError: SNS refused or is unreachable.
    """
    region = topic.split(":")[3]
    if region != sns.meta.region_name:
        msg = (
            f"SNS topic {topic} is in {region} but the alarms go to {sns.meta.region_name}: "
            f"give --s3-region {region}, or a topic in {sns.meta.region_name}"
        )
        raise UsageError(msg)
    try:
        sns.get_topic_attributes(TopicArn=topic)
    except botocore.exceptions.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("NotFound", "NotFoundException"):
            msg = f"SNS topic {topic} does not exist: create it (aws sns create-topic) first"
            raise UsageError(msg) from None
        raise _failed("SNS GetTopicAttributes", exc) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise _failed("SNS GetTopicAttributes", exc) from None


_COMPARED = (
    "AlarmDescription",
    "AlarmActions",
    "OKActions",
    "Namespace",
    "MetricName",
    "Dimensions",
    "Statistic",
    "Period",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
)


def _same(existing: dict[str, Any], wanted: dict[str, Any]) -> bool:
    def norm(alarm: dict[str, Any]) -> dict[str, Any]:
        out = {k: alarm.get(k) for k in _COMPARED}
        out["Dimensions"] = sorted((d["Name"], d["Value"]) for d in alarm.get("Dimensions", []))
        out["Threshold"] = float(alarm.get("Threshold", 0))
        return out

    return norm(existing) == norm(wanted)


def _existing(cw: Any, names: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(names), 100):  # DescribeAlarms takes up to 100 names
        pages = cw.get_paginator("describe_alarms").paginate(
            AlarmNames=names[start : start + 100], AlarmTypes=["MetricAlarm"]
        )
        for page in pages:
            found.update({a["AlarmName"]: a for a in page["MetricAlarms"]})
    return found


def apply_alarms(
    cw: Any, alarms: Iterable[Alarm], settings: AlarmSettings, *, dry_run: bool = False
) -> list[tuple[Alarm, str]]:
    """Create or update each alarm unless it is already as wanted. Returns each alarm with
    ``created``, ``updated`` or ``unchanged`` (with ``dry_run``: what would be done, nothing
    written).

    Raises:
        BackendError: CloudWatch refused or is unreachable (the alarms before it are set).
    """
    alarms = list(alarms)
    try:
        existing = _existing(cw, [a.name for a in alarms])
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise _failed("CloudWatch DescribeAlarms", exc) from None
    outcome: list[tuple[Alarm, str]] = []
    for alarm in alarms:
        wanted = alarm.request(settings.namespace, settings.sns_topic)
        before = existing.get(alarm.name)
        if before is not None and _same(before, wanted):
            outcome.append((alarm, "unchanged"))
            continue
        if not dry_run:
            try:
                cw.put_metric_alarm(**wanted)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                raise _failed(f"CloudWatch PutMetricAlarm {alarm.name}", exc) from None
        outcome.append((alarm, "created" if before is None else "updated"))
    return outcome
