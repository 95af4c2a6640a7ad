"""The records of a bill: line items (quantity × unit price, with where the quantity came from)
and the estimate that adds them up."""

from __future__ import annotations

from dataclasses import dataclass

THIS_ACCOUNT = ""  # billed_to of the repository's own account
SOURCE_ACCOUNT = "source account"  # a DR copy's reads: billed to the account that owns them


@dataclass(frozen=True, slots=True, kw_only=True)
class LineItem:
    """One traceable figure of the bill."""

    item: str
    quantity: float
    unit: str
    unit_price: float
    cost: float
    source: str
    billed_to: str = THIS_ACCOUNT  # another account pays this line (not in ``monthly``)


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    """The monthly bill and its projection.

    ``monthly`` adds this account's monthly items; ``one_time`` are charges paid once (a first
    backup's upload, the first replication of existing data), ``other_accounts`` the monthly
    lines another account pays (a DR copy's reads at the source)."""

    region: str
    currency: str
    prices_as_of: str
    items: tuple[LineItem, ...]
    monthly: float
    projection: dict[int, float]  # months ahead → monthly cost then
    one_time: tuple[LineItem, ...] = ()
    one_time_total: float = 0.0
    other_accounts: float = 0.0

    @classmethod
    def of(
        cls,
        *,
        region: str,
        prices: dict[str, object],
        items: list[LineItem],
        projection: dict[int, float],
        one_time: list[LineItem],
    ) -> Estimate:
        """The estimate of these monthly and one-time items, priced from the table ``prices``
        (its currency and date): ``monthly`` is what this account pays, ``other_accounts``
        the rest."""
        monthly = total(items)
        return cls(
            region=region,
            currency=str(prices.get("currency", "USD")),
            prices_as_of=str(prices.get("as_of", "")),
            items=tuple(items),
            monthly=monthly,
            projection=projection,
            one_time=tuple(one_time),
            one_time_total=total(one_time),
            other_accounts=sum(i.cost for i in items) - monthly,
        )


def line(item: str, quantity: float, unit: str, price: float, source: str, **kw: str) -> LineItem:
    """A line item: cost = quantity × unit price."""
    cost = quantity * price
    return LineItem(
        item=item, quantity=quantity, unit=unit, unit_price=price, cost=cost, source=source, **kw
    )


def tiered_line(
    item: str, parts: list[tuple[float, float]], unit: str, source: str, **kw: str
) -> list[LineItem]:
    """One line per price tier used (a tiered price, e.g. internet egress); a single line
    at the first tier's price when nothing is used."""
    if len(parts) <= 1:
        quantity, price = parts[0] if parts else (0.0, 0.0)
        return [line(item, quantity, unit, price, source, **kw)]
    return [
        line(f"{item} (tier {n})", quantity, unit, price, source, **kw)
        for n, (quantity, price) in enumerate(parts, start=1)
    ]


def total(items: tuple[LineItem, ...] | list[LineItem]) -> float:
    """What this account pays for these items."""
    return sum(i.cost for i in items if i.billed_to == THIS_ACCOUNT)
