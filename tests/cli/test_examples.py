"""Every command's --help shows examples (restic's help has them), and every example parses as
that command's arguments (an example with a misspelt option would teach the misspelling)."""

from __future__ import annotations

import re
import shlex

import click
import pytest

from s3vault.cli import cli
from tests.conftest import RunCli


def commands() -> dict[str, click.Command]:
    """Every leaf command by its path ("backup", "key add")."""
    found: dict[str, click.Command] = {}
    stack: list[tuple[str, click.Command]] = list(cli.commands.items())
    while stack:
        path, command = stack.pop()
        if isinstance(command, click.Group):
            stack += [(f"{path} {name}", c) for name, c in command.commands.items()]
        else:
            found[path] = command
    return found


def examples(command: click.Command) -> list[str]:
    """The example lines of a command's help text (docstring block or epilog)."""
    text = (command.help or "") + "\n" + (command.epilog or "")
    block = text.partition("Examples:")[2]
    return [line.strip() for line in block.splitlines() if "s3vault " in line]


def parse(line: str) -> None:
    """Parse an example's s3vault arguments the way the command line would (no command runs)."""
    segments = re.split(r" \| | && ", line)  # a pipeline, or commands in a row
    segment = next(p for p in segments if p.startswith("s3vault"))
    words = shlex.split(segment.partition(" > ")[0])  # without a redirection
    assert words[0] == "s3vault", line
    ctx = cli.make_context("s3vault", words[1:], obj=None)
    group: click.Command = cli
    args = [*ctx.protected_args, *ctx.args]
    while isinstance(group, click.Group):
        name, sub, args = group.resolve_command(ctx, args)
        assert sub is not None and name is not None, line
        ctx = sub.make_context(name, args, parent=ctx)
        group, args = sub, [*getattr(ctx, "protected_args", []), *ctx.args]
    assert not ctx.args, f"{line}: left over {ctx.args}"


@pytest.mark.filterwarnings("ignore:'protected_args' is deprecated:DeprecationWarning")
@pytest.mark.parametrize("path", sorted(commands()))
def test_every_command_has_examples_that_parse(path: str) -> None:
    lines = examples(commands()[path])
    assert lines, f"{path}: no examples in --help"
    for line in lines:
        parse(line)


def test_help_shows_the_examples(run_cli: RunCli) -> None:
    done = run_cli("key", "add", "--help")
    assert done.code == 0
    assert re.search(r"Examples:\n\s+s3vault key add --label alice", done.stdout), done.stdout
