"""The pure rules of what a paid bill buys (radbill.billing.service)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from radbill.billing.periods import Period
from radbill.billing.service import PaidSpan, charged_period, extend_expiry

NOV = Period(date(2024, 11, 1), date(2024, 12, 1), 0)
DEC = PaidSpan.of_bill(date(2024, 12, 1), date(2025, 1, 1), "Asia/Dhaka")
JAN = PaidSpan.of_bill(date(2025, 1, 1), date(2025, 2, 1), "Asia/Dhaka")


def test_a_bill_charges_from_the_service_start():
    assert charged_period(NOV, date(2024, 11, 27)) == Period(date(2024, 11, 27), date(2024, 12, 1), 0)
    assert charged_period(NOV, date(2024, 10, 2)) == NOV
    with pytest.raises(ValueError):
        charged_period(NOV, date(2024, 12, 1))


def test_a_span_is_local_midnight_to_local_midnight():
    assert DEC.start_at == datetime(2024, 11, 30, 18, tzinfo=UTC)
    london = PaidSpan.of_bill(date(2024, 3, 1), date(2024, 4, 1), "Europe/London")  # summer time starts on 31 Mar
    assert london.end_at - london.start_at == timedelta(days=31, hours=-1)


@pytest.mark.parametrize(("expires_at", "billing_type", "expected"), [
    (None, "prepaid", JAN.end_at),                                    # from the first period's start
    (DEC.start_at, "prepaid", JAN.end_at),                            # on time
    (DEC.start_at - timedelta(days=40), "prepaid", JAN.end_at),       # lapsed: the cut-off days are not paid for
    (DEC.start_at + timedelta(days=3), "prepaid", JAN.end_at + timedelta(days=3)),  # early: from the expiry
    (None, "postpaid", None),                                         # postpaid without an expiry keeps none
    (DEC.start_at, "postpaid", JAN.end_at),
])
def test_extend_expiry(expires_at, billing_type, expected):
    paid_at = DEC.start_at + timedelta(days=1)
    assert extend_expiry(expires_at, [JAN, DEC], billing_type, paid_at) == expected  # any order: oldest first
    assert extend_expiry(expires_at, [], billing_type, paid_at) == expires_at


AHEAD = DEC.start_at - timedelta(days=2)  # paid before the period starts: prepaid bills are issued ahead


@pytest.mark.parametrize(("expires_at", "expected"), [
    (DEC.start_at, JAN.end_at),                                       # the usual case: straight across
    (DEC.start_at + timedelta(days=3), JAN.end_at + timedelta(days=3)),
    (DEC.start_at - timedelta(days=1), JAN.end_at - timedelta(days=1)),  # from the expiry: no unpaid day between
    (DEC.start_at - timedelta(days=10), JAN.end_at - timedelta(days=2)),  # lapsed: from the payment, not a free
    (None, JAN.end_at),                                                    # gap until the period starts
])
def test_paying_ahead_never_serves_the_days_before_the_period_free(expires_at, expected):
    assert extend_expiry(expires_at, [DEC, JAN], "prepaid", AHEAD) == expected
