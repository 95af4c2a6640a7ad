"""s3vault cat TYPE [ID]."""

from __future__ import annotations

import sys

import click

from s3vault import CAT_KINDS, NEEDS_INDEX, CatOptions, IntegrityError, UsageError
from s3vault import cat as cat_op
from s3vault.cli.options import cli_context, global_options
from s3vault.cli.render import json_line
from s3vault.cli.session import open_repo
from s3vault.cli.streams import write_stdout


@click.command()
@global_options
@click.argument("kind", metavar="TYPE", type=click.Choice(CAT_KINDS))
@click.argument("object_id", metavar="[ID]", required=False, default="")
def cat(kind: str, object_id: str) -> int:
    """Print one repository object, opened, as restic's cat (for debugging). config, index,
    snapshot, key and tree: the JSON document (one line with --json); pack: the stored
    bytes; blob: the plaintext. ID may be a unique prefix; snapshot also takes latest, tree
    also SNAPSHOT:PATH (a directory of a snapshot, as restic 0.17) and latest.

    Secrets are never printed: `cat key` shows a key file's public fields only (no wrapped
    key, sealed master keys, MAC or salt), `cat config` no key-check values. A damaged
    object: exit 13 naming it (`cat pack` still writes the bytes as stored).

    \b
    Examples:
      s3vault cat config
      s3vault cat snapshot latest | jq .paths
      s3vault cat key 3fa1
      s3vault cat tree latest:/etc
      s3vault cat pack 9c0e77 > pack.bin
    """
    ctx = cli_context()
    ctx.stdout_array = True  # stdout carries the object: JSON warnings go to stderr
    binary = kind in ("pack", "blob")
    if kind == "pack" and sys.stdout.isatty():
        raise UsageError("cat pack writes binary data: redirect stdout to a file")
    repo = open_repo(ctx, load_index=kind in NEEDS_INDEX)
    result = cat_op(repo, CatOptions(kind=kind, id=object_id))
    if binary:
        write_stdout(result.data)
    else:
        indent = None if ctx.json else 2
        text = json_line(result.document, sys.stdout, indent=indent, sort_keys=True)
        sys.stdout.write(text)
    if result.damage:
        raise IntegrityError(result.damage)
    return 0
