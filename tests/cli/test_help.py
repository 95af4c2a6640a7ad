"""--help of every command: its own options first, the global options in a section after them
(as restic's "Global Flags"), through the real entry point."""

from __future__ import annotations

import click

from s3vault.cli import cli
from tests.conftest import RunCli


def _commands() -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    stack: list[tuple[tuple[str, ...], click.Command]] = [((), cli)]
    while stack:
        path, command = stack.pop()
        if isinstance(command, click.Group):
            stack += [((*path, name), sub) for name, sub in command.commands.items()]
        else:
            found.append(path)
    return sorted(found)


def test_groups_still_list_their_commands(run_cli: RunCli) -> None:
    for group, members in (((), ("backup", "snapshots", "dump")), (("key",), ("add", "list"))):
        text = run_cli(*group, "--help").stdout
        commands = text.split("\nCommands:\n", 1)[1].split("\nGlobal options:\n")[0]
        assert all(f"  {m} " in commands for m in members), (group, commands)


def test_every_command_lists_its_own_options_before_the_global_ones(run_cli: RunCli) -> None:
    commands = _commands()
    assert ("snapshots",) in commands and ("key", "add") in commands
    for path in commands:
        done = run_cli(*path, "--help")
        assert done.code == 0, (path, done.stderr)
        text = done.stdout
        assert "\nOptions:\n" in text and "\nGlobal options:\n" in text, path
        own, shared = text.split("\nOptions:\n", 1)[1].split("\nGlobal options:\n")
        assert "--help" in own and "--repo" not in own and "  --json" not in own, path
        assert "--repo" in shared and "--password-file" in shared, path
