"""s3vault setup-bucket and doctor: the bucket's posture, applied and checked."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import click

from s3vault.backend.profile import ProbedBackend, StoreProfile
from s3vault.backend.stack import stack_for
from s3vault.cli.context import CliContext
from s3vault.cli.options import cli_context, global_options
from s3vault.cli.render import emit, say
from s3vault.cli.session import backend_options, open_repo
from s3vault.errors import ExitCode, S3VaultError, UsageError
from s3vault.ops.keys import list_keys

if TYPE_CHECKING:
    from s3vault.backend.bucket import Check

OK, WARNING, WRONG = "ok", "warning", "wrong"  # as backend/bucket.py (boto3 only when used)


def _bucket_of(ctx: CliContext) -> tuple[str, str]:
    url = ctx.repository
    if not url.startswith("s3:"):
        raise UsageError("this command needs an s3:// repository (-r, S3VAULT_REPOSITORY or -P)")
    bucket, _, prefix = url.removeprefix("s3://").removeprefix("s3:").partition("/")
    return bucket, prefix


@click.command("setup-bucket")
@global_options
@click.option("--object-lock", is_flag=True, help="Create the bucket with Object Lock")
@click.option(
    "--sse-kms",
    "sse_kms",
    metavar="KEY",
    help="Default encryption SSE-KMS with this key (bucket keys on); default SSE-S3",
)
@click.option("--data-class", help="Move data packs (only them) to this storage class...")
@click.option(
    "--after-days",
    type=click.IntRange(0),
    default=30,
    show_default=True,
    help="...after this many days",
)
@click.option("--replicate-to", metavar="BUCKET", help="Replicate the repository to this bucket")
@click.option("--replication-role", metavar="ARN", help="IAM role S3 replicates with")
def setup_bucket(
    object_lock: bool,
    sse_kms: str | None,
    data_class: str | None,
    after_days: int,
    replicate_to: str | None,
    replication_role: str | None,
) -> int:
    """Create or update the repository's bucket: versioning, Object Lock (optional), default
    encryption, public access block, lifecycle (abort incomplete uploads after a day, expire
    noncurrent versions, data packs to a colder class), replication (optional)."""
    from s3vault.backend.bucket import BucketPlan, client
    from s3vault.backend.bucket import setup_bucket as apply_plan

    ctx = cli_context()
    bucket, prefix = _bucket_of(ctx)
    if bool(replicate_to) != bool(replication_role):
        raise UsageError("--replicate-to and --replication-role go together")
    plan = BucketPlan(
        bucket=bucket,
        prefix=prefix,
        object_lock=object_lock,
        sse_kms_key_id=sse_kms,
        data_class=data_class,
        after_days=after_days,
        replicate_to=replicate_to,
        replication_role=replication_role,
    )
    options = backend_options(ctx)
    done = apply_plan(client(options), plan, region=options.s3_region)
    if ctx.json:
        emit(ctx, "summary", bucket=bucket, done=done)
    else:
        for line in done:
            say(ctx, line)
        say(ctx, f"bucket {bucket} is set up; check it any time with `s3vault doctor`")
    return 0


def _repository_checks(ctx: CliContext) -> list[Check]:
    from s3vault.backend.bucket import Check

    checks: list[Check] = []
    try:
        repo = open_repo(ctx, load_index=False)
    except S3VaultError as exc:
        return [Check(item="repository", state=WRONG, detail=str(exc), fix="see docs/usage.md")]
    checks.append(Check(item="repository", state=OK, detail=f"{repo.id.short} opens"))
    keys = list_keys(repo)
    usable = [k for k in keys if k.usable]
    recovery = any(k.kind in ("recovery", "kms") for k in usable)
    if len(usable) < 2 and not recovery:
        checks.append(
            Check(
                item="keys",
                state=WARNING,
                detail="one key file and no recovery or KMS key: a lost password loses everything",
                fix="s3vault key add --recovery (or --kms-key-id ARN)",
            )
        )
    else:
        checks.append(Check(item="keys", state=OK, detail=f"{len(usable)} usable key files"))
    if len(repo.config.epochs) > 1:
        checks.append(
            Check(
                item="key epochs",
                state=WARNING,
                detail=f"{len(repo.config.epochs)} live epochs: a rotation is not finished",
                fix="s3vault prune --reencrypt",
            )
        )
    if repo.config.store:
        stack = stack_for(ctx.repository, backend_options(ctx))
        if isinstance(stack.raw, ProbedBackend):
            now = stack.raw.probe()
            then = StoreProfile.from_dict(repo.config.store)
            same = (now.checksum, now.create_only, now.compare_and_swap) == (
                then.checksum,
                then.create_only,
                then.compare_and_swap,
            )
            checks.append(
                Check(item="store", state=OK, detail=now.summary())
                if same
                else Check(
                    item="store",
                    state=WARNING,
                    detail=f"the store changed since init: now {now.summary()}, "
                    f"then {then.summary()}",
                    fix="the repository keeps what init found; see docs/s3-compatible.md",
                )
            )
    return checks


@click.command()
@global_options
def doctor() -> int:
    """Check the bucket (versioning, Object Lock, encryption, public access, lifecycle,
    replication) and the repository (it opens, keys, key epochs, the store's capabilities)
    and say, for each item, ok / warning / wrong and the fix. Exit 13 if anything is wrong."""
    from s3vault.backend.bucket import BucketPlan, check_bucket, client

    ctx = cli_context()
    checks = _repository_checks(ctx)
    if ctx.repository.startswith("s3:"):
        bucket, prefix = _bucket_of(ctx)
        lock = bool(ctx.opened.config.object_lock) if ctx.opened is not None else False
        checks += check_bucket(
            client(backend_options(ctx)), BucketPlan(bucket=bucket, prefix=prefix, object_lock=lock)
        )
    for c in checks:
        if ctx.json:
            emit(ctx, "check", **dataclasses.asdict(c))
        else:
            fix = f"  fix: {c.fix}" if c.fix and c.state != OK else ""
            say(ctx, f"{c.state.upper():<8} {c.item}: {c.detail}{fix}")
    wrong = sum(c.state == WRONG for c in checks)
    warnings = sum(c.state == WARNING for c in checks)
    if not ctx.json:
        say(ctx, f"{len(checks)} checks: {wrong} wrong, {warnings} warnings")
    return ExitCode.DAMAGED if wrong else ExitCode.OK
