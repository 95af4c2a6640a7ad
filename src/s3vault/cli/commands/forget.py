"""s3vault forget."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import click

from s3vault import ForgetOptions, Policy
from s3vault import forget as forget_op
from s3vault.cli.commands.prune import prune_options, run_prune
from s3vault.cli.options import Duration, cli_context, global_options
from s3vault.cli.render import emit, say
from s3vault.cli.session import open_repo

F = TypeVar("F", bound=Callable[..., Any])


KEEP_NAMES = (
    "keep_last",
    "keep_hourly",
    "keep_daily",
    "keep_weekly",
    "keep_monthly",
    "keep_yearly",
    "keep_within",
    "keep_tags",
)


def keep_policy(values: Mapping[str, Any]) -> Policy:
    """A Policy from the --keep-* values, or from a profile's [retention] table (same keys;
    there keep_within is text such as "7d")."""
    within = values.get("keep_within")
    if isinstance(within, str):
        within = Duration().convert(within, None, None)
    return Policy(
        last=int(values.get("keep_last") or 0),
        hourly=int(values.get("keep_hourly") or 0),
        daily=int(values.get("keep_daily") or 0),
        weekly=int(values.get("keep_weekly") or 0),
        monthly=int(values.get("keep_monthly") or 0),
        yearly=int(values.get("keep_yearly") or 0),
        within=within,
        tags=tuple(values.get("keep_tags") or ()),
    )


def keep_options(fn: F) -> F:
    """The retention rules (forget; init stores them as the repository's policy), handed to
    the command as one ``policy: Policy``."""

    @functools.wraps(fn)
    def with_policy(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in KEEP_NAMES}
        return fn(*args, policy=keep_policy(values), **kwargs)

    command = cast("F", with_policy)
    for option in reversed(
        [
            click.option(
                "--keep-last", type=click.IntRange(0), default=0, help="Keep the N newest"
            ),
            click.option(
                "--keep-hourly",
                type=click.IntRange(0),
                default=0,
                help="Keep one per hour, N hours",
            ),
            click.option(
                "--keep-daily", type=click.IntRange(0), default=0, help="Keep one per day, N days"
            ),
            click.option(
                "--keep-weekly",
                type=click.IntRange(0),
                default=0,
                help="Keep one per week, N weeks",
            ),
            click.option(
                "--keep-monthly",
                type=click.IntRange(0),
                default=0,
                help="Keep one per month, N months",
            ),
            click.option(
                "--keep-yearly",
                type=click.IntRange(0),
                default=0,
                help="Keep one per year, N years",
            ),
            click.option(
                "--keep-within", type=Duration(), help="Keep every snapshot younger than this"
            ),
            click.option(
                "--keep-tag", "keep_tags", multiple=True, help="Keep snapshots with this tag"
            ),
        ]
    ):
        command = option(command)
    return command


@click.command()
@global_options
@keep_options
@click.option(
    "--group-by",
    default="host,paths",
    show_default=True,
    help="Apply the policy per group: any of host, paths, tags (comma-separated)",
)
@click.option("--host", "hosts", multiple=True, help="Only snapshots of this host")
@click.option("--tag", "tags", multiple=True, help="Only snapshots with this tag")
@click.option("--path", "paths", multiple=True, help="Only snapshots that include this path")
@click.option("--dry-run", is_flag=True, help="Show what would be removed, and why; remove nothing")
@click.option(
    "--unsafe-allow-remove-all",
    is_flag=True,
    help="Allow a policy that removes every snapshot of a group",
)
@click.option("--prune", "then_prune", is_flag=True, help="Run prune afterwards")
@prune_options
def forget(
    policy: Policy,
    group_by: str,
    hosts: tuple[str, ...],
    tags: tuple[str, ...],
    paths: tuple[str, ...],
    dry_run: bool,
    unsafe_allow_remove_all: bool,
    then_prune: bool,
    **prune_args: object,
) -> int:
    """Remove snapshots according to a retention policy.

    Every snapshot is kept or removed as a whole; the data only they used is freed by a later
    prune (--prune runs one at once).
    """
    ctx = cli_context()
    profile_rules = ctx.profile.table("retention") if ctx.profile is not None else {}
    if policy.empty and profile_rules:
        policy = keep_policy(profile_rules)
        group_by = str(profile_rules.get("group_by", group_by))
    repo = open_repo(ctx, load_index=False)
    note = None if dry_run else ctx.audited("forget")
    options = ForgetOptions(
        policy=policy,
        group_by=tuple(g.strip() for g in group_by.split(",") if g.strip()),
        hosts=hosts,
        tags=tags,
        paths=paths,
        dry_run=dry_run,
        allow_remove_all=unsafe_allow_remove_all,
    )
    r = forget_op(repo, options)
    if note is not None:
        note.details["removed"] = [str(d.id) for d in r.decisions if not d.keep]
    if ctx.json:
        for d in r.decisions:
            emit(
                ctx,
                "decision",
                snapshot_id=d.id,
                time=d.snapshot.time,
                hostname=d.snapshot.hostname,
                paths=d.snapshot.paths,
                tags=d.snapshot.tags,
                group=d.group,
                keep=d.keep,
                reasons=d.reasons,
            )
        emit(
            ctx,
            "summary",
            removed=r.removed,
            dry_run=r.dry_run,
            requests=r.requests,
            deferred=[{"snapshot_id": sid, "locked_until": until} for sid, until in r.deferred],
            locks_extended=r.locks_extended,
        )
    else:
        group = None
        for d in r.decisions:
            if d.group != group:
                group = d.group
                say(ctx, f"group {group}:")
            verdict = "keep  " if d.keep else "remove"
            why = f"  ({'; '.join(d.reasons)})" if d.reasons else ""
            say(ctx, f"  {verdict} {d.id.short} {d.snapshot.time:%Y-%m-%d %H:%M:%S}{why}")
        removing = sum(not d.keep for d in r.decisions)
        if r.dry_run:
            say(ctx, f"dry run: would remove {removing} snapshot(s); nothing was changed")
        else:
            say(ctx, f"removed {r.removed} snapshot(s)")
        for sid, until in r.deferred:
            when = datetime.fromtimestamp(until, UTC).isoformat(timespec="seconds")
            say(
                ctx,
                f"deferred {sid[:8]}: locked (Object Lock) until {when}; a later forget removes it",
            )
    ctx.measured("forget", snapshots_removed=r.removed)
    if note is not None:
        note.details["deferred"] = [sid for sid, _ in r.deferred]
    if then_prune and not dry_run:
        return run_prune(ctx, repo, **prune_args)  # type: ignore[arg-type]
    return 0
