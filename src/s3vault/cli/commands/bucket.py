"""s3vault setup-bucket and doctor: the bucket's posture, applied and checked."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
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
from s3vault.cli.context import CliContext
from s3vault.cli.options import Duration, cli_context, global_options
from s3vault.cli.render import emit, say
from s3vault.cli.session import backend_options, open_repo


def _posture(ctx: CliContext, key: str, given: tuple[str, ...]) -> tuple[str, ...]:
    """A repeatable flag's values, else the profile's ``[profiles.NAME.bucket]`` list."""
    if given or ctx.profile is None:
        return given
    return tuple(str(v) for v in ctx.profile.table("bucket").get(key, []))


def _posture_options(function: Callable[..., int]) -> Callable[..., int]:
    """The flags setup-bucket and doctor share (each also read from the profile)."""
    for decorator in reversed(
        (
            click.option(
                "--maintenance-role",
                "maintenance_roles",
                metavar="ARN",
                multiple=True,
                help="The role that may delete (prune); every other principal may not "
                "(repeatable; profile: bucket.maintenance_roles)",
            ),
            click.option(
                "--source-vpce",
                "source_vpces",
                metavar="ID",
                multiple=True,
                help="Reach the repository only through this VPC endpoint (repeatable)",
            ),
            click.option(
                "--source-vpc",
                "source_vpcs",
                metavar="ID",
                multiple=True,
                help="...or from this VPC (repeatable)",
            ),
        )
    ):
        function = decorator(function)
    return function


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
@click.option(
    "--replica-kms-key",
    metavar="ARN",
    help="Replicate SSE-KMS objects, re-encrypted with this key of the destination's region",
)
@_posture_options
@click.option(
    "--bucket-policy/--no-bucket-policy",
    default=None,
    help="Merge s3vault's statements into the bucket policy (default: when a maintenance role "
    "or a VPC restriction is named) / leave the policy alone (it is managed elsewhere)",
)
@click.option("--dry-run", "-n", is_flag=True, help="Say what would change; change nothing")
def setup_bucket(
    object_lock: bool,
    sse_kms: str | None,
    data_class: str | None,
    after_days: int,
    replicate_to: str | None,
    replication_role: str | None,
    replica_kms_key: str | None,
    maintenance_roles: tuple[str, ...],
    source_vpces: tuple[str, ...],
    source_vpcs: tuple[str, ...],
    bucket_policy: bool | None,
    dry_run: bool,
) -> int:
    """Create or update the repository's bucket: versioning, Object Lock (optional), default
    encryption, public access block, lifecycle (abort incomplete uploads after a day, expire
    noncurrent versions, data packs to a colder class), replication (optional) and the bucket
    policy (TLS only, deletes only by the maintenance role, the repository's encryption,
    optionally only through a VPC endpoint), merged into the bucket's own policy with its
    diff shown."""
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
        replica_kms_key_id=replica_kms_key,
        bucket_policy=bucket_policy,
        maintenance_roles=_posture(ctx, "maintenance_roles", maintenance_roles),
        source_vpces=_posture(ctx, "source_vpces", source_vpces),
        source_vpcs=_posture(ctx, "source_vpcs", source_vpcs),
        dry_run=dry_run,
    )
    result = setup_bucket_op(options)
    if ctx.json:
        emit(
            ctx,
            "summary",
            bucket=result.bucket,
            done=list(result.done),
            policy_diff=list(result.policy_diff),
            dry_run=result.dry_run,
        )
        return 0
    for line in result.done:
        say(ctx, line)
    for line in result.policy_diff:
        say(ctx, line)
    if result.dry_run:
        say(ctx, f"dry run: bucket {result.bucket} was not changed")
    else:
        say(ctx, f"bucket {result.bucket} is set up; check it any time with `s3vault doctor`")
    return 0


@click.command()
@global_options
@click.option(
    "--bucket-only",
    is_flag=True,
    help="Check the bucket only, not the repository (before init, or with an auditor's role)",
)
@_posture_options
@click.option(
    "--kms-role",
    "kms_roles",
    metavar="ARN",
    multiple=True,
    help="A role the KMS key's policy may allow besides the maintenance role (repeatable; "
    "profile: bucket.kms_roles)",
)
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
def doctor(
    bucket_only: bool,
    maintenance_roles: tuple[str, ...],
    source_vpces: tuple[str, ...],
    source_vpcs: tuple[str, ...],
    kms_roles: tuple[str, ...],
    audit: bool,
    key_rotation: timedelta,
) -> int:
    """Check the bucket (versioning, Object Lock, encryption, public access, lifecycle,
    replication, the bucket policy, MFA delete, the VPC endpoints, the KMS key's rotation and
    policy, the replicas' key; with --audit CloudTrail, Config rules and GuardDuty) and the
    repository (it opens, keys, key age and epochs, the store's capabilities) and say, for each
    item, ok / warning / wrong and the fix. Exit 13 if anything is wrong."""
    ctx = cli_context()
    options = DoctorOptions(
        url=ctx.repository,
        backend=backend_options(ctx),
        repository=not bucket_only,
        maintenance_roles=_posture(ctx, "maintenance_roles", maintenance_roles),
        kms_key_id=ctx.s3_kms_key_id,
        kms_roles=_posture(ctx, "kms_roles", kms_roles),
        source_vpces=_posture(ctx, "source_vpces", source_vpces),
        source_vpcs=_posture(ctx, "source_vpcs", source_vpcs),
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
