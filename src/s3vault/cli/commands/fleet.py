"""s3vault fleet: one row per host — protected? proven? growing? — exit 13 when one is overdue."""

from __future__ import annotations

from datetime import timedelta

import click
from rich.table import Table

from s3vault import ExitCode, FleetOptions, FleetResult, HostRow, UsageError
from s3vault import fleet as fleet_op
from s3vault.cli.context import CliContext
from s3vault.cli.options import Duration, Finite, cli_context, global_options
from s3vault.cli.render import cells, emit, human_bytes, human_duration, print_table, printable, say
from s3vault.cli.session import open_repo

NO_LEDGER = "no ledger yet"


def expectations(ctx: CliContext, given: tuple[str, ...]) -> tuple[tuple[str, timedelta], ...]:
    """``--expect HOST=INTERVAL`` entries, then the config profile's ``[fleet] expect`` table
    (the flags first: the first match wins).

    Raises:
        UsageError: an entry without ``=`` or with a bad interval.
    """
    table = ctx.profile.table("fleet").get("expect", {}) if ctx.profile else {}
    pairs = [tuple(g.split("=", 1)) for g in given]
    if not isinstance(table, dict):
        raise UsageError("config profile [fleet] expect must be a table of HOST = INTERVAL")
    pairs += [(str(k), str(v)) for k, v in table.items()]
    out = []
    for pair in pairs:
        if len(pair) != 2 or not pair[0]:
            raise UsageError(f"--expect {'='.join(pair)}: give HOST=INTERVAL, like web-*=1d")
        host, text = pair
        try:
            interval = Duration().convert(text, None, None)
        except click.BadParameter:
            msg = f"--expect {host}={text}: {text!r} is not an interval like 1d or 6h"
            raise UsageError(msg) from None
        if interval.total_seconds() <= 0:
            raise UsageError(f"--expect {host}={text}: the interval must be positive")
        out.append((host, interval))
    return tuple(out)


@click.command()
@global_options
@click.option(
    "--expect",
    multiple=True,
    metavar="HOST=INTERVAL",
    help="The backup interval a host (a glob: web-*) is expected to keep; repeatable, first "
    "match wins (else inferred from its history; also a profile's [fleet] expect table)",
)
@click.option(
    "--overdue-factor",
    type=Finite(1.0),
    default=1.5,
    show_default=True,
    help="A host is overdue when its last backup is older than this many intervals",
)
@click.option(
    "--history",
    type=click.IntRange(2, 1000),
    default=10,
    show_default=True,
    help="Snapshots per host and path set read to infer its schedule",
)
@click.option(
    "--no-proofs",
    is_flag=True,
    help="Skip each host's 'last proven' (it reads the index and walks each host's latest "
    "trees: about 10 µs a file; for a paging timer on a very large repository)",
)
def fleet(expect: tuple[str, ...], overdue_factor: float, history: int, no_proofs: bool) -> int:
    """One row per host from the repository's metadata alone (snapshots, drill records, the
    audit log; read-only credentials suffice, nothing is written): last success, its age
    against the expected schedule, the last snapshot's size and added data, the last restore
    drill and its projected RTO, when every pack its latest snapshots need was last proven
    (the verification ledger), and warnings. Exit code 13 when a host is overdue (for a
    timer that pages); 0 otherwise.

    \b
    Examples:
      s3vault fleet
      s3vault fleet --expect 'db*=6h' --expect '*=1d'
      s3vault fleet --json | jq -c 'select(.message_type=="host" and .overdue)'
    """
    ctx = cli_context()
    options = FleetOptions(
        expect=expectations(ctx, expect),
        overdue_factor=overdue_factor,
        history=history,
        proofs=not no_proofs,
    )
    result = fleet_op(open_repo(ctx, load_index=False), options)
    if ctx.json:
        for row in result.rows:
            emit(ctx, "host", **_row_fields(row, result))
        emit(ctx, "fleet_summary", **_summary(result))
    else:
        _show(ctx, result)
    return ExitCode.DAMAGED if result.overdue else 0


def _row_fields(row: HostRow, result: FleetResult) -> dict[str, object]:
    fields = {f: getattr(row, f) for f in row.__dataclass_fields__}
    if result.ledger is None:
        fields["last_proven"] = NO_LEDGER
    return fields


def _summary(result: FleetResult) -> dict[str, object]:
    return {
        "hosts": len(result.rows),
        "overdue": [r.host for r in result.overdue],
        "snapshots_listed": result.snapshots_listed,
        "snapshots_read": result.snapshots_read,
        "requests": result.requests,
        "ledger": result.ledger is not None,
        "proofs": result.proofs,
    }


def _age(row: HostRow) -> str:
    if row.age_seconds is None:
        return "never"
    if row.expected_seconds is None:
        return f"{human_duration(row.age_seconds)} / ?"
    mark = "~" if row.schedule == "inferred" else ""
    return f"{human_duration(row.age_seconds)} / {mark}{human_duration(row.expected_seconds)}"


def _drill(row: HostRow) -> str:
    if row.drill_time is None:
        return "-"
    verdict = "passed" if row.drill_passed else "FAILED"
    rto = f" RTO {human_duration(row.drill_rto_seconds)}" if row.drill_rto_seconds else ""
    return f"{row.drill_time:%Y-%m-%d} {verdict}{rto}"


def _show(ctx: CliContext, result: FleetResult) -> None:
    if not result.rows:
        say(ctx, "no snapshots in this repository (name the hosts you expect: --expect HOST=1d)")
        return
    table = Table(box=None, pad_edge=False)
    for title in ("host", "status", "last success", "age / interval", "size", "added"):
        table.add_column(title)
    for title in ("last drill", "last proven", "warnings"):
        table.add_column(title)
    for row in result.rows:
        proven = row.proven_text(ledger=result.ledger is not None)
        table.add_row(
            *cells(printable(row.host)),
            row.status.upper() if row.overdue else row.status,
            f"{row.last_success:%Y-%m-%d %H:%M}" if row.last_success else "-",
            _age(row),
            human_bytes(row.last_bytes) if row.last_success else "-",
            human_bytes(row.last_added) if row.last_success else "-",
            _drill(row),
            proven,
            "; ".join(row.warnings),
        )
    print_table(ctx, table)
    r = result.requests
    say(
        ctx,
        f"{len(result.rows)} hosts, {len(result.overdue)} overdue; "
        f"{result.snapshots_read} of {result.snapshots_listed} snapshot files read "
        f"({r.get} GET, {r.list} LIST requests: the rest from the local cache)",
    )
