"""What a package change costs and when it takes effect: the one rule (pure; radbill.services.package_change
applies it, and the admin's and the portal's previews show what it returns).

When (the billing profile's `change_billing`):
- prorate_now: at once, both ways. upgrade_now: a dearer package at once, a cheaper one from the next period
  (what most ISPs do: nobody is refunded for a speed they keep until the period ends). next_period: from the
  next period, both ways; until then the old package (its speed and its price) stays.
- Whatever the setting, a change that moves no money (same price, a free profile, no current period) applies at
  once: there is nothing to bill, so no reason to wait.

How much, for a change that applies at once (today = the local date in the operator's time zone, the current
period [start, end) of the customer's cycle, `days` its full length):
- The period's bill already issued (prepaid bills are issued ahead) charged the old price: the days left, today
  through the period's last day, are charged the difference now:
      prorate(new, left, days) - prorate(old, left, days)
- The period's bill not issued yet (postpaid bills are issued when the period ends; a prepaid period the run has
  not reached): that bill will charge the new price for the whole period, so the days already used (from the
  period's start or the service start, whichever is later, to yesterday) are settled now at the old price:
      prorate(old, used, days) - prorate(new, used, days)
- Positive: a charge (a bill of kind 'package_change'); negative: a credit to the advance wallet. Each prorated
  figure is rounded half-up to a minor unit before the difference is taken, so a change and its reverse on the same
  day cancel exactly. The same formula runs over the sub-operator's wholesale prices for the reseller's side.
- A bill already issued for a later period (a prepaid run bills the next period ahead) charged the old price
  for a period the new package will serve: its whole difference (new - old) is charged or credited now as well,
  whenever the change applies.
- Prices are the customer's (pricing.customer_price): a custom price stays the customer's price whatever the
  package, so such a change moves no money.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from radbill.billing.periods import Period
from radbill.billing.pricing import prorate

SETTINGS = ("prorate_now", "upgrade_now", "next_period")

Applies = Literal["now", "next_period"]
Basis = Literal["days_left", "days_used", "none"]


@dataclass(frozen=True, slots=True)
class ChangeTerms:
    """When a change applies and what it moves now (before VAT): price_delta_minor > 0 is charged, < 0 credited."""

    applies: Applies
    basis: Basis
    days: int  # the days the delta is for (0 when nothing moves)
    period_days: int
    price_delta_minor: int
    wholesale_delta_minor: int

    @property
    def moves_money(self) -> bool:
        return self.price_delta_minor != 0 or self.wholesale_delta_minor != 0


def _delta(old: int, new: int, days: int, period_days: int) -> int:
    return prorate(new, days, period_days) - prorate(old, days, period_days)


def change_terms(setting: str, billing_type: str, old_price: int, new_price: int, period: Period | None,
                 today: date, service_start: date, period_billed: bool, old_wholesale: int = 0,
                 new_wholesale: int = 0, later_billed: int = 0) -> ChangeTerms:
    """The terms of moving from the old to the new price on `today` (see the module rules); `later_billed`:
    how many whole later periods already have a bill at the old price."""
    if setting not in SETTINGS:
        raise ValueError(f"unknown change_billing setting {setting!r}")
    if period is None or billing_type == "free" or (old_price == new_price and old_wholesale == new_wholesale):
        return ChangeTerms("now", "none", 0, period.days if period else 0, 0, 0)
    later = (later_billed * (new_price - old_price), later_billed * (new_wholesale - old_wholesale))
    if setting == "next_period" or (setting == "upgrade_now" and new_price < old_price):
        return ChangeTerms("next_period", "none", 0, period.days, *later)
    if period_billed:
        left = (period.end - today).days
        return ChangeTerms("now", "days_left", left, period.days,
                           _delta(old_price, new_price, left, period.days) + later[0],
                           _delta(old_wholesale, new_wholesale, left, period.days) + later[1])
    used = max(0, (today - max(period.start, service_start)).days)
    return ChangeTerms("now", "days_used", used, period.days,
                       later[0] - _delta(old_price, new_price, used, period.days),
                       later[1] - _delta(old_wholesale, new_wholesale, used, period.days))
