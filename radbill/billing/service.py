"""What a paid bill buys: the span of service it charges for and the expiry it leads to (rules 1 and 3 of
radbill.billing). Pure: dates and instants in, instants out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from radbill.billing.periods import Period, local_midnight_utc


def charged_period(period: Period, service_start: date) -> Period:
    """The part of `period` a bill charges for: from the service start when the customer joined after the
    period began (the prorated first bill), else the whole period."""
    if not service_start < period.end:
        raise ValueError("the service starts after this period: there is nothing to bill")
    return Period(max(period.start, service_start), period.end, period.index)


@dataclass(frozen=True, slots=True)
class PaidSpan:
    """A fully paid bill's period as UTC instants: local midnight of its first day to that of its end."""

    start_at: datetime
    end_at: datetime

    @classmethod
    def of_bill(cls, period_start: date, period_end: date, timezone: str) -> PaidSpan:
        return cls(local_midnight_utc(period_start, timezone), local_midnight_utc(period_end, timezone))


def extend_expiry(expires_at: datetime | None, paid: Iterable[PaidSpan], billing_type: str,
                  now: datetime) -> datetime | None:
    """The expiry after `paid` bills are settled at `now`, oldest first: each adds exactly its length, counted
    from the later of the current expiry and its start — but from no later than `now` when the expiry lies
    before it: a prepaid period paid before it starts (its bill is issued ahead) by a customer whose expiry
    falls short of it would otherwise be served, unpaid, until it starts (one expiry cannot leave a hole).
    Postpaid without an expiry keeps none; a prepaid customer without one counts from the first start."""
    for span in sorted(paid, key=lambda s: (s.start_at, s.end_at)):
        if expires_at is None and billing_type == "postpaid":
            return None
        base = span.start_at if expires_at is None else max(expires_at, min(span.start_at, now))
        expires_at = base + (span.end_at - span.start_at)
    return expires_at
