"""s3vault cost: the monthly bill of a repository, line by line, and its projection; with
--plan, the bill of a fleet that does not exist yet, from its parameters."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from s3vault import NETWORK_PATHS, CostOptions, Estimate, FleetPlan, Pricing, UsageError, plan_cost
from s3vault import cost as cost_op
from s3vault.cli.context import CliContext
from s3vault.cli.options import Finite, cli_context, global_options
from s3vault.cli.render import emit, show
from s3vault.cli.session import open_repo

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?", re.IGNORECASE)
_UNITS = {"k": 1 / 1024**2, "m": 1 / 1024, "g": 1.0, "": 1.0, "t": 1024.0, "p": 1024.0**2}
_PLAN_ONLY = ("hosts", "data_per_host", "daily_change", "fleet_data", "fleet_daily_change")
_EGRESS = {"internet": "internet", "none": "gateway-endpoint", "region": "inter-region"}


if TYPE_CHECKING:  # generic only in newer click; do not subscript at run time
    _FloatBase = click.ParamType[float]
else:
    _FloatBase = click.ParamType


class Gigabytes(_FloatBase):
    """A size in GB (2^30 bytes): ``50``, ``50G``, ``1T``, ``1.5TB``, ``500M``."""

    name = "size"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        """GB as a float; a usage error for anything else."""
        if isinstance(value, float):
            return value
        m = _SIZE.fullmatch(str(value).strip())
        if not m:
            self.fail(f"{value!r} is not a size (e.g. 50G, 1T; a bare number is GB)", param, ctx)
        return float(m.group(1)) * _UNITS[m.group(2).lower()]


def _plan_options(f: Any) -> Any:
    options = [
        click.option("--plan", is_flag=True, help="Price a planned fleet (no repository)"),
        click.option("--hosts", type=click.IntRange(1), help="Plan: number of hosts"),
        click.option("--data-per-host", type=Gigabytes(), help="Plan: first backup per host"),
        click.option("--daily-change", type=Gigabytes(), help="Plan: new data per host per day"),
        click.option("--fleet-data", type=Gigabytes(), help="Plan: first backups of all hosts"),
        click.option("--fleet-daily-change", type=Gigabytes(), help="Plan: all hosts, per day"),
        click.option("--dedup-ratio", type=Finite(0, min_open=True), default=1.0,
                     show_default=True),
        click.option("--compression-ratio", type=Finite(0, min_open=True), default=1.0,
                     show_default=True),
        click.option("--retention-days", type=Finite(0), default=30, show_default=True),
        click.option("--storage-class", default="STANDARD", show_default=True,
                     help="Plan: storage class of the data packs"),
        click.option("--backups-per-day", type=Finite(0), default=1, show_default=True),
        click.option("--drills-per-month", type=Finite(0), default=1,
                     show_default=True, help="Plan: restore drills per host per month"),
        click.option("--drill-percent", type=Finite(0, 100), default=10,
                     show_default=True, help="Plan: share of a host's data a drill restores"),
    ]  # fmt: skip
    for option in reversed(options):
        f = option(f)
    return f


@click.command()
@global_options
@click.option("--region", help="Price region (default: --s3-region, else us-east-1)")
@click.option(
    "--prices",
    "prices_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Price table (JSON, the shape of the shipped one)",
)
@click.option("--months", type=click.IntRange(1, 120), default=12, show_default=True,
              help="Project this many months ahead")  # fmt: skip
@click.option("--days", type=Finite(1, 36500), default=30, show_default=True,
              help="Traffic: the audit log of this many days")  # fmt: skip
@click.option(
    "--network",
    type=click.Choice(NETWORK_PATHS),
    help="How the hosts reach S3 (default: the profile's [cost] network, else internet)",
)
@click.option("--azs", type=click.IntRange(1), help="NAT gateways / interface endpoint AZs")
@click.option("--egress", type=click.Choice(sorted(_EGRESS)), hidden=True)  # before --network
@click.option("--sse-kms", is_flag=True, help="Objects are encrypted with SSE-KMS")
@click.option("--bucket-key", is_flag=True, help="SSE-KMS with S3 bucket keys")
@click.option("--replica-region", help="The bucket is replicated to this region")
@_plan_options
def cost(**kw: Any) -> int:
    """What the repository costs per month from its real contents (storage per class, early
    deletions) and its real traffic (requests and bytes the audit log recorded, over the
    network path the hosts use), with every line's quantity, unit price and source, and a
    projection under the observed growth. With --plan: a fleet's bill from its parameters."""
    ctx = cli_context()
    pricing = _pricing(ctx, kw)
    if kw["plan"]:
        hosts = kw["hosts"]
        if hosts is not None and kw["fleet_data"] is not None:
            kw["data_per_host"] = kw["fleet_data"] / hosts
        if hosts is not None and kw["fleet_daily_change"] is not None:
            kw["daily_change"] = kw["fleet_daily_change"] / hosts
        if hosts is None or kw["data_per_host"] is None or kw["daily_change"] is None:
            msg = (
                "--plan needs --hosts, --data-per-host (or --fleet-data) and --daily-change "
                "(or --fleet-daily-change)"
            )
            raise UsageError(msg)
        plan = FleetPlan(
            hosts=kw["hosts"],
            data_gb=kw["data_per_host"],
            daily_change_gb=kw["daily_change"],
            dedup_ratio=kw["dedup_ratio"],
            compression_ratio=kw["compression_ratio"],
            retention_days=kw["retention_days"],
            storage_class=kw["storage_class"].upper(),
            backups_per_day=kw["backups_per_day"],
            drills_per_month=kw["drills_per_month"],
            drill_percent=kw["drill_percent"],
        )
        e = plan_cost(plan, pricing, prices_file=kw["prices_file"])
    else:
        given = [k for k in _PLAN_ONLY if kw[k] is not None]
        if given:
            flag = "--" + given[0].replace("_", "-")
            raise UsageError(f"{flag} describes a planned fleet: add --plan")
        options = CostOptions(
            pricing=pricing, prices_file=kw["prices_file"], months=kw["months"], days=kw["days"]
        )
        e = cost_op(open_repo(ctx), options)
    _render(ctx, e, kw["months"])
    return 0


def _pricing(ctx: CliContext, kw: dict[str, Any]) -> Pricing:
    """The flags, else the profile's [cost] table, else the defaults."""
    table = ctx.profile.table("cost") if ctx.profile is not None else {}
    network = kw["network"] or (_EGRESS[kw["egress"]] if kw["egress"] else None)
    return Pricing(
        region=kw["region"] or table.get("region") or ctx.s3_region or "us-east-1",
        network=network or table.get("network") or "internet",
        azs=kw["azs"] or table.get("azs") or 1,
        sse_kms=kw["sse_kms"] or kw["bucket_key"] or bool(table.get("sse_kms")),
        bucket_key=kw["bucket_key"] or bool(table.get("bucket_key")),
        replica_region=kw["replica_region"] or table.get("replica_region"),
    )


def _render(ctx: CliContext, e: Estimate, months: int) -> None:
    if ctx.json:
        emit(ctx, "cost", **dataclasses.asdict(e))
        return
    show(ctx, f"monthly cost in {e.region}, list prices as of {e.prices_as_of} ({e.currency}):")
    for i in e.items:
        if not i.billed_to:
            _say_line(ctx, i)
    show(ctx, f"  {'total':<48} {e.monthly:>58.2f}")
    if e.other_accounts:
        show(ctx, "billed to the source account (a DR copy's reads):")
        for i in e.items:
            if i.billed_to:
                _say_line(ctx, i)
        show(ctx, f"  {'total':<48} {e.other_accounts:>58.2f}")
    if e.one_time:
        show(ctx, "once:")
        for i in e.one_time:
            _say_line(ctx, i)
        show(ctx, f"  {'total':<48} {e.one_time_total:>58.2f}")
    for m in sorted({1, 3, 6, 12, months} & set(e.projection)):
        show(ctx, f"  in {m:>3} months: {e.projection[m]:.2f} per month")


def _say_line(ctx: CliContext, i: Any) -> None:
    show(
        ctx,
        f"  {i.item:<48} {i.quantity:>14.4f} {i.unit:<16} x {i.unit_price:<8g} = "
        f"{i.cost:>10.2f}   ({i.source})",
    )
