"""s3vault forget."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import click

from s3vault import ForgetOptions, ForgetResult, Policy
from s3vault import forget as forget_op
from s3vault.cli.commands.prune import prune_options, run_prune
from s3vault.cli.context import CliContext
from s3vault.cli.options import (
    KeepCount,
    KeepWithin,
    TagListType,
    cli_context,
    global_options,
    tag_filter,
)
from s3vault.cli.render import emit, say
from s3vault.cli.session import open_repo
from s3vault.errors import UsageError
from s3vault.maintenance.retention import KeepDuration
from s3vault.tags import TagList, tag_lists

F = TypeVar("F", bound=Callable[..., Any])


COUNTS = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
DURATIONS = ("within", *(f"within_{c}" for c in COUNTS[1:]))
KEEP_NAMES = (*(f"keep_{c}" for c in COUNTS), *(f"keep_{d}" for d in DURATIONS), "keep_tags")
SHORT = {"last": "-l", "hourly": "-H", "daily": "-d", "weekly": "-w", "monthly": "-m"}
SHORT["yearly"] = "-y"  # restic's short forms
UNIT = {"hourly": "hour", "daily": "day", "weekly": "week", "monthly": "month", "yearly": "year"}


def keep_policy(values: Mapping[str, Any], *, source: str = "") -> Policy:
    """A Policy from the --keep-* values, or from a profile's [retention] table (``source``
    names it for messages; same keys, durations as text in restic's spelling such as "6m",
    keep_tags as restic's tag lists such as "a,b").

    Raises:
        UsageError: a duration or count restic would reject or read otherwise.
    """
    rules: dict[str, Any] = {}
    for c in COUNTS:
        count = values.get(f"keep_{c}") or 0
        if not isinstance(count, int) or isinstance(count, bool):
            raise UsageError(f"{source} keep_{c}: a whole number, not {count!r}")
        rules[c] = count
    for name in DURATIONS:
        value = values.get(f"keep_{name}")
        if value is not None and not isinstance(value, KeepDuration):
            where = f"{source} keep_{name}" if source else "--keep-" + name.replace("_", "-")
            if not isinstance(value, str):
                raise UsageError(f'{where}: a duration in quotes, such as "7d" or "6m"')
            value = KeepDuration.parse(value, option=where)
        rules[name] = value
    tags = values.get("keep_tags") or ()
    rules["tags"] = tag_lists([tags] if isinstance(tags, str) else tags)
    policy = Policy(**rules)
    policy.check()
    return policy


def keep_options(fn: F) -> F:
    """The retention rules (forget; init stores them as the repository's policy), handed to
    the command as one ``policy: Policy``. Counts, durations and tag lists mean what they mean
    in restic 0.14 (``--keep-within 6m`` is six months, ``--keep-tag a,b`` both tags)."""

    @functools.wraps(fn)
    def with_policy(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in KEEP_NAMES}
        return fn(*args, policy=keep_policy(values), **kwargs)

    command = cast("F", with_policy)
    counts = [
        click.option(
            SHORT[c],
            f"--keep-{c}",
            type=KeepCount(),
            default=0,
            metavar="N",
            help="Keep the N newest snapshots"
            if c == "last"
            else f"Keep the newest snapshot of each of the last N {UNIT[c]}s that have one",
        )
        for c in COUNTS
    ]
    durations = [
        click.option(
            "--keep-" + d.replace("_", "-"),
            type=KeepWithin(),
            metavar="DURATION",
            help=(
                "Keep every snapshot newer than DURATION before the latest snapshot of its "
                "group: restic's y, m (months), d, h, such as 7d, 6m or 1y2m3d4h"
            )
            if d == "within"
            else f"Keep the newest snapshot of each {UNIT[d.removeprefix('within_')]} within "
            "DURATION before the latest snapshot",
        )
        for d in DURATIONS
    ]
    tags = click.option(
        "--keep-tag",
        "keep_tags",
        multiple=True,
        type=TagListType(),
        metavar="TAG[,TAG...]",
        help="Keep snapshots with all of these tags; repeat for any of several lists",
    )
    for option in reversed([*counts, *durations, tags]):
        command = option(command)
    return command


@click.command()
@global_options
@click.argument("snapshot_ids", nargs=-1, metavar="[SNAPSHOT_ID]...")
@keep_options
@click.option(
    "-g",
    "--group-by",
    default="host,paths",
    show_default=True,
    help="Apply the policy per group: any of host, paths, tags (comma-separated; '' for one "
    "group of all)",
)
@click.option("--host", "hosts", multiple=True, help="Only snapshots of this host")
@tag_filter
@click.option("--path", "paths", multiple=True, help="Only snapshots that include this path")
@click.option(
    "-n", "--dry-run", is_flag=True, help="Show what would be removed, and why; remove nothing"
)
@click.option(
    "--unsafe-allow-remove-all",
    is_flag=True,
    help="Allow a policy that removes every snapshot of a group",
)
@click.option("--prune", "then_prune", is_flag=True, help="Run prune afterwards")
@prune_options
def forget(
    snapshot_ids: tuple[str, ...],
    policy: Policy,
    group_by: str,
    hosts: tuple[str, ...],
    tags: tuple[TagList, ...],
    paths: tuple[str, ...],
    dry_run: bool,
    unsafe_allow_remove_all: bool,
    then_prune: bool,
    **prune_args: object,
) -> int:
    """Remove snapshots according to a retention policy, or the snapshots named by id.

    Every snapshot is kept or removed as a whole; the data only they used is freed by a later
    prune (--prune runs one at once). SNAPSHOT_ID (a full id or a unique prefix, as restic
    takes them) removes that snapshot even when its file is damaged; ids and --keep-* rules
    do not mix.
    """
    ctx = cli_context()
    profile = ctx.profile
    rules = profile.table("retention") if profile is not None else {}
    if profile is not None and rules and policy.empty and not snapshot_ids:
        policy = keep_policy(rules, source=f"profile {profile.name} [retention]")
        group_by = str(rules.get("group_by", group_by))
    if snapshot_ids and not policy.empty:
        msg = "forget: give snapshot ids or --keep-* rules, not both"
        raise UsageError(msg)
    repo = open_repo(ctx, load_index=False)
    note = None if dry_run else ctx.audited("forget")
    options = ForgetOptions(
        policy=policy,
        group_by=tuple(g.strip() for g in group_by.split(",") if g.strip()),
        hosts=hosts,
        tags=tags,
        paths=paths,
        snapshot_ids=snapshot_ids,
        dry_run=dry_run,
        allow_remove_all=unsafe_allow_remove_all,
    )
    r = forget_op(repo, options)
    if note is not None:
        note.details["removed"] = [str(d.id) for d in r.decisions if not d.keep]
    _render(ctx, r)
    ctx.measured("forget", snapshots_removed=r.removed)
    if note is not None:
        note.details["deferred"] = [sid for sid, _ in r.deferred]
    if then_prune and not dry_run:
        return run_prune(ctx, repo, **prune_args)  # type: ignore[arg-type]
    return 0


def _render(ctx: CliContext, r: ForgetResult) -> None:
    if ctx.json:
        for d in r.decisions:
            snap = d.snapshot
            emit(
                ctx,
                "decision",
                snapshot_id=d.id,
                time=snap.time if snap else None,
                hostname=snap.hostname if snap else None,
                paths=snap.paths if snap else None,
                tags=snap.tags if snap else None,
                group=d.group,
                keep=d.keep,
                reasons=d.reasons,
                **({"problem": d.problem} if d.problem else {}),
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
            when = f"{d.snapshot.time:%Y-%m-%d %H:%M:%S}" if d.snapshot else "(unreadable)"
            why = f"  ({'; '.join(d.reasons)})" if d.reasons else ""
            why += f"  ({d.problem})" if d.problem else ""
            say(ctx, f"  {verdict} {d.id.short} {when}{why}")
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
