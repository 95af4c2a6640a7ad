"""s3vault setup-audit: CloudTrail data events, AWS Config rules and GuardDuty for the
repository's bucket (docs/security.md "Audit trail")."""

from __future__ import annotations

import dataclasses

import click

from s3vault import SetupAuditOptions
from s3vault import setup_audit as setup_audit_op
from s3vault.cli.options import cli_context, global_options
from s3vault.cli.render import emit, say
from s3vault.cli.session import backend_options


@click.command("setup-audit")
@global_options
@click.option(
    "--trail",
    type=click.Choice(["write-only", "all"]),
    help="A CloudTrail trail logging the repository prefix's S3 data events: writes and "
    "deletes only, or reads too",
)
@click.option("--trail-name", metavar="NAME", help="The trail  [default: s3vault-BUCKET]")
@click.option(
    "--trail-bucket",
    metavar="BUCKET",
    help="The trail's own log bucket (deletes denied)  [default: BUCKET-cloudtrail]",
)
@click.option(
    "--config-rules",
    is_flag=True,
    help="AWS Config managed rules for the bucket: TLS-only, versioning, encryption, public "
    "access, logging, Object Lock where used",
)
@click.option("--guardduty", is_flag=True, help="GuardDuty with S3 protection on")
@click.option("--dry-run", is_flag=True, help="Say what would change; change nothing")
def setup_audit(
    trail: str | None,
    trail_name: str | None,
    trail_bucket: str | None,
    config_rules: bool,
    guardduty: bool,
    dry_run: bool,
) -> int:
    """Record and watch who does what to the repository's bucket, outside s3vault: each part
    only if asked, one line each; a second run changes nothing and says so. Check it with
    `s3vault doctor --audit`."""
    ctx = cli_context()
    options = SetupAuditOptions(
        url=ctx.repository,
        backend=backend_options(ctx),
        trail=trail,
        trail_name=trail_name,
        trail_bucket=trail_bucket,
        config_rules=config_rules,
        guardduty=guardduty,
        dry_run=dry_run,
    )
    result = setup_audit_op(options)
    if ctx.json:
        for item in result.items:
            emit(ctx, "audit_item", **dataclasses.asdict(item), dry_run=dry_run)
        return 0
    for item in result.items:
        if not item.changes:
            say(ctx, f"{item.item}: unchanged, {item.state}")
        elif dry_run:
            say(ctx, f"{item.item}: would be {', '.join(item.changes)}; then {item.state}")
        else:
            say(ctx, f"{item.item}: {', '.join(item.changes)}; {item.state}")
    if not result.changed:
        say(ctx, "nothing to change: everything asked for is in place")
    elif dry_run:
        say(ctx, "dry run: nothing changed")
    return 0
