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
    """The period a bill run charges at `now`, and the date the bill is issued (counts the due days)."""

    period: Period
    issue_date: date


def billable_period(cycle: Cycle, billing_type: str, now: datetime, tz: str) -> BillablePeriod | None:
    """Which period to bill at `now`: prepaid bills the period that has started, postpaid the one that just
    ended (issued on its end date); free is never billed."""
    if billing_type not in BILLING_TYPES:
        raise ValueError(f"unknown billing type {billing_type!r}")
    current = period_containing(cycle, local_date(now, tz))
    if billing_type == "free" or current is None:
        return None
    if billing_type == "prepaid":
        return BillablePeriod(current, current.start)
    if cycle.kind == "validity_days" and current.index == 0:
        return None
    return BillablePeriod(period_at(cycle, current.index - 1), current.start)


def due_date(issue_date: date, due_days: int) -> date:
    """The bill is due `due_days` after it is issued (the period start for prepaid)."""
    return issue_date + timedelta(days=due_days)


def suspend_after(due: date, grace_days: int) -> date:
    """An unpaid bill makes the customer a suspension candidate from this local date on."""
    return due + timedelta(days=grace_days)
