"""s3vault setup-bucket and doctor: the bucket's posture, applied and checked."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import click

from s3vault import (
    OK,
    DoctorOptions,
    ExitCode,
    SetupBucketOptions,
)
from s3vault import doctor as doctor_op
from s3vault import setup_bucket as setup_bucket_op
from s3vault.cli.options import Duration, cli_context, global_options
from s3vault.cli.render import emit, say
from s3vault.cli.session import backend_options, open_repo


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
    ctx = cli_context()
    options = SetupBucketOptions(
        url=ctx.repository,
        backend=backend_options(ctx),
        object_lock=object_lock,
        sse_kms_key_id=sse_kms,
        data_class=data_class,
        after_days=after_days,
        replicate_to=replicate_to,
        replication_role=replication_role,
    )
    result = setup_bucket_op(options)
    if ctx.json:
        emit(ctx, "summary", bucket=result.bucket, done=list(result.done))
    else:
        for line in result.done:
            say(ctx, line)
        say(ctx, f"bucket {result.bucket} is set up; check it any time with `s3vault doctor`")
    return 0


@click.command()
@global_options
@click.option(
    "--audit", is_flag=True, help="Also check CloudTrail data events, Config rules, GuardDuty"
)
@click.option(
    "--key-rotation",
    type=Duration(),
    default="365d",
    show_default=True,
    help="Warn when the master key is older than this (the repository's rotation period)",
)
def doctor(audit: bool, key_rotation: timedelta) -> int:
    """Check the bucket (versioning, Object Lock, encryption, public access, lifecycle,
    replication; with --audit CloudTrail, Config rules and GuardDuty) and the repository (it
    opens, keys, key age and epochs, the store's capabilities) and say, for each item, ok /
    warning / wrong and the fix. Exit 13 if anything is wrong."""
    ctx = cli_context()
    options = DoctorOptions(
        url=ctx.repository,
        backend=backend_options(ctx),
        audit=audit,
        key_rotation=key_rotation.total_seconds(),
    )
    result = doctor_op(options, opener=lambda: open_repo(ctx, load_index=False))
    for c in result.checks:
        if ctx.json:
            emit(ctx, "check", **dataclasses.asdict(c))
        else:
            fix = f"  fix: {c.fix}" if c.fix and c.state != OK else ""
            say(ctx, f"{c.state.upper():<8} {c.item}: {c.detail}{fix}")
    if not ctx.json:
        say(ctx, f"{len(result.checks)} checks: {result.wrong} wrong, {result.warnings} warnings")
    return ExitCode.DAMAGED if result.wrong else ExitCode.OK
