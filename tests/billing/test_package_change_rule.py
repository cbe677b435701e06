"""radbill.billing.package_change: when a package change applies and what it moves now (pure)."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from radbill.billing.package_change import change_terms
from radbill.billing.periods import Period

NOV = Period(date(2026, 11, 1), date(2026, 12, 1), 0)  # 30 days
START = date(2026, 1, 1)


def terms(setting="prorate_now", old=50000, new=80000, today=date(2026, 11, 11), billed=True, billing="prepaid",
          **kw):
    return change_terms(setting, billing, old, new, NOV, today, START, billed, **kw)


def test_a_prepaid_upgrade_pays_the_difference_for_the_days_left_today_included():
    t = terms()
    assert (t.applies, t.basis, t.days, t.period_days) == ("now", "days_left", 20, 30)
    assert t.price_delta_minor == 53333 - 33333 == 20000


def test_a_prepaid_downgrade_is_credited_the_same_way():
    t = terms(old=80000, new=50000)
    assert (t.applies, t.price_delta_minor) == ("now", -20000)


@pytest.mark.parametrize(("today", "days", "delta"), [(date(2026, 11, 1), 30, 30000),
                                                       (date(2026, 11, 30), 1, 1000)])
def test_at_the_period_start_the_whole_difference_at_its_last_day_one_days_worth(today, days, delta):
    t = terms(today=today)
    assert (t.days, t.price_delta_minor) == (days, delta)


def test_a_postpaid_upgrade_credits_the_days_used_because_the_period_bill_will_charge_the_new_price():
    t = terms(billing="postpaid", billed=False)
    assert (t.basis, t.days) == ("days_used", 10)
    assert t.price_delta_minor == -(26667 - 16667)


def test_postpaid_at_the_period_start_moves_nothing():
    assert terms(billing="postpaid", billed=False, today=NOV.start).price_delta_minor == 0


def test_same_price_free_and_no_period_apply_at_once_and_move_nothing():
    for t in (terms(new=50000), terms(billing="free"), change_terms("next_period", "prepaid", 1, 2, None,
                                                                    NOV.start, START, False)):
        assert (t.applies, t.basis, t.price_delta_minor, t.moves_money) == ("now", "none", 0, False)


def test_next_period_waits_both_ways_and_upgrade_now_waits_only_for_a_downgrade():
    assert terms("next_period").applies == terms("next_period", old=80000, new=50000).applies == "next_period"
    assert terms("next_period").price_delta_minor == 0
    assert terms("upgrade_now").applies == "now"
    assert terms("upgrade_now", old=80000, new=50000).applies == "next_period"


def test_a_later_period_already_billed_at_the_old_price_is_settled_in_full():
    assert terms(later_billed=1).price_delta_minor == 20000 + 30000
    assert terms("next_period", later_billed=1).price_delta_minor == 30000


def test_the_wholesale_side_follows_the_same_formula():
    t = terms(old_wholesale=35000, new_wholesale=56000)
    assert t.wholesale_delta_minor == 37333 - 23333


def test_an_unknown_setting_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown"):
        terms("sometimes")


@given(st.integers(0, 10**7), st.integers(0, 10**7), st.integers(0, 29), st.booleans())
def test_a_change_and_its_reverse_on_the_same_day_cancel_exactly(old, new, day, billed):
    today = date(2026, 11, 1 + day)
    there = terms(old=old, new=new, today=today, billed=billed)
    back = terms(old=new, new=old, today=today, billed=billed)
    assert there.price_delta_minor + back.price_delta_minor == 0
