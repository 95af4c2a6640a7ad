"""s3vault report: the fleet's history as one self-contained HTML page."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import click

from s3vault import (
    FleetOptions,
    ReportOptions,
    UsageError,
    cannot_write,
    is_report,
    write_output,
)
from s3vault import report as report_op
from s3vault.cli.commands.fleet import expectations
from s3vault.cli.options import Duration, cli_context, global_options
from s3vault.cli.render import emit, say
from s3vault.cli.session import open_repo
from s3vault.cli.streams import write_stdout


@click.command()
@global_options
@click.option(
    "--html",
    "html_file",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),  # a str: ./- is a file named -
    help="Write the page to FILE ('-': to standard output, and nothing else there)",
)
@click.option(
    "--since",
    type=Duration(),
    default="90d",
    show_default=True,
    help="The period the plots cover",
)
@click.option("--expect", multiple=True, metavar="HOST=INTERVAL", help="As fleet --expect")
@click.option("--region", help="Price region (default: --s3-region, else us-east-1)")
@click.option(
    "--storage-class", default="STANDARD", show_default=True, help="Price the data as this class"
)
@click.option(
    "--prices",
    "prices_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Price table (JSON, the shape of the shipped one)",
)
def report(
    html_file: str,
    since: timedelta,
    expect: tuple[str, ...],
    region: str | None,
    storage_class: str,
    prices_file: Path | None,
) -> int:
    """Write one self-contained HTML page (no network needed to open it: no script, inline
    SVG plots): stored against logical size and the dedup ratio, data added per day per host,
    backup duration and throughput, restore-drill RTO against its target, verification
    coverage, storage cost per month, and the fleet table. Reads what `fleet` reads, plus
    the index. Needs the plotting extra: pip install 's3vault[report]'.

    \b
    Examples:
      s3vault report --html /var/www/backup/report.html
      s3vault report --html week.html --since 7d --expect '*=1d'
      s3vault report --html - | ssh web 'cat > /var/www/backup/report.html'
    """
    ctx = cli_context()
    to_stdout = html_file == "-"
    ctx.stdout_array = to_stdout  # stdout carries the page: JSON warnings go to stderr
    if since.total_seconds() <= 0:
        raise UsageError("--since must be a positive duration, like 30d")
    options = ReportOptions(
        since=since,
        fleet=FleetOptions(expect=expectations(ctx, expect)),
        region=region or ctx.s3_region or "us-east-1",
        storage_class=storage_class,
        prices_file=prices_file,
    )
    if not to_stdout:
        _refuse_to_replace(Path(html_file))
    result = report_op(open_repo(ctx), options)
    if to_stdout:  # the page is the output (as cat's object): no line about it
        write_stdout(result.html.encode())
        return 0
    try:
        write_output(Path(html_file), result.html.encode())
    except OSError as exc:
        raise cannot_write(html_file, exc) from None
    figures = [f.id for f in result.data.figures]
    if ctx.json:
        emit(ctx, "report", file=str(html_file), figures=figures, hosts=len(result.data.fleet.rows))
    else:
        f = result.data.fleet
        r = f.requests
        say(
            ctx,
            f"wrote {html_file}: {len(figures)} plots, {len(f.rows)} hosts, {len(f.overdue)} "
            f"overdue; {f.snapshots_read} of {f.snapshots_listed} snapshot files and "
            f"{len(f.drills)} drills read ({r.get} GET, {r.list} LIST requests)",
        )
    return 0


def _refuse_to_replace(path: Path) -> None:
    """A file that exists and is not an earlier report is never overwritten (``report --html``
    given a repository's config had replaced it: an attack pass, 2026-12-07).

    Raises:
        UsageError: it is another file.
    """
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return  # a FIFO, a device, a directory: never read (write_output handles them)
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError:
        return  # none there, or unreadable: write_output says what it cannot do
    if head and not is_report(head):
        msg = (
            f"{path} exists and is not a report s3vault wrote: it is not replaced (remove it, "
            "or give another file)"
        )
        raise UsageError(msg)
