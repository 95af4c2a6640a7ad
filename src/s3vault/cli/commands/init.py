"""s3vault init."""

from __future__ import annotations

from datetime import timedelta

import click

from s3vault import (
    InitOptions,
    InitResult,
    Policy,
    RepositorySettings,
    UsageError,
    object_lock_policy,
)
from s3vault import init as init_op
from s3vault.cli import recoverykey
from s3vault.cli.context import CliContext
from s3vault.cli.options import Duration, cli_context, global_options, kdf_cost_option
from s3vault.cli.render import emit, human_duration, say, show_recovery_key
from s3vault.cli.retention import keep_options
from s3vault.cli.session import repo_options


@click.command()
@global_options
@kdf_cost_option(
    "Argon2id memory: default 32 MiB, strong 256 MiB, small (= default), minimum 19 MiB"
)
@click.option(
    "--pack-size",
    type=click.IntRange(1, 512),
    default=16,
    show_default=True,
    metavar="MiB",
    help="Target pack size",
)
@click.option(
    "--compression",
    type=click.IntRange(0, 19),
    default=3,
    show_default=True,
    help="zstd level for new data (0: store uncompressed)",
)
@click.option(
    "--min-grace",
    type=Duration(),
    default="24h",
    show_default=True,
    help="Minimum time prune keeps a marked pack before deleting it; backups that run "
    "longer than half of it revalidate their data before committing",
)
@click.option(
    "--object-lock",
    type=click.Choice(["governance", "compliance"], case_sensitive=False),
    help="Lock every object with S3 Object Lock in this mode, for as long as the retention "
    "policy (--keep-*) needs it (docs/immutability.md)",
)
@click.option(
    "--lock-period",
    type=Duration(bare_minutes=False),
    help="With --object-lock: lock new objects this long instead of deriving it from --keep-*",
)
@keep_options
@click.option(
    "--recovery-key/--no-recovery-key",
    default=True,
    show_default=True,
    help="Also create a recovery key: it opens the repository when every password is lost "
    "(shown once)",
)
def init(
    kdf_cost: str,
    pack_size: int,
    compression: int,
    min_grace: timedelta,
    object_lock: str | None,
    lock_period: timedelta | None,
    recovery_key: bool,
    policy: Policy,
) -> int:
    """Create a new repository. --keep-* options store the repository's retention policy
    (forget uses it when given none); with --object-lock they also set the lock period."""
    ctx = cli_context()
    options = repo_options(ctx, confirm_password=True)
    lock = object_lock_policy(object_lock, policy, lock_period) if object_lock else None
    if min_grace < timedelta(seconds=1):  # (stored as 1 s before, without a word)
        raise UsageError("--min-grace: at least 1s (prune keeps a marked pack this long)")
    settings = RepositorySettings(
        pack_size=pack_size * 1024 * 1024,
        compression_level=compression,
        kdf_cost=kdf_cost,
        min_grace=max(1, round(min_grace.total_seconds())),
        retention={} if policy.empty else policy.to_dict(),
    )
    if recovery_key:
        recoverykey.require_stdout("init", "--no-recovery-key")
    result = init_op(
        options, InitOptions(settings=settings, recovery_key=recovery_key, object_lock=lock)
    )
    ctx.opened = result.repository
    lock_note = (
        f"Object Lock ({lock.mode}): every object is locked for {human_duration(lock.period)} "
        f"after it is last needed, plus {human_duration(lock.margin)} margin"
        if lock is not None
        else None
    )
    _show(ctx, result, lock_note)
    if result.recovery_key_id and result.repository is not None:
        recoverykey.confirm_shown(result.repository, result.recovery_key_id)
    return 0


def _show(ctx: CliContext, result: InitResult, lock_note: str | None) -> None:
    """What init made (the recovery key once, also with --quiet)."""
    if ctx.json:
        emit(
            ctx,
            "initialized",
            repository_id=result.repository_id,
            location=result.location,
            requests=result.requests,
            store=result.store.to_dict() if result.store else None,
            recovery_key=result.recovery_key,
        )
    else:
        say(ctx, f"created s3vault repository {result.repository_id.short} at {result.location}")
        if result.store:
            for note in result.store.notes:
                say(ctx, note)
            say(ctx, f"store probe: {result.store.summary()}")
        if lock_note is not None:
            say(ctx, lock_note)
        if result.recovery_key:
            show_recovery_key(ctx, result.recovery_key)
        else:
            say(ctx, "Keep the password safe: without it the data cannot be recovered.")
