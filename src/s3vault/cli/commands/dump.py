"""s3vault dump: a file of a snapshot to stdout, or a directory as a tar or zip archive."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import click

from s3vault import (
    DumpOptions,
    S3VaultError,
    SnapshotFilter,
    TagList,
    UsageError,
    cannot_write,
    output_file,
)
from s3vault import dump as dump_op
from s3vault.cli.options import cli_context, global_options, latest_filters
from s3vault.cli.progress import CliProgress
from s3vault.cli.render import Unreadable
from s3vault.cli.session import open_repo


@click.command()
@global_options
@click.argument("snapshot")
@click.argument("path")
@click.option(
    "-a",
    "--archive",
    type=click.Choice(["tar", "zip"]),
    default="tar",
    show_default=True,
    help="Format for a directory (a file is written as its bytes)",
)
@click.option(
    "-t", "--target", type=click.Path(dir_okay=False), help="Write to FILE instead of stdout"
)
@latest_filters
def dump(
    snapshot: str,
    path: str,
    archive: str,
    target: str | None,
    hosts: tuple[str, ...],
    tags: tuple[TagList, ...],
    paths: tuple[str, ...],
) -> int:
    """Write PATH of SNAPSHOT (an id prefix, latest or latest~N) to stdout: a file's bytes,
    a directory (or /) as a tar or zip archive. Streams: memory does not grow with the size.
    --host, --tag and --path choose which snapshot latest means.

    \b
    Examples:
      s3vault dump latest /etc/nginx/nginx.conf > nginx.conf
      s3vault dump latest /etc > etc.tar
      s3vault dump -a zip 1f2e3d4c /srv/www --target www.zip
      s3vault dump latest --host db1 /dumps/mydb.sql > mydb.sql
    """
    ctx = cli_context()
    ctx.stdout_array = True  # stdout carries the data: JSON warnings go to stderr
    if target is None and sys.stdout.isatty():
        raise UsageError("dump writes binary data: redirect stdout or give --target FILE")
    repo = open_repo(ctx, snapshots_ahead=True)
    unreadable = Unreadable(ctx)
    select = SnapshotFilter(hosts=hosts, tags=tags, paths=paths)
    options = DumpOptions(snapshot=snapshot, path=path, archive=archive, select=select)
    with CliProgress(ctx) as progress:  # on stderr: stdout is the data
        if target is None:
            stdout = _Output(sys.stdout.buffer, "to standard output")
            dump_op(repo, options, cast("BinaryIO", stdout), on_error=unreadable, progress=progress)
            stdout.flush()
        else:  # in place, as a shell's > writes (s3vault/outfile.py)
            with _said(target), output_file(Path(target), in_place=True) as out:
                dump_op(
                    repo,
                    options,
                    cast("BinaryIO", _Output(out, target)),
                    on_error=unreadable,
                    progress=progress,
                )
    return unreadable.exit_code()


@contextlib.contextmanager
def _said(where: str) -> Iterator[None]:
    """Opening or finishing the --target file: a failure is said with its path."""
    try:
        yield
    except OSError as exc:
        raise cannot_write(where, exc) from None


class _Output:
    """Where the data goes: a write that fails is said (a full disk: "cannot write to standard
    output", or the --target file, not an internal error); a reader that went away (`| head
    -c`) still ends the command quietly (exit 1)."""

    def __init__(self, raw: Any, where: str) -> None:
        self._raw = raw
        self._where = where

    def write(self, data: bytes) -> int:
        return int(self._said(self._raw.write, data))

    def flush(self) -> None:
        self._said(self._raw.flush)

    def _said(self, call: Callable[..., Any], *args: Any) -> Any:
        try:
            return call(*args)
        except BrokenPipeError:
            raise
        except OSError as exc:
            msg = f"cannot write {self._where}: {exc.strerror or exc}"
            raise S3VaultError(msg) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)
