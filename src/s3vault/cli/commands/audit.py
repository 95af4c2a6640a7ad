"""s3vault audit: list the audit log and verify every host's hash chain."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from s3vault import ExitCode, SystemClock, UsageError, audit_log
from s3vault.cli.options import Duration, cli_context, global_options
from s3vault.cli.render import emit, show
from s3vault.cli.session import open_repo


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        try:
            return SystemClock().now() - Duration().convert(text, None, None)
        except click.BadParameter:
            msg = f"--since {text!r}: use a date (2026-11-01, ISO 8601) or a duration (7d, 12h)"
            raise UsageError(msg) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@click.command()
@global_options
@click.option("-H", "--host", help="Only records of this host")
@click.option("--since", metavar="DATE|DURATION", help="Only records since then (or 7d ago)")
def audit(host: str | None, since: str | None) -> int:
    """List the audit log (one record per command that changed the repository) and verify
    every host's hash chain. With --json: one JSON line per record (for a SIEM), then one per
    chain. Exit 13 when a chain is broken."""
    ctx = cli_context()
    repo = open_repo(ctx, load_index=False)
    report = audit_log(repo, host=host, since=_since(since), cache_dir=ctx.cache_path())
    if ctx.json:
        for r in report.records:
            emit(ctx, "audit_record", **r.to_json())
        for c in report.chains:
            emit(
                ctx,
                "audit_chain",
                hostname=c.hostname,
                records=len(c.records),
                intact=not c.problems,
                problems=c.problems,
                notes=c.notes,
            )
    else:
        for r in report.records:
            result = "ok" if r.exit_code == 0 else f"exit {r.exit_code}: {r.result}"
            show(
                ctx,
                f"{r.time.astimezone():%Y-%m-%d %H:%M:%S}  {r.hostname:<16} #{r.seq:<5} "
                f"{r.username:<10} {r.operation:<18} {result}",
            )
        for c in report.chains:
            state = "intact" if not c.problems else "BROKEN: " + "; ".join(c.problems)
            state += "".join(f" ({note})" for note in c.notes)
            show(ctx, f"chain of {c.hostname}: {len(c.records)} records, {state}")
    if report.broken and not ctx.json:
        ctx.err.print(
            "the audit log was changed: records were deleted, rewritten or damaged. It is "
            "evidence, not something to repair: find who with the bucket's access logs "
            "(CloudTrail data events); `s3vault audit --json` lists every record",
            markup=False,
        )
    return ExitCode.DAMAGED if report.broken else ExitCode.OK
