"""s3vault key list / add / passwd / remove / rotate-master / sync."""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import timedelta

import click

from s3vault import (
    EpochEntry,
    KeyEntry,
    LeaseSettings,
    UsageError,
    add_key,
    add_kms_key,
    add_put_only_key,
    add_recovery_key,
    change_password,
    list_epochs,
    list_keys,
    open_repository,
    pin_check,
    readable,
    remove_key,
    rotate_master,
    sync_keys,
)
from s3vault.cli import recoverykey
from s3vault.cli.options import Duration, cli_context, global_options, kdf_cost_option
from s3vault.cli.password import read_new_password, secret_kind
from s3vault.cli.progress import CliProgress
from s3vault.cli.render import emit, human_bytes, printable, say, show, show_recovery_key, warn
from s3vault.cli.session import open_repo, repo_options

KDF_COST = kdf_cost_option(
    "Argon2id memory for the new key file: default 32 MiB, strong 256 MiB, small (= default), "
    "minimum 19 MiB"
)
NEW_PASSWORD_FILE = click.option(
    "--new-password-file",
    type=click.Path(dir_okay=False),
    help="Read the new password from this file (else $S3VAULT_NEW_PASSWORD, else a prompt)",
)


def _line(e: KeyEntry) -> str:
    mark = "*" if e.current else " "
    state = "" if e.usable else f"  UNUSABLE: {e.problem}"
    if e.usable and e.pinned is False:
        state = "  (not pinned)"
    who = f"{e.username}@{e.hostname}" if e.username or e.hostname else ""
    label = f"{e.label} ({e.kms_key_id})" if e.kms_key_id else e.label
    created = e.created[:19]  # to the second: the column stays aligned
    access = "full" if e.access == "full" else f"put-only:{e.host}"
    line = f"{mark} {e.id[:8]}  {e.kind:<9} {access:<16} {created:<19} {who:<24} {label}{state}"
    return printable(readable(line))  # a stray key file's name and a key's own fields are
    # whoever wrote them: escaped as ls escapes names (an attack pass, 2026-12-08)


def _days(period: timedelta | None) -> str:
    return f"{period.total_seconds() / 86400:g}d" if period is not None else "-"


def _epoch_line(e: EpochEntry) -> str:
    state = "current" if e.current else "retiring: run `s3vault prune --reencrypt`"
    return f"  epoch {e.epoch:<5} {e.packs:>7} packs {human_bytes(e.bytes):>10}  {state}"


@click.group()
@global_options
def key() -> None:
    """Manage the password key files of a repository."""


@key.command("list")
@global_options
@click.option("--epochs", is_flag=True, help="Also list the key epochs and the data each covers")
def list_command(epochs: bool) -> int:
    """List key files (* marks the one this password opened)."""
    ctx = cli_context()
    ctx.stdout_array = True
    repo = open_repo(ctx, load_index=epochs)
    entries = list_keys(repo)
    repo_id = repo.config.repo_id.hex()  # what KMS key policies name (docs/multi-account.md)
    if ctx.json:
        listed = [  # restic's names too: userName, hostName
            {
                **dataclasses.asdict(e),
                "userName": e.username,
                "hostName": e.hostname,
                "repository_id": repo_id,
            }
            for e in entries
        ]
        sys.stdout.write(json.dumps(listed) + "\n")
        if epochs:
            emit(ctx, "epochs", epochs=[dataclasses.asdict(e) for e in list_epochs(repo)])
        return 0
    show(ctx, f"repository {repo_id}")
    show(
        ctx,
        f"  {'id':<8}  {'kind':<9} {'access':<16} {'created':<19} {'user@host':<24} label",
    )
    for e in entries:
        show(ctx, _line(e))
    unpinned = pin_check(entries)
    if unpinned.fix:
        show(ctx, f"{unpinned.detail}; to fix: {unpinned.fix}")
    live = repo.config.epochs
    if epochs:
        show(ctx, "key epochs (data each still covers):")
        for ep in list_epochs(repo):
            show(ctx, _epoch_line(ep))
    elif len(live) > 1:
        say(
            ctx,
            f"{len(live)} live key epochs (current {repo.config.current_epoch}); "
            "--epochs shows what each covers",
        )
    return 0


@key.command("add")
@global_options
@click.option("--label", default="", help="A note to tell this key file apart (e.g. its owner)")
@NEW_PASSWORD_FILE
@KDF_COST
@click.option(
    "--kms-key-id",
    metavar="ARN",
    help="Escrow with AWS KMS instead of a password: hosts allowed to decrypt with this KMS "
    "key open the repository without one (--kms)",
)
@click.option("--recovery", is_flag=True, help="Add a new recovery key instead (printed once)")
@click.option(
    "--put-only",
    is_flag=True,
    help="A key for a backup host: it writes backups and reads nothing (docs/keys.md)",
)
@click.option(
    "--host",
    default="",
    metavar="NAME",
    help="--put-only: the one host name its snapshots carry (default: this machine's)",
)
@click.option(
    "--switch-format",
    is_flag=True,
    help="--put-only: switch a format version 1 repository to 2 first (docs/upgrades.md)",
)
def add(
    label: str,
    new_password_file: str | None,
    kdf_cost: str,
    kms_key_id: str | None,
    recovery: bool,
    put_only: bool,
    host: str,
    switch_format: bool,
) -> int:
    """Add a key file with a new password, a recovery key or a KMS key (read back and opened
    before success); with --put-only, a key for one backup host that reads nothing."""
    ctx = cli_context()
    if (host or switch_format) and not put_only:
        given = "--host" if host else "--switch-format"
        raise UsageError(f"{given} goes with --put-only")
    if recovery and (kms_key_id is not None or put_only):
        other = "--kms-key-id" if kms_key_id is not None else "--put-only"
        raise UsageError(f"--recovery and {other} exclude each other")
    options = repo_options(ctx)
    repo = open_repository(options, load_index=False)
    ctx.opened = repo
    shown: dict[str, str] = {}
    if put_only:
        secret = (
            (options.backend, kms_key_id)
            if kms_key_id is not None
            else read_new_password(new_password_file)
        )
        entry = add_put_only_key(
            repo, secret, host=host, label=label, kdf_cost=kdf_cost, switch=switch_format
        )
        opener = f"KMS key {kms_key_id}" if kms_key_id is not None else "the new password"
        checked = f"put-only, host {entry.host}; checked: {opener} opens it"
    elif recovery:
        recoverykey.require_stdout("key add --recovery")
        entry, text = add_recovery_key(repo)
        checked = "checked: the recovery key opens it"
        if ctx.json:  # once, in the JSON line (as init does), so stdout stays JSON
            shown["recovery_key"] = text
        else:
            show_recovery_key(ctx, text)
    elif kms_key_id is not None:
        entry = add_kms_key(repo, options.backend, kms_key_id, label=label)
        checked = f"checked: KMS key {kms_key_id} opens it"
    else:
        entry = add_key(repo, read_new_password(new_password_file), label=label, kdf_cost=kdf_cost)
        checked = "checked: the new password opens it"
    if ctx.json:
        emit(ctx, "key_added", **dataclasses.asdict(entry), **shown)
    else:
        say(ctx, f"added key {entry.id[:8]} ({checked})")
    if recovery:
        recoverykey.confirm_shown(repo, entry.id)
    return 0


@key.command("passwd")
@global_options
@NEW_PASSWORD_FILE
@KDF_COST
def passwd(new_password_file: str | None, kdf_cost: str) -> int:
    """Change the password of the key file in use (new key file first, then the old removed)."""
    ctx = cli_context()
    repo = open_repo(ctx, load_index=False)
    entry = change_password(repo, read_new_password(new_password_file), kdf_cost=kdf_cost)
    if ctx.json:
        emit(ctx, "key_changed", **dataclasses.asdict(entry))
    elif secret_kind(ctx) == "recovery":  # opened with the recovery key, which stays
        say(ctx, f"password set: new key {entry.id[:8]}; the recovery key stays as it was")
    else:
        say(ctx, f"password changed: key {entry.id[:8]} replaces the old key file")
    return 0


@key.command("remove")
@global_options
@click.argument("key_id", metavar="ID|LABEL")
@click.option("--force", is_flag=True, help="Also remove the key file this password opened")
def remove(key_id: str, force: bool) -> int:
    """Remove a key file, given its id (a prefix will do) or its label; never the last one
    that opens the repository."""
    ctx = cli_context()
    repo = open_repo(ctx, load_index=False)
    entry = remove_key(repo, key_id, force=force)
    if ctx.json:
        emit(ctx, "key_removed", id=entry.id)
    else:
        say(ctx, f"removed key {printable(readable(entry.id[:8]))}")
    return 0


@key.command("rotate-master")
@global_options
@click.option(
    "--retry-lock", type=Duration(), default="0s", help="Wait this long for a prune's lease"
)
@click.option(
    "--if-older-than",
    type=Duration(),
    metavar="DURATION",
    help="Only when the current master key is older (for a timer: exit 0 when not due)",
)
def rotate_master_command(retry_lock: timedelta, if_older_than: timedelta | None) -> int:
    """Start a new master-key epoch: every key file gets a new master key, new data is
    encrypted with it. Then run `s3vault prune --reencrypt` to move the old data over."""
    ctx = cli_context()
    repo = open_repo(ctx, load_index=False)
    with CliProgress(ctx) as progress:  # says so while it waits for a prune's lease
        result = rotate_master(
            repo,
            if_older_than=if_older_than.total_seconds() if if_older_than is not None else None,
            lease=LeaseSettings(wait=retry_lock.total_seconds()),
            progress=progress,
        )
    if not result.rotated:
        if ctx.json:
            emit(ctx, "rotated", **dataclasses.asdict(result))
        else:
            days = (result.age or 0) / 86400
            say(
                ctx,
                f"key epoch {result.epoch} is {days:.0f} days old, not older than "
                f"{_days(if_older_than)}: nothing to do",
            )
        return 0
    for name, why in result.skipped:
        warn(ctx, name, f"key file left without the new master key: {why}")
    if ctx.json:
        emit(ctx, "rotated", **dataclasses.asdict(result))
        return 0
    say(
        ctx,
        f"key epoch {result.epoch} started (was {result.previous}); {result.key_files} key "
        "files hold its master key. New data is encrypted under it; the old key still opens "
        "old data until `s3vault prune --reencrypt` has rewritten it and retired the old epoch",
    )
    return 0


@key.command("sync")
@global_options
def sync_command() -> int:
    """Give every key file exactly the live key epochs (finishes an interrupted rotation or
    retirement)."""
    ctx = cli_context()
    repo = open_repo(ctx, load_index=False)
    count, skipped = sync_keys(repo)
    for name, why in skipped:
        warn(ctx, name, f"key file left alone: {why}")
    if ctx.json:
        emit(ctx, "synced", key_files=count, skipped=len(skipped))
    else:
        say(ctx, f"{count} key files hold the live key epochs")
    return 0
