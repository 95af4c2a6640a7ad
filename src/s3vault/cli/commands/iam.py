"""s3vault iam-policy: least-privilege IAM policies for the repository's bucket and prefix."""

from __future__ import annotations

import json
import sys

import click

from s3vault import IAM_ROLES
from s3vault import iam_policy as iam_policy_op
from s3vault.cli.options import cli_context, global_options


@click.command("iam-policy")
@global_options
@click.option("--role", type=click.Choice(IAM_ROLES), required=True, help="Who the policy is for")
@click.option(
    "--kms-key",
    "kms_keys",
    multiple=True,
    metavar="ARN",
    help="KMS keys it may use (SSE-KMS, KMS key files)",
)
@click.option("--object-lock", is_flag=True, help="The bucket uses Object Lock")
def iam_policy(role: str, kms_keys: tuple[str, ...], object_lock: bool) -> int:
    """Print the IAM policy (JSON) for a role on this repository: backup (write, never
    delete), maintenance (forget, prune, keys), auditor (read only) or restore-test. Reads no
    repository: only its URL."""
    ctx = cli_context()
    doc = iam_policy_op(ctx.repository, role, kms_key_arns=kms_keys, object_lock=object_lock)
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    return 0
