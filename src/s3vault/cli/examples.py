"""Examples for each command's ``--help`` (and its man page), as restic's help has them.

A command whose docstring has its own ``Examples:`` block keeps it; every other command gets
the lines below after its description (before its options, as in those docstrings).
tests/cli/test_examples.py checks that every command shows examples and that each example
parses as its command's arguments.
"""

from __future__ import annotations

import inspect

import click

EXAMPLES: dict[str, tuple[str, ...]] = {
    "init": (
        "s3vault -r s3://my-backups/hosts/web1 init",
        "s3vault -r /srv/backup-repo init --kdf-cost strong",
        "s3vault -r s3://locked/web1 init --object-lock governance --keep-daily 7",
    ),
    "backup": (
        "s3vault backup /etc /srv --tag nightly --exclude '*.tmp' --exclude-caches",
        "s3vault backup --files-from /etc/s3vault/paths.txt --one-file-system",
        "pg_dump mydb | s3vault backup --stdin --stdin-filename dumps/mydb.sql",
        "s3vault backup --stdin-from-command --stdin-filename mydb.sql -- pg_dump mydb",
        "s3vault backup /srv --jobs 0 --json",
    ),
    "snapshots": (
        "s3vault snapshots",
        "s3vault snapshots --host web1 --latest 3",
        "s3vault snapshots --json | jq '.[].short_id'",
    ),
    "ls": (
        "s3vault ls latest /etc",
        "s3vault ls -l latest --host web1 /srv/www",
    ),
    "find": (
        "s3vault find 'nginx*'",
        "s3vault find --host web1 --ignore-case '*.CONF'",
    ),
    "diff": (
        "s3vault diff latest~1 latest",
        "s3vault diff 1f2e3d4c 5a6b7c8d --metadata",
    ),
    "forget": (
        "s3vault forget --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --prune",
        "s3vault forget --keep-within 6m --host web1 --dry-run",
        "s3vault forget 1f2e3d4c",
    ),
    "prune": (
        "s3vault prune",
        "s3vault prune --max-unused 5% --dry-run",
        "s3vault prune --retry-lock 1h",
    ),
    "verify": (
        "s3vault verify",
        "s3vault verify --read-data",
        "s3vault verify --read-data-subset 1/7",
        "s3vault verify --coverage 30d --budget 5%",
    ),
    "restore-test": (
        "s3vault restore-test --sample-percent 1 --rto-target 4h",
        "s3vault restore-test latest --host db1 --rpo-target 26h --no-disk",
        "s3vault restore-test --history",
    ),
    "copy": (
        "s3vault copy --to s3://dr-backups/hosts/web1 --to-password-file /etc/s3vault/dr.pw",
        "s3vault -P prod copy --to dr latest",
    ),
    "stats": (
        "s3vault stats",
        "s3vault stats --history --json",
    ),
    "list": (
        "s3vault list snapshots",
        "s3vault list packs | wc -l",
    ),
    "unlock": (
        "s3vault unlock",
        "s3vault unlock --remove-all",
    ),
    "run": (
        "s3vault run nightly",
        "s3vault --config /etc/s3vault/config.toml run web",
    ),
    "audit": (
        "s3vault audit",
        "s3vault audit --host web1 --since 2026-11-01",
    ),
    "cost": (
        "s3vault cost",
        "s3vault cost --region eu-west-3 --months 12 --network nat",
        "s3vault cost --plan --hosts 1000 --fleet-data 1T --fleet-daily-change 50G --network nat",
    ),
    "doctor": (
        "s3vault -r s3://my-backups/hosts/web1 doctor",
        "s3vault -r s3://my-backups/hosts/web1 doctor --audit --key-rotation 90d",
    ),
    "setup-audit": (
        "s3vault -r s3://my-backups/hosts setup-audit --trail write-only --dry-run",
        "s3vault -r s3://my-backups/hosts setup-audit --trail all --config-rules --guardduty",
    ),
    "setup-bucket": (
        "s3vault -r s3://my-backups/hosts setup-bucket",
        "s3vault -r s3://my-backups/hosts setup-bucket --object-lock --data-class GLACIER_IR",
    ),
    "iam-policy": (
        "s3vault -r s3://my-backups/hosts/web1 iam-policy --role backup",
        "s3vault -r s3://my-backups/hosts/web1 iam-policy --role maintenance --object-lock",
    ),
    "key list": ("s3vault key list", "s3vault key list --json"),
    "key add": (
        "s3vault key add --label alice",
        "s3vault key add --recovery",
        "s3vault key add --kms-key-id arn:aws:kms:eu-west-3:111122223333:key/1234abcd",
    ),
    "key passwd": ("s3vault key passwd --new-password-file /etc/s3vault/new.pw",),
    "key remove": ("s3vault key remove 1f2e3d4c", "s3vault key remove alice"),
    "key rotate-master": ("s3vault key rotate-master",),
    "key sync": ("s3vault key sync",),
    "repair index": ("s3vault repair index", "s3vault repair index --dry-run"),
    "repair packs": (
        "s3vault repair packs 3f2a9c1d --dry-run",
        "s3vault repair packs 3f2a9c1d 77b0e4aa --save-to /root/damaged-packs",
    ),
    "repair snapshots": (
        "s3vault repair snapshots --dry-run",
        "s3vault repair snapshots --forget",
    ),
}


def add_examples(name: str, command: click.Command) -> None:
    """Give the command ``name`` (and every command of it, if a group: named "group sub") the
    examples above at the end of its help text, unless its docstring has an ``Examples:``
    block."""
    stack: list[tuple[str, click.Command]] = [(name, command)]
    while stack:
        path, command = stack.pop()
        if isinstance(command, click.Group):
            stack += [(f"{path} {name}", c) for name, c in command.commands.items()]
            continue
        lines = EXAMPLES.get(path)
        if lines and "Examples:" not in (command.help or ""):
            block = "\n".join(f"  {line}" for line in lines)
            text = inspect.cleandoc(command.help or "")  # docstring indent off, as click does
            command.help = f"{text}\n\n\b\nExamples:\n{block}"
