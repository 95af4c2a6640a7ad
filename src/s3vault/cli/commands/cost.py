"""s3vault cost: the monthly bill of a repository, line by line, and its projection."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from s3vault import CostOptions
from s3vault import cost as cost_op
from s3vault.cli.options import cli_context, global_options
from s3vault.cli.render import emit, say
from s3vault.cli.session import open_repo


@click.command()
@global_options
@click.option("--region", help="Price region (default: --s3-region, else us-east-1)")
@click.option(
    "--prices",
    "prices_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Price table (JSON, the shape of the shipped one)",
)
@click.option(
    "--months",
    type=click.IntRange(1, 120),
    default=12,
    show_default=True,
    help="Project this many months ahead",
)
@click.option(
    "--days",
    type=click.FloatRange(1),
    default=30,
    show_default=True,
    help="Traffic: the audit log of this many days",
)
@click.option(
    "--egress",
    type=click.Choice(["internet", "region", "none"]),
    default="internet",
    show_default=True,
    help="Where restores and verify download to: the internet, another AWS region, or none "
    "(hosts in the bucket's region: free)",
)
@click.option("--sse-kms", is_flag=True, help="Objects are encrypted with SSE-KMS (no bucket keys)")
@click.option("--replica-region", help="The bucket is replicated to this region")
def cost(
    region: str | None,
    prices_file: Path | None,
    months: int,
    days: float,
    egress: str,
    sse_kms: bool,
    replica_region: str | None,
) -> int:
    """What the repository costs per month from its real contents (storage per class, early
    deletions) and its real traffic (requests and downloads the audit log recorded), with every
    line's quantity, unit price and source, and a projection under the observed growth."""
    ctx = cli_context()
    repo = open_repo(ctx)
    options = CostOptions(
        region=region or ctx.s3_region or "us-east-1",
        prices_file=prices_file,
        months=months,
        days=days,
        egress=egress,
        sse_kms=sse_kms,
        replica_region=replica_region,
    )
    e = cost_op(repo, options)
    if ctx.json:
        emit(ctx, "cost", **dataclasses.asdict(e))
        return 0
    say(ctx, f"monthly cost in {e.region}, prices as of {e.prices_as_of} ({e.currency}):")
    for i in e.items:
        say(
            ctx,
            f"  {i.item:<32} {i.quantity:>14.4f} {i.unit:<14} x {i.unit_price:<8g} = "
            f"{i.cost:>10.4f}   ({i.source})",
        )
    say(ctx, f"  {'total':<32} {e.monthly:>58.4f}")
    for m in sorted({1, 3, 6, 12, months} & set(e.projection)):
        say(ctx, f"  in {m:>3} months: {e.projection[m]:.4f} per month")
    return 0
