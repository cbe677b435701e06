"""Property tests of billing periods across 1990-2100 in Asia/Dhaka and UTC."""

import calendar
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radbill.billing.periods import (
    Cycle,
    billable_period,
    due_date,
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


@settings(max_examples=200)
@given(CYCLES, INSTANTS, ZONES)
def test_boundary_instants_are_local_midnights_and_contain_now(cycle, now, tz):
    billable = billable_period(cycle, "prepaid", now, tz)
    if billable is None:
        return
    p = billable.period
    assert p.start_at(tz) <= now < p.end_at(tz)
    assert p.start_at(tz).tzinfo == UTC and local_date(p.start_at(tz), tz) == p.start
    assert local_date(p.end_at(tz) - timedelta(microseconds=1), tz) == p.last_day


@settings(max_examples=200)
@given(CYCLES, INSTANTS, ZONES)
def test_postpaid_bills_the_period_just_before_the_prepaid_one(cycle, now, tz):
    prepaid = billable_period(cycle, "prepaid", now, tz)
    postpaid = billable_period(cycle, "postpaid", now, tz)
    assert billable_period(cycle, "free", now, tz) is None
    if postpaid is not None:
        assert postpaid.period.end == prepaid.period.start == postpaid.issue_date
        assert postpaid.period.end_at(tz) <= now


def test_dhaka_midnight_is_1800_utc_the_day_before():
    assert local_midnight_utc(date(2024, 3, 1), "Asia/Dhaka") == datetime(2024, 2, 29, 18, tzinfo=UTC)


def test_due_and_suspend_after():
    assert due_date(date(2024, 2, 25), 7) == date(2024, 3, 3)
    assert suspend_after(date(2024, 3, 3), 3) == date(2024, 3, 6)


@pytest.mark.parametrize("kwargs", [{"kind": "fixed_day", "billing_day": 0}, {"kind": "fixed_day", "billing_day": 32},
                                    {"kind": "validity_days", "validity_days": 30}, {"kind": "weekly"}])
def test_bad_cycles_are_refused(kwargs):
    with pytest.raises(ValueError):
        Cycle(**kwargs)
