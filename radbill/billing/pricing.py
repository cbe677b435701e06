"""What a customer pays: price choice, proration, VAT, and how a payment is spread over open bills.

Rounding: every division rounds half-up on minor units (`round_half_up_div`); the SQL of bill generation
(radbill.services.billing) uses the same integer formula and a test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from radbill.billing.money import round_half_up_div
from radbill.billing.periods import Period

BASIS_POINTS = 10_000


@dataclass(frozen=True, slots=True)
class Amounts:
    """A bill's money: net + vat == total, all in minor units."""

    net_minor: int
    vat_minor: int
    total_minor: int


def customer_price(package_price_minor: int, retail_price_minor: int | None = None,
                   custom_price_minor: int | None = None) -> int:
    """A customer's custom price wins; then the reseller's retail price for the package; then the package price."""
    for price in (custom_price_minor, retail_price_minor, package_price_minor):
        if price is not None:
            return price
    raise ValueError("a package always has a price")


def prorate(price_minor: int, served_days: int, period_days: int) -> int:
    """Price of `served_days` of a `period_days` period, half-up; the full price when served the whole period."""
    if not 0 <= served_days <= period_days or period_days <= 0:
        raise ValueError("served_days must be within the period")
    if served_days == period_days:
        return price_minor
    return round_half_up_div(price_minor * served_days, period_days)


def first_period_price(price_minor: int, period: Period, service_start: date) -> int:
    """Mid-cycle start rule: a period the customer joined after its start is charged for the days from the
    service start to the period end; any later period is charged in full."""
    if service_start <= period.start:
        return price_minor
    served = max(0, (period.end - service_start).days)
    return prorate(price_minor, served, period.days)


def share_of_period(amount_minor: int, bill_days: int, cycle_days: int | None) -> int:
    """What a bill of `bill_days` owes of a per-period amount (a reseller's wholesale price): the same half-up
    proration as the customer's price; cycle_days None means the bill is a whole period."""
    return amount_minor if cycle_days is None else prorate(amount_minor, bill_days, cycle_days)


def apply_vat(price_minor: int, rate_basis_points: int = 0, price_includes_vat: bool = False) -> Amounts:
    """VAT at `rate_basis_points` (1500 = 15%): exclusive prices get VAT added; inclusive prices have it
    extracted (vat = price * rate / (10000 + rate)), both rounded half-up on minor units."""
    if price_minor < 0 or not 0 <= rate_basis_points <= BASIS_POINTS:
        raise ValueError("price must be >= 0 and the rate 0..10000 basis points")
    if price_includes_vat:
        vat = round_half_up_div(price_minor * rate_basis_points, BASIS_POINTS + rate_basis_points)
        return Amounts(price_minor - vat, vat, price_minor)
    vat = round_half_up_div(price_minor * rate_basis_points, BASIS_POINTS)
    return Amounts(price_minor, vat, price_minor + vat)


@dataclass(frozen=True, slots=True)
class Allocation:
    """How much of a payment goes to each open bill (same order as given) and what is left for the wallet."""

    applied: tuple[int, ...]
    fully_paid: tuple[bool, ...]
    remainder: int


def allocate(amount_minor: int, outstanding: Sequence[int]) -> Allocation:
    """Spread a payment over open bills in the order given (oldest first), the rest becomes advance credit."""
    if amount_minor < 0 or any(o < 0 for o in outstanding):
        raise ValueError("amounts must be >= 0")
    applied, fully, left = [], [], amount_minor
    for owed in outstanding:
        part = min(left, owed)
        applied.append(part)
        fully.append(part == owed)
        left -= part
    return Allocation(tuple(applied), tuple(fully), left)
