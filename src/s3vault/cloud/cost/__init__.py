"""The S3 bill: the price table (prices.py), line items (items.py), the network path
(network.py), the bill of an existing repository (estimate.py) and of a planned fleet
(plan.py)."""

from s3vault.cloud.cost.estimate import Pricing, Usage, estimate
from s3vault.cloud.cost.items import Estimate, LineItem
from s3vault.cloud.cost.network import NETWORK_PATHS
from s3vault.cloud.cost.plan import FleetPlan, plan_bill
from s3vault.cloud.cost.prices import DAY, GB, MONTH_DAYS, load_prices, region_prices

__all__ = [
    "DAY",
    "GB",
    "MONTH_DAYS",
    "NETWORK_PATHS",
    "Estimate",
    "FleetPlan",
    "LineItem",
    "Pricing",
    "Usage",
    "estimate",
    "load_prices",
    "plan_bill",
    "region_prices",
]
