"""s3vault forget."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime

import click

from s3vault import ForgetOptions, ForgetResult, Policy, TagList, split_group_by
from s3vault import forget as forget_op
from s3vault.cli.context import CliContext
from s3vault.cli.options import cli_context, global_options, tag_filter
from s3vault.cli.progress import CliProgress
from s3vault.cli.pruning import prune_options, prune_settings, show_prune
from s3vault.cli.render import emit, plural, say
from s3vault.cli.retention import keep_options
from s3vault.cli.session import open_repo


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
    help="Allow a policy that removes every snapshot of a group; with no rule (and no "
    "stored policy), remove every snapshot that --host, --tag or --path selects (one of them "
    "is required)",
)
@click.option("--prune", "then_prune", is_flag=True, help="Run prune afterwards")
@click.option(
    "-c",
    "--compact",
    is_flag=True,
    help="restic's compact listing: taken (the listing is one line per snapshot already)",
)
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
    compact: bool,
    **prune_args: object,
) -> int:
    """Remove snapshots according to a retention policy, or the snapshots named by id.

    Every snapshot is kept or removed as a whole; the data only they used is freed by a later
    prune (--prune runs one at once). SNAPSHOT_ID (a full id or a unique prefix, as restic
    takes them) removes that snapshot even when its file is damaged; ids and --keep-* rules
    do not mix.
    """
    ctx = cli_context()
    options = ForgetOptions(
        policy=policy,
        group_by=split_group_by(group_by),
        hosts=hosts,
        tags=tags,
        paths=paths,
        snapshot_ids=snapshot_ids,
        dry_run=dry_run,
        allow_remove_all=unsafe_allow_remove_all,
    ).with_profile(ctx.profile)
    options.check()
    repo = open_repo(ctx, load_index=False)
    prune, lease = (None, None)
    if then_prune:  # checked with --dry-run too: the real run must not be the first to say
        prune, lease = prune_settings(**prune_args)  # type: ignore[arg-type]
    progress = CliProgress(ctx)
    shown: list[ForgetResult] = []
    with ExitStack() as stack:

        def show(r: ForgetResult) -> None:
            _render(ctx, r)
            shown.append(r)
            stack.enter_context(progress)  # the prune's progress, once forget is shown

        r = forget_op(repo, options, prune=prune, lease=lease, progress=progress, on_forgotten=show)
    if not shown:
        _render(ctx, r)
    if r.prune is not None:
        show_prune(ctx, r.prune, reencrypt=False)
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
            # what a dry run would remove (the text's "would remove N"): removed stays 0 there
            would_remove=sum(not d.keep for d in r.decisions) if r.dry_run else r.removed,
            kept=sum(d.keep for d in r.decisions),
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
            say(ctx, f"dry run: would remove {plural(removing, 'snapshot')}; nothing was changed")
        else:
            say(ctx, f"removed {plural(r.removed, 'snapshot')}")
        for sid, until in r.deferred:
            when = datetime.fromtimestamp(until, UTC).isoformat(timespec="seconds")
            say(
                ctx,
                f"deferred {sid[:8]}: locked (Object Lock) until {when}; a later forget removes it",
            )
