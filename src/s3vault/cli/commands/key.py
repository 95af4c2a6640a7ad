"""s3vault key list / add / passwd / remove."""

from __future__ import annotations

import dataclasses
import json
import sys

import click

from s3vault.cli.context import CliContext
from s3vault.cli.options import cli_context, global_options
from s3vault.cli.password import read_new_password
from s3vault.cli.render import emit, say
from s3vault.cli.session import open_repo
from s3vault.ops.keys import (
    KeyEntry,
    add_key,
    change_password,
    list_keys,
    remove_key,
)

KDF_PROFILE = click.option(
    "--kdf-profile",
    type=click.Choice(["default", "small", "minimum"]),
    default="default",
    show_default=True,
    help="Argon2id memory for the new key file: default 256 MiB, small 64 MiB, minimum 19 MiB",
)
NEW_PASSWORD_FILE = click.option(
    "--new-password-file",
    type=click.Path(dir_okay=False),
    help="Read the new password from this file (else $S3VAULT_NEW_PASSWORD, else a prompt)",
)


def _line(e: KeyEntry) -> str:
    mark = "*" if e.current else " "
    state = "" if e.usable else f"  UNUSABLE: {e.problem}"
    who = f"{e.username}@{e.hostname}" if e.username or e.hostname else ""
    return f"{mark} {e.id[:8]}  {e.kind:<9} {e.created:<25} {who:<24} {e.label}{state}"


def show_recovery_key(ctx: CliContext, text: str) -> None:
    """The recovery key, once, with what to do with it (shown even with --quiet)."""
    ctx.out.print(
        "Recovery key: it opens this repository when every password is lost. It is shown "
        "only now; keep it offline (paper, a safe), never beside the data:\n"
        f"    {text}\n"
        "Use it with --recovery-key-file FILE.",
        highlight=False,
        soft_wrap=True,
    )


@click.group()
@global_options
def key() -> None:
    """Manage the password key files of a repository."""


@key.command("list")
@global_options
def list_command() -> int:
    """List key files (* marks the one this password opened)."""
    ctx = cli_context()
    entries = list_keys(open_repo(ctx, load_index=False))
    if ctx.json:
        sys.stdout.write(json.dumps([dataclasses.asdict(e) for e in entries]) + "\n")
        return 0
    say(ctx, f"  {'id':<8}  {'kind':<9} {'created':<25} {'user@host':<24} label")
    for e in entries:
        say(ctx, _line(e))
    return 0


@key.command("add")
@global_options
@click.option("--label", default="", help="A note to tell this key file apart (e.g. its owner)")
@NEW_PASSWORD_FILE
@KDF_PROFILE
def add(label: str, new_password_file: str | None, kdf_profile: str) -> int:
    """Add a key file with a new password (read back and opened before success)."""
    ctx = cli_context()
    repo = open_repo(ctx, load_index=False)
    entry = add_key(
        repo, read_new_password(new_password_file), label=label, kdf_profile=kdf_profile
    )
    if ctx.json:
        emit(ctx, "key_added", **dataclasses.asdict(entry))
    else:
        say(ctx, f"added key {entry.id[:8]} (checked: the new password opens it)")
    return 0


@key.command("passwd")
@global_options
@NEW_PASSWORD_FILE
@KDF_PROFILE
def passwd(new_password_file: str | None, kdf_profile: str) -> int:
    """Change the password of the key file in use (new key file first, then the old removed)."""
    ctx = cli_context()
    repo = open_repo(ctx, load_index=False)
    entry = change_password(repo, read_new_password(new_password_file), kdf_profile=kdf_profile)
    if ctx.json:
        emit(ctx, "key_changed", **dataclasses.asdict(entry))
    else:
        say(ctx, f"password changed: key {entry.id[:8]} replaces the old key file")
    return 0


@key.command("remove")
@global_options
@click.argument("key_id")
@click.option("--force", is_flag=True, help="Also remove the key file this password opened")
def remove(key_id: str, force: bool) -> int:
    """Remove a key file (never the last one that opens the repository)."""
    ctx = cli_context()
    entry = remove_key(open_repo(ctx, load_index=False), key_id, force=force)
    if ctx.json:
        emit(ctx, "key_removed", id=entry.id)
    else:
        say(ctx, f"removed key {entry.id[:8]}")
    return 0
