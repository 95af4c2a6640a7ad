"""How the hosts reach S3, priced: the network path's line items for a month of traffic.

- ``gateway-endpoint``: an S3 gateway VPC endpoint. Free (no hourly, no per-GB charge); reads
  stay inside AWS, so no transfer out either.
- ``interface-endpoint``: an S3 interface endpoint (PrivateLink): per hour per Availability
  Zone it is deployed in, plus per GB processed in either direction (tiered).
- ``nat``: hosts in private subnets through a NAT gateway: per gateway-hour plus per GB
  processed in either direction (us-east-1: $0.045/GB, so a TB uploaded costs about $46);
  S3 in the same region charges no transfer on top.
- ``internet``: hosts outside AWS. Uploads are free (data transfer in); what they read
  (restores, verify, restore drills) is data transfer out to the internet, tiered, after
  AWS's monthly free allowance (account-wide: other services may use it up first).
- ``inter-region``: hosts in another AWS region: their reads are inter-region transfer.
"""

from __future__ import annotations

from s3vault.cloud.cost.items import LineItem, line, tiered_line
from s3vault.cloud.cost.prices import RegionPrices, tiered
from s3vault.errors import UsageError

NETWORK_PATHS = ("gateway-endpoint", "interface-endpoint", "nat", "internet", "inter-region")


def network_items(
    p: RegionPrices, *, path: str, gb_up: float, gb_down: float, azs: int, source: str
) -> list[LineItem]:
    """The line items of a month of ``gb_up`` uploaded and ``gb_down`` downloaded over ``path``
    (``azs``: NAT gateways, or the Availability Zones of the interface endpoint).

    Raises:
        UsageError: an unknown path, or the price table lacks its prices.
    """
    hours = p.hours_per_month
    both = gb_up + gb_down
    moved = f"{source}: uploads and downloads"
    if path == "gateway-endpoint":
        return [line("S3 gateway endpoint (free)", both, "GB", 0.0, moved)]
    if path == "interface-endpoint":
        return [
            line(
                "interface endpoint hours",
                hours * azs,
                "endpoint-AZ-hour",
                p.number("interface_endpoint_hour"),
                f"{azs} AZ x {hours:g} hours a month",
            ),
            *tiered_line(
                "interface endpoint data processed",
                tiered(both, p.tiers("interface_endpoint_gb_tiers")),
                "GB",
                moved,
            ),
        ]
    if path == "nat":
        return [
            line(
                "NAT gateway hours",
                hours * azs,
                "gateway-hour",
                p.number("nat_gateway_hour"),
                f"{azs} gateway(s) x {hours:g} hours a month",
            ),
            line("NAT gateway data processed", both, "GB", p.number("nat_gateway_gb"), moved),
        ]
    if path == "internet":
        free = p.internet_free_gb
        billable = max(0.0, gb_down - free)
        return tiered_line(
            "data transfer out (internet)",
            tiered(billable, p.tiers("internet_out_gb_tiers")),
            "GB",
            f"{source}: downloads, less AWS's free {free:g} GB a month (account-wide); "
            "uploads are free",
        )
    if path == "inter-region":
        return [
            line(
                "data transfer out (to the hosts' region)",
                gb_down,
                "GB",
                p.number("inter_region_out_gb"),
                f"{source}: downloads",
            )
        ]
    msg = f"unknown network path {path!r} (one of: {', '.join(NETWORK_PATHS)})"
    raise UsageError(msg)
