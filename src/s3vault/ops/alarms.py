"""setup-alarms: CloudWatch alarms for the failure scenarios of a backup fleet, on the metrics
its runs put with --cloudwatch-namespace (cloud/alarms.py; docs/security.md#alerting).

The per-host alarms cover every host whose backups of the repository reported to the namespace
in the last two weeks, and the hosts named (``hosts``: those that never reported yet, with this
run's config profile, as their runs will put it). The repository's alarms need no host.
Nothing is opened in the repository: no password is needed, only CloudWatch and SNS rights.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from s3vault.backend.location import BackendOptions
from s3vault.errors import UsageError
from s3vault.ops.records import refuse_bare_strings

if TYPE_CHECKING:
    from s3vault.cloud.alarms import AlarmSettings

_TOPIC = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SetupAlarmsOptions:
    """The namespace and repository the metrics carry, the topic to notify, and the limits."""

    namespace: str
    repository: str
    sns_topic: str
    profile: str = ""  # the config profile of the named hosts' runs
    hosts: tuple[str, ...] = ()  # hosts to alarm for even if they never reported
    max_backup_age: float = 26 * 3600.0  # seconds
    max_prune_age: float = 7 * 86400.0
    rto_target: float = 4 * 3600.0
    max_growth_per_day: int | None = None  # bytes
    prefix: str = "s3vault"
    dry_run: bool = False
    backend: BackendOptions = field(default_factory=BackendOptions)  # the AWS session

    def __post_init__(self) -> None:
        refuse_bare_strings(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class AlarmOutcome:
    """One alarm and what was done to it: created, updated or unchanged."""

    name: str
    scenario: str
    state: str
    metric: str
    condition: str  # e.g. "Maximum < 1 in each of 26 periods of 3600 s"
    treat_missing_data: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SetupAlarmsResult:
    """The alarms, in order: per host, then the repository's."""

    alarms: tuple[AlarmOutcome, ...]
    dry_run: bool


def _settings(options: SetupAlarmsOptions) -> AlarmSettings:
    """The settings without hosts (the limits checked before any request).

    Raises:
        UsageError: a limit out of range.
    """
    from s3vault.cloud.alarms import AlarmSettings, check_age  # boto3 only when used

    if options.rto_target <= 0:
        raise UsageError("--rto-target must be longer than 0")
    if options.max_growth_per_day is not None and options.max_growth_per_day <= 0:
        raise UsageError("--max-growth-per-day must be more than 0 bytes")
    return AlarmSettings(
        namespace=options.namespace,
        repository=options.repository,
        sns_topic=options.sns_topic,
        hosts=(),
        max_backup_age=check_age(options.max_backup_age, "--max-backup-age"),
        max_prune_age=check_age(options.max_prune_age, "--max-prune-age"),
        rto_target=round(options.rto_target),
        max_growth_per_day=options.max_growth_per_day,
        prefix=options.prefix,
    )


def _check(options: SetupAlarmsOptions) -> None:
    if not options.namespace:
        msg = "setup-alarms needs the metrics' namespace: --cloudwatch-namespace NS (or -P)"
        raise UsageError(msg)
    if not options.repository:
        raise UsageError("setup-alarms needs the repository (-r, S3VAULT_REPOSITORY or -P)")
    if not _TOPIC.fullmatch(options.sns_topic):
        msg = (
            f"--sns-topic {options.sns_topic!r} is not an SNS topic ARN "
            "(arn:aws:sns:REGION:ACCOUNT:NAME)"
        )
        raise UsageError(msg)
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", options.prefix):
        raise UsageError("--prefix: 1 to 64 letters, digits, '.', '_' or '-'")
    bad = [h for h in options.hosts if not h or len(h) > 255]
    if bad:
        raise UsageError(f"--host {bad[0]!r} is not a host name")


def setup_alarms(options: SetupAlarmsOptions) -> SetupAlarmsResult:
    """Create or update the alarms (or, ``dry_run``, say what would change).

    Raises:
        UsageError: a missing namespace or repository, a malformed topic ARN or prefix, a topic
            that does not exist, an age outside 1 h to 7 days or not whole hours.
        BackendError: CloudWatch or SNS refused or is unreachable (the message names the
            call and the rights setup-alarms needs).
    """
    _check(options)
    settings = _settings(options)
    from s3vault.cloud.alarms import apply_alarms, check_topic, plan_alarms, reporting_hosts
    from s3vault.cloud.cloudwatch import client  # boto3 only when used

    cw = client(options.backend)
    check_topic(client(options.backend, "sns"), options.sns_topic)
    hosts = set(reporting_hosts(cw, options.namespace, options.repository))
    hosts |= {(h, options.profile or "-") for h in options.hosts}
    settings = dataclasses.replace(settings, hosts=tuple(sorted(hosts)))
    done = apply_alarms(cw, plan_alarms(settings), settings, dry_run=options.dry_run)
    return SetupAlarmsResult(
        alarms=tuple(
            AlarmOutcome(
                name=alarm.name,
                scenario=alarm.scenario,
                state=state,
                metric=alarm.metric,
                condition=_condition(
                    alarm.statistic,
                    alarm.comparison,
                    alarm.threshold,
                    alarm.evaluation_periods,
                    alarm.period,
                ),
                treat_missing_data=alarm.treat_missing_data,
            )
            for alarm, state in done
        ),
        dry_run=options.dry_run,
    )


def _condition(statistic: str, comparison: str, threshold: float, periods: int, period: int) -> str:
    sign = {
        "LessThanThreshold": "<",
        "GreaterThanThreshold": ">",
        "GreaterThanOrEqualToThreshold": ">=",
    }.get(comparison, comparison)
    limit = f"{threshold:.0f}" if threshold.is_integer() else f"{threshold:g}"
    span = f"{period // 3600} h" if period % 3600 == 0 else f"{period} s"
    if periods == 1:
        return f"{statistic} {sign} {limit} in {span}"
    return f"{statistic} {sign} {limit} in each of {periods} periods of {span}"
