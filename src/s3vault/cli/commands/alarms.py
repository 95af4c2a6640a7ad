"""s3vault setup-alarms: CloudWatch alarms for the failure scenarios, one line per alarm."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import click

from s3vault import SetupAlarmsOptions
from s3vault import setup_alarms as setup_alarms_op
from s3vault.cli.options import ByteSize, Duration, cli_context, global_options
from s3vault.cli.render import emit, say
from s3vault.cli.session import backend_options


@click.command("setup-alarms")
@global_options
@click.option("--sns-topic", required=True, metavar="ARN", help="SNS topic the alarms notify")
@click.option(
    "--host",
    "hosts",
    multiple=True,
    metavar="NAME",
    help="Alarm for this host too, even if it never reported (repeatable)",
)
@click.option(
    "--max-backup-age",
    type=Duration(),
    default="26h",
    show_default=True,
    help="Alarm when a host has had no successful backup for this long",
)
@click.option(
    "--max-prune-age",
    type=Duration(),
    default="7d",
    show_default=True,
    help="Alarm when the repository has not been pruned for this long",
)
@click.option(
    "--rto-target",
    type=Duration(),
    default="4h",
    show_default=True,
    help="Alarm when a restore drill projects a full restore longer than this",
)
@click.option(
    "--max-growth-per-day",
    type=ByteSize(),
    metavar="SIZE",
    help="Alarm when backups add more than this in a day (the projected growth)",
)
@click.option("--prefix", default="s3vault", show_default=True, help="Alarm names begin so")
@click.option("--dry-run", "-n", is_flag=True, help="Say what would change; change nothing")
def setup_alarms(
    sns_topic: str,
    hosts: tuple[str, ...],
    max_backup_age: timedelta,
    max_prune_age: timedelta,
    rto_target: timedelta,
    max_growth_per_day: int | None,
    prefix: str,
    dry_run: bool,
) -> int:
    """Create or update CloudWatch alarms on the metrics the hosts put with
    --cloudwatch-namespace: failed and missed backups per host (a silent host alarms), and
    for the repository a failed or slow restore drill, damage found by verify, prune overdue
    and growth beyond the projection. Idempotent; reads no repository (no password).

    \b
    Examples:
      s3vault -P web setup-alarms --sns-topic arn:aws:sns:us-east-1:123456789012:ops
      s3vault -P web setup-alarms --sns-topic arn:aws:sns:us-east-1:123456789012:ops -n
      s3vault -P web setup-alarms --sns-topic ARN --host web2 --max-growth-per-day 5G
    """
    ctx = cli_context()
    options = SetupAlarmsOptions(
        namespace=ctx.cloudwatch_namespace or "",
        repository=ctx.repository,
        sns_topic=sns_topic,
        profile=ctx.profile.name if ctx.profile is not None else "",
        hosts=hosts,
        max_backup_age=max_backup_age.total_seconds(),
        max_prune_age=max_prune_age.total_seconds(),
        rto_target=rto_target.total_seconds(),
        max_growth_per_day=max_growth_per_day,
        prefix=prefix,
        dry_run=dry_run,
        backend=backend_options(ctx),
    )
    result = setup_alarms_op(options)
    if ctx.json:
        for alarm in result.alarms:
            emit(
                ctx,
                "alarm",
                name=alarm.name,
                scenario=alarm.scenario,
                state=alarm.state,
                metric=alarm.metric,
                condition=alarm.condition,
                treat_missing_data=alarm.treat_missing_data,
                dry_run=result.dry_run,
            )
        return 0
    states = [_state(a.state, dry_run=result.dry_run) for a in result.alarms]
    width = max(map(len, states), default=0)
    for alarm, state in zip(result.alarms, states, strict=True):
        say(
            ctx,
            f"{state:<{width}}  {alarm.name}: {alarm.metric} {alarm.condition}, "
            f"missing data {alarm.treat_missing_data}",
        )
    counts = Counter(states)
    say(
        ctx,
        f"{len(states)} alarms notifying {sns_topic}: "
        + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())),
    )
    return 0


def _state(state: str, *, dry_run: bool) -> str:
    return f"would be {state}" if dry_run and state != "unchanged" else state
