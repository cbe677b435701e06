"""Billing periods in the operator's time zone.

A period is the half-open range of local dates [start, end): `end` is the next period's start, so periods are
contiguous and never overlap, and the boundary instants are local midnights converted to UTC.

- fixed_day: the period starts on `billing_day` of every month; in a month too short for it, on that month's last
  day. Each start is computed from the billing day and the month, never from the previous start, so a day-31
  cycle runs Jan 31 -> Feb 28/29 -> Mar 31.
- validity_days: periods of `validity_days` days counted from the anchor date (period k starts at
  anchor + k * validity_days); there is no period before the anchor.

Data-cap windows (`cap_window`) reuse these periods: a package counts usage per calendar month or per the
customer's billing cycle. The SQL function radbill_cap_window (migration 0013) computes the same windows for the
RADIUS policy view; a test holds the two equal.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

CYCLE_KINDS = ("fixed_day", "validity_days")
CAP_PERIODS = ("calendar_month", "billing_cycle")
BILLING_TYPES = ("prepaid", "postpaid", "free")


@dataclass(frozen=True, slots=True)
class Cycle:
    """How a customer's periods repeat: a fixed monthly day, or N days from an anchor date."""

    kind: str
    billing_day: int | None = None
    validity_days: int | None = None
    anchor: date | None = None

    def __post_init__(self):
        if self.kind == "fixed_day" and not (self.billing_day and 1 <= self.billing_day <= 31):
            raise ValueError("a fixed_day cycle needs billing_day 1..31")
        if self.kind == "validity_days" and not (self.validity_days and self.validity_days > 0
                                                 and self.anchor is not None):
            raise ValueError("a validity_days cycle needs validity_days > 0 and an anchor date")
        if self.kind not in CYCLE_KINDS:
            raise ValueError(f"unknown cycle kind {self.kind!r}")


@dataclass(frozen=True, slots=True)
class Period:
    """Local dates [start, end) of one billing period and its index in the cycle."""

    start: date
    end: date
    index: int

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    def start_at(self, tz: str) -> datetime:
        return local_midnight_utc(self.start, tz)

    def end_at(self, tz: str) -> datetime:
        return local_midnight_utc(self.end, tz)


def local_midnight_utc(day: date, tz: str) -> datetime:
    """The UTC instant at which `day` begins in time zone `tz`."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def local_date(at: datetime, tz: str) -> date:
    """The calendar date in `tz` at the aware instant `at`."""
    if at.tzinfo is None:
        raise ValueError("local_date needs an aware datetime")
    return at.astimezone(ZoneInfo(tz)).date()


def _month_start(billing_day: int, month_index: int) -> date:
    year, month0 = divmod(month_index, 12)
    return date(year, month0 + 1, min(billing_day, calendar.monthrange(year, month0 + 1)[1]))


def period_at(cycle: Cycle, index: int) -> Period:
    """Period number `index` of the cycle (fixed_day: months since year 0; validity_days: periods since anchor)."""
    if cycle.kind == "fixed_day":
        return Period(_month_start(cycle.billing_day, index), _month_start(cycle.billing_day, index + 1), index)
    step = timedelta(days=cycle.validity_days)
    return Period(cycle.anchor + index * step, cycle.anchor + (index + 1) * step, index)


def _validity_index(cycle: Cycle, day: date) -> int:
    return (day - cycle.anchor).days // cycle.validity_days  # floor: negative before the anchor


def period_containing(cycle: Cycle, day: date) -> Period | None:
    """The period whose [start, end) holds the local date `day`; None before a validity cycle's anchor."""
    if cycle.kind == "fixed_day":
        index = day.year * 12 + day.month - 1
        if day < _month_start(cycle.billing_day, index):
            index -= 1
        return period_at(cycle, index)
    if day < cycle.anchor:
        return None
    return period_at(cycle, _validity_index(cycle, day))


def cap_window(cap_period: str, cycle: Cycle | None, now: datetime, tz: str) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of the data-cap window holding `now`: the calendar month in `tz`, or the
    billing period of `cycle`. Before a validity cycle's anchor the cycle is extended backwards, so a cap
    always has a window (the customer may be online before the first billed period)."""
    day = local_date(now, tz)
    if cap_period == "calendar_month":
        start = day.replace(day=1)
        end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    elif cap_period == "billing_cycle" and cycle is not None:
        period = (period_containing(cycle, day) if cycle.kind == "fixed_day"
                  else period_at(cycle, _validity_index(cycle, day)))
        start, end = period.start, period.end
    else:
        raise ValueError(f"unknown cap period {cap_period!r} (or no billing cycle for it)")
    return local_midnight_utc(start, tz), local_midnight_utc(end, tz)


@dataclass(frozen=True, slots=True)
class BillablePeriod:
    """A period a bill run charges at `now`, the local date its bill is issued and the local date it is due."""

    period: Period
    issue_date: date
    due: date


def prepaid_lead_days(due_days: int) -> int:
    """How many days before its period a prepaid bill is issued: the profile's due days, at least one, so that
    advance credit (or the customer) can pay it before the current period's expiry passes."""
    return max(due_days, 1)


def issue_date(cycle: Cycle, period: Period, billing_type: str, due_days: int) -> date:
    """The local date a period's bill is issued. Postpaid: the day the period ends. Prepaid: `lead` days before
    it starts, but never before the previous period starts (a validity cycle shorter than the lead), so at most
    the current and the next period are ever billable."""
    if billing_type == "postpaid":
        return period.end
    ahead = period.start - timedelta(days=prepaid_lead_days(due_days))
    if cycle.kind == "validity_days" and period.index == 0:
        return ahead
    return max(ahead, period_at(cycle, period.index - 1).start)


def due_date(period: Period, billing_type: str, due_days: int) -> date:
    """The local date a period's bill is due: prepaid when the period starts (it was issued `lead` days before);
    postpaid `due_days` after the period ends (the day it was issued)."""
    if billing_type == "prepaid":
        return period.start
    return period.end + timedelta(days=due_days)


def billable_periods(cycle: Cycle, billing_type: str, now: datetime, tz: str, due_days: int) -> list[BillablePeriod]:
    """The periods a bill run at `now` charges, oldest first. Prepaid: the period that has started, and the next
    one once its issue date (`prepaid_lead_days` ahead) has come; postpaid: the one that has just ended; free:
    none. A run bills all of them; bills are unique per customer and period, so a run repeats nothing."""
    if billing_type not in BILLING_TYPES:
        raise ValueError(f"unknown billing type {billing_type!r}")
    if due_days < 0:
        raise ValueError("due days cannot be negative")
    today = local_date(now, tz)
    current = period_containing(cycle, today)
    if billing_type == "free":
        return []
    if billing_type == "postpaid":
        if current is None or current.index == 0 and cycle.kind == "validity_days":
            return []
        periods = [period_at(cycle, current.index - 1)]
    else:
        upcoming = period_at(cycle, current.index + 1 if current else 0)
        periods = [p for p in (current, upcoming) if p and issue_date(cycle, p, billing_type, due_days) <= today]
    return [BillablePeriod(p, issue_date(cycle, p, billing_type, due_days), due_date(p, billing_type, due_days))
            for p in periods]


def suspend_after(due: date, grace_days: int) -> date:
    """An unpaid bill makes the customer a suspension candidate from this local date on."""
    return due + timedelta(days=grace_days)
