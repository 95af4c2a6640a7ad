"""s3vault cache [--cleanup] [--max-age DAYS]."""

from __future__ import annotations

import click

from s3vault import (
    DEFAULT_MAX_AGE_DAYS,
    CacheEntry,
    CacheOptions,
    CacheResult,
    ExitCode,
    UsageError,
)
from s3vault import cache as cache_op
from s3vault.cli.context import CliContext
from s3vault.cli.options import cli_context, global_options
from s3vault.cli.render import emit, human_bytes, say


def _ago(days: float) -> str:
    whole = int(days)
    if whole == 0:
        return "today"
    return "1 day ago" if whole == 1 else f"{whole} days ago"


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as aligned text columns; nothing is wrapped or cut (paths stay whole)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]  # fmt: skip


def _rows(entries: tuple[CacheEntry, ...], sizes: bool) -> list[tuple[str, ...]]:
    head = ("Repository", "Last used", "Old", *(("Size",) if sizes else ()), "Location")
    rows = [head]
    for e in entries:
        size = (human_bytes(e.size),) if sizes else ()
        old = ("yes (cleaned)" if e.cleaned else "yes") if e.old else ""
        rows.append((e.repository_id[:8], _ago(e.age_days), old, *size, e.location or "?"))
    return rows


@click.command()
@global_options
@click.option(
    "--cleanup", is_flag=True, help="Remove the caches of repositories not used for --max-age"
)
@click.option(
    "--max-age",
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_AGE_DAYS,
    show_default=True,
    metavar="DAYS",
    help="A cache not used for this many days is old",
)
@click.option("--no-size", is_flag=True, help="Do not add up the size of each cache")
def cache(cleanup: bool, max_age: int, no_size: bool) -> int:
    """List the local cache directories of the repositories this host used (size, last use),
    or remove the old ones with --cleanup, as restic's cache. Needs no repository or password.

    Cleaning keeps two small files that are not a cache: the end of this host's audit chain
    and the Object Lock times it learnt. Everything removed is rebuilt on the next use.

    \b
    Examples:
      s3vault cache
      s3vault cache --cleanup --max-age 60
    """
    ctx = cli_context()
    root = ctx.cache_path()
    if root is None:
        raise UsageError("cache: --no-cache names no cache directory")
    options = CacheOptions(cleanup=cleanup, max_age_days=max_age, sizes=not no_size)
    r = cache_op(root, options)
    if ctx.json:
        for e in r.entries:
            emit(
                ctx,
                "cache",
                repository_id=e.repository_id,
                path=str(e.path),
                location=e.location,
                last_used=e.last_used.isoformat(),
                age_days=round(e.age_days, 3),
                old=e.old,
                cleaned=e.cleaned,
                size=e.size if not no_size else None,
                removed=e in r.removed,
            )
        for path, why in r.failed:
            emit(ctx, "error", item=path, message=why)
        emit(
            ctx,
            "summary",
            cache_dir=str(root),
            caches=len(r.entries),
            old=sum(e.old for e in r.entries),
            removed=len(r.removed),
            freed_bytes=r.freed,
            max_age_days=max_age,
        )
    else:
        _show(ctx, r, cleanup=cleanup, sizes=not no_size)
    for path, why in r.failed:
        if not ctx.json:
            ctx.err.print(f"error: could not clean {path}: {why}", markup=False)
    return ExitCode.FATAL if r.failed else ExitCode.OK


def _show(ctx: CliContext, r: CacheResult, *, cleanup: bool, sizes: bool) -> None:
    """The text output: the table of caches, or what --cleanup removed."""
    old = [e for e in r.entries if e.old and not e.cleaned]
    max_age = r.max_age_days
    if cleanup:
        for e in r.removed:
            where = f" ({e.location})" if e.location else ""
            say(ctx, f"removed the cache of repository {e.repository_id[:8]}{where}: "
                     f"last used {_ago(e.age_days)}")  # fmt: skip
        kept = sum(not e.old for e in r.entries)
        say(ctx, f"{_caches(len(r.removed))} removed ({human_bytes(r.freed)} freed), "
                 f"{kept} used in the last {max_age:g} days kept, in {r.root}")  # fmt: skip
        return
    if not r.entries:
        say(ctx, f"no repository caches in {r.root}")
        return
    say(ctx, f"caches in {r.root}:")
    for line in _columns(_rows(r.entries, sizes)):
        click.echo(line)
    if old:
        them = "it" if len(old) == 1 else "them"
        say(ctx, f"{_caches(len(old))} not used for {max_age:g} days or more: "
                 f"`s3vault cache --cleanup` removes {them}")  # fmt: skip


def _caches(n: int) -> str:
    return "1 cache" if n == 1 else f"{n} caches"
