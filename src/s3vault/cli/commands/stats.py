"""s3vault stats: stored against restored, dedup and compression, growth and a projection."""

from __future__ import annotations

import dataclasses

import click

from s3vault import stats as stats_op
from s3vault.cli.options import cli_context, global_options
from s3vault.cli.render import emit, human_bytes, show
from s3vault.cli.session import open_repo


@click.command()
@global_options
@click.option("--history", is_flag=True, help="Also list every snapshot's size and added data")
def stats(history: bool) -> int:
    """Repository size stored and restorable, deduplication and compression ratios, growth
    per host and path set, and a capacity projection (before retention removes anything)."""
    ctx = cli_context()
    s = stats_op(open_repo(ctx))
    if ctx.json:
        fields = dataclasses.asdict(s)
        if not history:
            for host in fields["hosts"]:
                host.pop("history")
        emit(ctx, "stats", **fields)
        return 0
    show(ctx, f"snapshots:        {s.snapshots}")
    show(ctx, f"stored:           {human_bytes(s.stored_bytes)} in {s.packs} packs")
    blobs = f"{s.data_blobs} data blobs, {s.tree_blobs} trees"
    show(ctx, f"unique data:      {human_bytes(s.unique_raw_bytes)} ({blobs})")
    latest = "latest snapshot of each host and path set"
    show(ctx, f"restore size:     {human_bytes(s.restore_bytes)} ({latest})")
    show(
        ctx, f"dedup ratio:      {s.dedup_ratio:.2f}   compression ratio: {s.compression_ratio:.2f}"
    )
    show(ctx, f"growth:           {human_bytes(s.growth_bytes_per_day)}/day")
    for months, size in s.projection.items():
        show(ctx, f"  in {months:>2} months:  {human_bytes(size)} stored")
    for h in s.hosts:
        show(
            ctx,
            f"{h.hostname} {','.join(h.paths)}: {h.snapshots} snapshots, latest "
            f"{human_bytes(h.latest_bytes)}, added {human_bytes(h.added_bytes)}, "
            f"{human_bytes(h.growth_bytes_per_day)}/day",
        )
        if history:
            for when, covered, added in h.history:
                show(ctx, f"    {when}  {human_bytes(covered):>12}  +{human_bytes(added)}")
    return 0
