"""`make man`: one man page per command, from the click commands themselves (click-man's page
writer), into man/ (or the directory given as the first argument).

`s3vault(1)` lists every command, the global options and the exit codes; each command's page
(`s3vault-backup(1)`, `s3vault-key-add(1)`, ...) has its own options and points at s3vault(1) for
the global ones, as ``--help`` does. Install with ``install -m 644 man/*.1
/usr/local/share/man/man1/``; read one without installing: ``man -l man/s3vault-backup.1``.
"""

from __future__ import annotations

import sys
from inspect import cleandoc
from pathlib import Path

import click
from click_man.man import ManPage

from s3vault import __version__
from s3vault.cli import EPILOG, cli
from s3vault.cli.options import GlobalOption

GLOBAL_NOTE = "The global options (repository, password, S3, output) are listed in s3vault(1)."


def _roff(text: str) -> str:
    """Text as roff reads it literally: backslashes escaped, and no line that starts with a
    dot or a quote (roff would read it as a request)."""
    lines = text.replace("\\", "\\e").split("\n")
    return "\n".join("\\&" + line if line[:1] in (".", "'") else line for line in lines)


def _page(ctx: click.Context) -> ManPage:
    command = ctx.command
    root = ctx.parent is None
    page = ManPage(ctx.command_path)
    page.version = __version__
    description = cleandoc(command.help or "").replace("\b\n", "")
    page.short_help = _roff(description.partition("\n\n")[0].replace("\n", " "))
    if root:
        page.short_help = page.short_help.removeprefix("s3vault: ")
        description += "\n\n" + EPILOG.replace("\b\n", "")
    else:
        description += "\n\n" + GLOBAL_NOTE
    page.description = _roff(description)
    page.synopsis = " ".join(command.collect_usage_pieces(ctx))
    page.options = [
        record
        for param in command.params
        if isinstance(param, click.Option)
        and not param.hidden
        and (root or not isinstance(param, GlobalOption))
        and (record := param.get_help_record(ctx)) is not None
    ]
    page.options = [(names, _roff(text)) for names, text in page.options]
    if isinstance(command, click.Group):
        page.commands = [
            (name, _roff(sub.get_short_help_str(limit=70)))
            for name, sub in command.commands.items()
            if not sub.hidden
        ]
    return page


def pages() -> dict[str, str]:
    """Every page's file name and text: s3vault.1 and one per (sub)command."""
    out: dict[str, str] = {}
    stack = [click.Context(cli, info_name="s3vault")]
    while stack:
        ctx = stack.pop()
        out[ctx.command_path.replace(" ", "-") + ".1"] = str(_page(ctx))
        if isinstance(ctx.command, click.Group):
            for name, sub in ctx.command.commands.items():
                if not sub.hidden:
                    stack.append(click.Context(sub, info_name=name, parent=ctx))
    return out


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "man")
    target.mkdir(parents=True, exist_ok=True)
    written = pages()
    for name, text in written.items():
        (target / name).write_text(text)
    print(f"{len(written)} man pages in {target}/ (man -l {target}/s3vault.1)")


if __name__ == "__main__":
    main()
