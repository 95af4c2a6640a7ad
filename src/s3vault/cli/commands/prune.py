"""s3vault prune."""

from __future__ import annotations

from typing import Any

import click

from s3vault import prune as prune_op
from s3vault.cli.options import cli_context, global_options
from s3vault.cli.progress import CliProgress
from s3vault.cli.pruning import prune_options, prune_settings, show_prune
from s3vault.cli.session import open_repo


@click.command()
@global_options
@prune_options
@click.option("-n", "--dry-run", is_flag=True, help="Show what would be done; change nothing")
@click.option(
    "--reencrypt",
    is_flag=True,
    help="After `key rotate-master`: rewrite packs, snapshots and records of older key "
    "epochs under the current one, and retire the old epochs once nothing uses them",
)
def prune(**args: Any) -> int:
    """Free the space of data no snapshot needs (two phases: mark, then delete after the
    grace period)."""
    ctx = cli_context()
    repo = open_repo(ctx, load_index=False)
    options, lease = prune_settings(**args)
    with CliProgress(ctx) as progress:
        r = prune_op(repo, options, lease=lease, progress=progress)
    show_prune(ctx, r, reencrypt=options.reencrypt)
    return 0
