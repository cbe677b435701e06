"""Property tests of billing periods across 1990-2100 in Asia/Dhaka and UTC."""

import calendar
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radbill.billing.periods import (
    Cycle,
    billable_periods,
    due_date,
    issue_date,
    local_date,
    local_midnight_utc,
    period_at,
    period_containing,
    suspend_after,
)

ZONES = st.sampled_from(["Asia/Dhaka", "UTC", "America/New_York"])
DAYS = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))
FIXED = st.builds(Cycle, st.just("fixed_day"), st.integers(1, 31))
VALIDITY = st.builds(lambda n, a: Cycle("validity_days", validity_days=n, anchor=a), st.integers(1, 400),
                     st.dates(min_value=date(1990, 1, 1), max_value=date(2099, 1, 1)))
CYCLES = st.one_of(FIXED, VALIDITY)
INSTANTS = st.datetimes(min_value=datetime(1990, 1, 2), max_value=datetime(2100, 12, 30), timezones=st.just(UTC))  # noqa: DTZ001 -- hypothesis takes naive bounds


@settings(max_examples=300)
@given(FIXED, DAYS)
def test_fixed_day_period_contains_the_day_and_starts_on_the_billing_day(cycle, day):
    p = period_containing(cycle, day)
    assert p.start <= day < p.end
    for start in (p.start, p.end):
        assert start.day == min(cycle.billing_day, calendar.monthrange(start.year, start.month)[1])
    assert 28 <= p.days <= 31


@settings(max_examples=300)
@given(CYCLES, DAYS, st.integers(1, 30))
def test_periods_are_contiguous_and_never_overlap(cycle, day, count):
    first = period_containing(cycle, day)
    if first is None:
        assert cycle.kind == "validity_days" and day < cycle.anchor
        return
    periods = [period_at(cycle, first.index + k) for k in range(count)]
    for earlier, later in zip(periods, periods[1:], strict=False):
        assert earlier.end == later.start and earlier.start < earlier.end
    assert all(period_containing(cycle, p.start) == p and period_containing(cycle, p.last_day) == p for p in periods)


@settings(max_examples=200)
@given(st.integers(1990, 2099), st.integers(29, 31))
def test_month_end_anchors_are_never_chained(year, billing_day):
    cycle = Cycle("fixed_day", billing_day)
    starts = [period_at(cycle, year * 12 + m).start for m in range(24)]
    for s in starts:
        assert s.day == min(billing_day, calendar.monthrange(s.year, s.month)[1])
    assert any(s.day == billing_day for s in starts if s.month in (1, 3, 5, 7, 8, 10, 12))


@pytest.mark.parametrize(("year", "february_start"), [(2023, date(2023, 2, 28)), (2024, date(2024, 2, 29)),
                                                      (2000, date(2000, 2, 29)), (2100, date(2100, 2, 28))])
def test_day_31_runs_jan_31_feb_end_mar_31(year, february_start):
    cycle = Cycle("fixed_day", 31)
    jan = period_containing(cycle, date(year, 1, 31))
    assert (jan.start, jan.end) == (date(year, 1, 31), february_start)
    feb = period_at(cycle, jan.index + 1)
    assert (feb.start, feb.end) == (february_start, date(year, 3, 31))


DUE_DAYS = st.integers(0, 45)


@settings(max_examples=200)
@given(CYCLES, INSTANTS, ZONES, DUE_DAYS)
def test_boundary_instants_are_local_midnights_and_prepaid_bills_now_or_ahead(cycle, now, tz, due_days):
    billables = billable_periods(cycle, "prepaid", now, tz, due_days)
    for billable in billables:
        p = billable.period
        assert p.start_at(tz).tzinfo == UTC and local_date(p.start_at(tz), tz) == p.start
        assert local_date(p.end_at(tz) - timedelta(microseconds=1), tz) == p.last_day
        assert local_midnight_utc(billable.issue_date, tz) <= now < p.end_at(tz)
        assert billable.due == p.start  # a prepaid bill is due when its period starts
    assert len(billables) <= 2
    assert [b.period.index for b in billables] == list(range(billables[0].period.index, billables[0].period.index
                                                             + len(billables))) if billables else True
    current = period_containing(cycle, local_date(now, tz))
    if current is not None:  # the period that has started is always billable
        assert billables[0].period == current


@settings(max_examples=200)
@given(CYCLES, INSTANTS, ZONES, DUE_DAYS)
def test_the_next_prepaid_period_is_billed_from_lead_days_before_it(cycle, now, tz, due_days):
    """Due days, for prepaid, are how many days (at least one) before its period a bill is issued; a validity
    period shorter than that is billed as soon as the one before it starts."""
    current = period_containing(cycle, local_date(now, tz))
    following = period_at(cycle, current.index + 1 if current else 0)
    lead = max(due_days, 1)
    issued = issue_date(cycle, following, "prepaid", due_days)
    before = period_at(cycle, following.index - 1).start if current else None
    assert issued == (max(following.start - timedelta(days=lead), before) if before else
                      following.start - timedelta(days=lead))
    billed = [b.period for b in billable_periods(cycle, "prepaid", now, tz, due_days)]
    assert (following in billed) == (local_date(now, tz) >= issued)


@settings(max_examples=200)
@given(CYCLES, INSTANTS, ZONES, DUE_DAYS)
def test_postpaid_bills_the_period_just_ended_due_days_after(cycle, now, tz, due_days):
    postpaid = billable_periods(cycle, "postpaid", now, tz, due_days)
    assert billable_periods(cycle, "free", now, tz, due_days) == []
    current = period_containing(cycle, local_date(now, tz))
    if postpaid:
        (billable,) = postpaid
        assert billable.period.end == current.start == billable.issue_date
        assert billable.period.end_at(tz) <= now
        assert billable.due == current.start + timedelta(days=due_days)
    else:
        assert current is None or cycle.kind == "validity_days" and current.index == 0


@pytest.mark.parametrize(("now", "expected"), [
    # billing day 1, Asia/Dhaka (UTC+6), due days 3: December is issued from 28 Nov 00:00 Dhaka = 27 Nov 18:00 UTC
    (datetime(2024, 11, 27, 17, 59, tzinfo=UTC), [date(2024, 11, 1)]),
    (datetime(2024, 11, 27, 18, 0, tzinfo=UTC), [date(2024, 11, 1), date(2024, 12, 1)]),
    (datetime(2024, 11, 30, 17, 59, tzinfo=UTC), [date(2024, 11, 1), date(2024, 12, 1)]),  # 23:59 on the 30th
    (datetime(2024, 11, 30, 18, 0, tzinfo=UTC), [date(2024, 12, 1)]),                      # Dec 1 00:00 Dhaka
])
def test_fixed_day_prepaid_around_the_boundary_in_dhaka(now, expected):
    billables = billable_periods(Cycle("fixed_day", 1), "prepaid", now, "Asia/Dhaka", 3)
    assert [b.period.start for b in billables] == expected
    assert [b.due for b in billables] == expected
    assert billables[-1].issue_date == (date(2024, 11, 28) if expected[-1] == date(2024, 12, 1) else date(2024, 10, 29))


@pytest.mark.parametrize(("now", "due_days", "expected"), [
    # 30-day validity from 1 Jan in New York (UTC-5 in winter): period 2 starts 1 Mar 00:00 local = 05:00 UTC
    (datetime(2024, 2, 29, 4, 59, tzinfo=UTC), 0, [date(2024, 1, 31)]),       # 28 Feb 23:59 local: not yet
    (datetime(2024, 2, 29, 5, 0, tzinfo=UTC), 0, [date(2024, 1, 31), date(2024, 3, 1)]),  # due 0 -> one day ahead
    (datetime(2024, 2, 25, 5, 0, tzinfo=UTC), 5, [date(2024, 1, 31), date(2024, 3, 1)]),
    (datetime(2024, 2, 25, 4, 59, tzinfo=UTC), 5, [date(2024, 1, 31)]),
    (datetime(2024, 3, 1, 5, 0, tzinfo=UTC), 0, [date(2024, 3, 1)]),
    (datetime(2024, 2, 1, 5, 0, tzinfo=UTC), 60, [date(2024, 1, 31), date(2024, 3, 1)]),  # lead > period: capped
    (datetime(2023, 12, 31, 5, 0, tzinfo=UTC), 1, [date(2024, 1, 1)]),        # before the anchor: the first period
    (datetime(2023, 12, 31, 4, 59, tzinfo=UTC), 1, []),
])
def test_validity_prepaid_around_the_boundary_in_new_york(now, due_days, expected):
    cycle = Cycle("validity_days", validity_days=30, anchor=date(2024, 1, 1))
    billables = billable_periods(cycle, "prepaid", now, "America/New_York", due_days)
    assert [b.period.start for b in billables] == expected


def test_postpaid_is_unchanged_by_the_lead():
    (b,) = billable_periods(Cycle("fixed_day", 1), "postpaid", datetime(2024, 11, 30, 12, tzinfo=UTC), "UTC", 7)
    assert (b.period.start, b.period.end, b.issue_date, b.due) == (date(2024, 10, 1), date(2024, 11, 1),
                                                                     date(2024, 11, 1), date(2024, 11, 8))


def test_dhaka_midnight_is_1800_utc_the_day_before():
    assert local_midnight_utc(date(2024, 3, 1), "Asia/Dhaka") == datetime(2024, 2, 29, 18, tzinfo=UTC)


def test_due_and_suspend_after():
    march = period_containing(Cycle("fixed_day", 1), date(2024, 3, 10))
    assert due_date(march, "postpaid", 7) == date(2024, 4, 8) and due_date(march, "prepaid", 7) == date(2024, 3, 1)
    assert suspend_after(date(2024, 3, 3), 3) == date(2024, 3, 6)


@pytest.mark.parametrize("kwargs", [{"kind": "fixed_day", "billing_day": 0}, {"kind": "fixed_day", "billing_day": 32},
                                    {"kind": "validity_days", "validity_days": 30}, {"kind": "weekly"}])
def test_bad_cycles_are_refused(kwargs):
    with pytest.raises(ValueError):
        Cycle(**kwargs)
