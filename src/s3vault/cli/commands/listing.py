"""s3vault list TYPE."""

from __future__ import annotations

import click

from s3vault import LISTABLE, list_objects
from s3vault.cli.options import cli_context, global_options
from s3vault.cli.session import open_repo


@click.command("list")
@global_options
@click.argument("what", metavar="TYPE", type=click.Choice(list(LISTABLE)))
def list_command(what: str) -> int:
    """List the ids of the objects of a TYPE, one per line, as restic's list (snapshots,
    index, packs, keys, locks; also drills, deletions, ledger). Reads only the store's listing."""
    ctx = cli_context()
    repo = open_repo(ctx, load_index=False)
    for name in list_objects(repo, what):
        click.echo(name)
    return 0
