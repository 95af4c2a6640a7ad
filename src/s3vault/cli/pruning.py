"""The prune options (prune, and forget --prune) and how a prune's result is shown."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click

from s3vault import LeaseSettings, PruneOptions, PruneResult, UsageError, lease_for
from s3vault.cli.context import CliContext
from s3vault.cli.options import ByteSize, Duration
from s3vault.cli.render import emit, human_bytes, human_duration, plural, say, warn

F = TypeVar("F", bound=Callable[..., Any])


def _percent(text: str) -> float:
    """--max-unused: a percentage (``5%``), ``unlimited`` (100 %) or ``0``. restic also takes
    a size, and reads a bare number as bytes: ``5`` meant 5 % here, without a word; now any
    other bare number or size is refused, naming the percentage to give."""
    spelled = text.strip().lower()
    if spelled == "unlimited":
        return 1.0
    value = -1.0
    if spelled.endswith("%") or spelled in ("0", "0.0"):
        with contextlib.suppress(ValueError):
            value = float(spelled.rstrip("%")) / 100
    if not 0 <= value <= 1:
        msg = (
            f"--max-unused '{text}': give a percentage of the repository such as 5% (or "
            "unlimited); restic's sizes (a number alone is bytes there) are not taken"
        )
        raise UsageError(msg)
    return value


def prune_options(fn: F) -> F:
    """The options of prune (also accepted by forget --prune)."""
    for option in reversed(
        [
            click.option(
                "--max-unused",
                default="5%",
                show_default=True,
                help="Unused space allowed to remain (repacking partly used packs beyond it)",
            ),
            click.option(
                "--max-repack-size", type=ByteSize(), help="Repack at most this much (e.g. 10G)"
            ),
            click.option(
                "--grace",
                type=Duration(),
                help="Delete marked packs only after this long (default and minimum: the "
                "repository's, 24h unless set at init)",
            ),
            click.option(
                "--unsafe-no-backups-running",
                "no_backups_running",
                is_flag=True,
                help="Say that no backup runs on any host: --grace may then be below the "
                "repository's minimum (a full disk: docs/troubleshooting.md)",
            ),
            click.option(
                "--retry-lock",
                type=Duration(),
                default="0s",
                help="Wait this long for another prune's lease",
            ),
            click.option(
                "--lease-ttl",
                type=Duration(),
                default="30m",
                show_default=True,
                help="The lease goes stale when not refreshed for this long",
            ),
        ]
    ):
        fn = option(fn)
    return fn


def prune_settings(
    *,
    max_unused: str,
    max_repack_size: int | None,
    grace: timedelta | None,
    retry_lock: timedelta,
    lease_ttl: timedelta,
    dry_run: bool = False,
    reencrypt: bool = False,
    no_backups_running: bool = False,
) -> tuple[PruneOptions, LeaseSettings]:
    """The prune options and the lease from the command's values.

    Raises:
        UsageError: --max-unused is not a percentage.
    """
    options = PruneOptions(
        max_unused=_percent(max_unused),
        max_repack_bytes=max_repack_size,
        grace=grace.total_seconds() if grace is not None else None,
        dry_run=dry_run,
        reencrypt=reencrypt,
        no_backups_running=no_backups_running,
    )
    if lease_ttl.total_seconds() <= 0:  # stale as soon as taken: exit 11, "held"
        raise UsageError(f"--lease-ttl {lease_ttl.total_seconds():.0f}s: give more than 0s")
    return options, lease_for(lease_ttl.total_seconds(), wait=retry_lock.total_seconds())


def show_prune(ctx: CliContext, r: PruneResult, *, reencrypt: bool) -> None:
    """The outcome of a prune: warnings for unreadable packs, then a summary (one JSON
    object with --json)."""
    for name, reason in r.unreadable_packs:
        warn(ctx, name, f"pack not named by any index and unreadable, left alone: {reason}")
    if ctx.json:
        fields = {k: getattr(r, k) for k in r.__dataclass_fields__ if k != "unreadable_packs"}
        emit(ctx, "summary", **fields, unreadable_packs=len(r.unreadable_packs))
        return
    prefix = "dry run: would " if r.dry_run else ""
    young = (
        f" (and {human_bytes(r.young_unused_bytes)} in {plural(r.young_unused_packs, 'pack')} "
        "no snapshot uses, kept while they are young: a running backup's, perhaps; a later "
        "prune marks them)"
        if r.young_unused_packs
        else ""
    )
    archived = (
        f" (and {human_bytes(r.archived_unused_bytes)} in "
        f"{plural(r.archived_partly_packs, 'partly used pack')} of an archive storage class, "
        "kept whole: a repack cannot read them until they are restored from the archive, "
        "docs/s3.md)"
        if r.archived_partly_packs
        else ""
    )
    say(
        ctx,
        f"{r.snapshots} snapshots; {human_bytes(r.stored_bytes)} in indexed packs, "
        f"{human_bytes(r.unused_bytes)} unused{young}{archived}",
    )
    say(
        ctx,
        f"{prefix}repack {r.packs_repacked} packs, mark {r.packs_marked + r.packs_repacked} "
        f"for deletion after {human_duration(r.grace_seconds)}, unmark {r.packs_unmarked} "
        f"needed again, delete {r.packs_deleted} marked long enough and "
        f"{r.orphans_deleted} left by crashes",
    )
    if not r.dry_run:  # those marked before and those marked now (crash leftovers too)
        marked = r.packs_still_marked + r.packs_marked + r.packs_repacked
        say(
            ctx,
            f"freed {human_bytes(r.bytes_deleted)}; {marked} packs stay marked until their "
            "grace period ends",
        )
    _say_held_back(ctx, r)
    if reencrypt:
        _say_reencrypt(ctx, r, prefix)
    say(ctx, f"lease: {r.protocol}")


def _say_held_back(ctx: CliContext, r: PruneResult) -> None:
    """What the prune left for a later one, and why."""
    if r.locked_deferred:
        until = datetime.fromtimestamp(r.locked_until, UTC).isoformat(timespec="seconds")
        say(
            ctx,
            f"{r.locked_deferred} objects still locked (Object Lock, the earliest until {until}): "
            "deferred to a later prune",
        )
    if r.kept_after_recheck:
        say(ctx, f"{r.kept_after_recheck} packs kept for snapshots written during the prune")
    if r.deletions_held_back:
        say(
            ctx,
            f"nothing deleted: {plural(len(r.deletions_held_back), 'snapshot file')} "
            "cannot be read, so "
            "what they need is unknown; the warnings above say why: a damaged one is settled "
            "by `s3vault forget ID` (or `s3vault repair snapshots`), one this user may not "
            "read by its permissions; then prune deletes",
        )
    if r.views_deleted or r.states_deleted:
        verb = "dry run: would remove" if r.dry_run else "removed"
        say(
            ctx,
            f"{verb} {plural(r.views_deleted, 'dedup view')} of removed index files and "
            f"{plural(r.states_deleted, 'older host state')} of put-only hosts",
        )
    if r.temporaries_deleted or r.young_temporaries:
        verb = "dry run: would remove" if r.dry_run else "removed"
        say(
            ctx,
            f"{verb} {plural(r.temporaries_deleted, 'temporary file')} left by interrupted writes "
            f"({human_bytes(r.temporaries_bytes)}); {r.young_temporaries} younger than "
            f"{human_duration(r.grace_seconds)} "
            "left alone",
        )


def _say_reencrypt(ctx: CliContext, r: PruneResult, prefix: str) -> None:
    say(ctx, f"{prefix}re-encrypt {r.reencrypt_packs} packs of older key epochs")
    if r.dry_run:
        return
    for old, new in r.resealed_snapshots.items():
        say(ctx, f"snapshot {old[:8]} re-encrypted: it is now {new[:8]}")
    if r.resealed_drills:
        say(ctx, f"{r.resealed_drills} drill records re-encrypted")
    if r.retired_epochs:
        epochs = ", ".join(str(e) for e in r.retired_epochs)
        say(
            ctx,
            f"key {'epoch' if len(r.retired_epochs) == 1 else 'epochs'} {epochs} retired: "
            "removed from the config and every key file",
        )
    elif r.epochs_waiting:
        say(ctx, f"older key epochs stay live: {r.epochs_waiting}")
