"""s3vault unlock."""

from __future__ import annotations

import click

from s3vault import unlock as unlock_op
from s3vault.cli.options import cli_context, global_options
from s3vault.cli.render import emit, say
from s3vault.cli.session import open_repo


@click.command()
@global_options
@click.option("--remove-all", is_flag=True, help="Remove the lease even if it is not stale")
def unlock(remove_all: bool) -> int:
    """Remove a stale maintenance lease (one whose holder stopped refreshing it)."""
    ctx = cli_context()
    repo = open_repo(ctx, load_index=False)
    r = unlock_op(repo, remove_all=remove_all)
    if ctx.json:
        emit(ctx, "summary", found=r.found, stale=r.stale, removed=r.removed)
    elif r.found is None:
        say(ctx, "no lease is held")
    elif r.removed:
        say(ctx, f"removed the lease: {r.found}")
    else:
        say(ctx, f"left a live lease in place: {r.found} (--remove-all removes it anyway)")
    return 0
