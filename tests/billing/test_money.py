"""Money parsing and formatting, VAT and proration rounding, payment allocation (pure, property-tested)."""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from radbill.billing.money import format_minor, max_minor, parse_amount, round_half_up_div
from radbill.billing.periods import Period
from radbill.billing.pricing import allocate, apply_vat, customer_price, first_period_price, prorate
from radbill.errors import ValidationError

AMOUNTS = st.integers(0, 10**13)


def exact_half_up(n: int, d: int) -> int:
    return int((Decimal(n) / Decimal(d)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@settings(max_examples=300)
@given(st.integers(-10**15, 10**15), st.integers(1, 10**6))
def test_round_half_up_div_matches_decimal(n, d):
    assert round_half_up_div(n, d) == exact_half_up(n, d)


@pytest.mark.parametrize(("text", "minor"), [("1,234.50", 123450), ("1234.5", 123450), ("0.01", 1), ("12", 1200),
                                             ("  7.", 700), ("BDT 1,000", 100000), ("1,000,000.99", 100000099),
                                             ("১২৩.৪৫", 12345)])
def test_parse_amount(text, minor):
    assert parse_amount(text) == minor


@pytest.mark.parametrize("text", ["", "abc", "1.234", "1,23.00", "12,34", "-5", "1e3", "1.2.3", ",100", "0x10",
                                  "1 000", "nan"])
def test_parse_amount_refuses(text):
    with pytest.raises(ValidationError):
        parse_amount(text)


def test_parse_amount_follows_the_currency_exponent():
    assert parse_amount("1,500", "JPY") == 1500
    assert parse_amount("1.234", "KWD") == 1234
    with pytest.raises(ValidationError):
        parse_amount("1.5", "JPY")


@settings(max_examples=300)
@given(st.integers(-10**12, 10**12), st.sampled_from(["BDT", "USD", "JPY", "KWD"]))
def test_format_then_parse_round_trips(minor, currency):
    assume(abs(minor) <= max_minor(currency))  # beyond the one bound parse_amount refuses (test_money_bounds)
    text = format_minor(minor, currency)
    assert text.startswith(currency + " ")
    if minor >= 0:
        assert parse_amount(text, currency) == minor
    else:
        assert parse_amount(text.replace("-", ""), currency) == -minor


def test_format_minor():
    assert format_minor(123450, "BDT") == "BDT 1,234.50"
    assert format_minor(-5, "BDT") == "BDT -0.05"
    assert format_minor(1500, "JPY") == "JPY 1,500"


@settings(max_examples=300)
@given(AMOUNTS, st.integers(0, 10000), st.booleans())
def test_vat_parts_add_up_and_round_half_up(price, rate, inclusive):
    a = apply_vat(price, rate, inclusive)
    assert a.net_minor + a.vat_minor == a.total_minor and min(a.net_minor, a.vat_minor) >= 0
    if inclusive:
        assert a.total_minor == price
        assert a.vat_minor == exact_half_up(price * rate, 10000 + rate)
    else:
        assert a.net_minor == price and a.vat_minor == exact_half_up(price * rate, 10000)


def test_format_minor_takes_a_whole_decimal_and_refuses_anything_else():
    # Postgres answers sum(bigint) as numeric: a whole Decimal is exact, a fraction or a float is a bug upstream
    assert format_minor(Decimal("-30000"), "BDT") == "BDT -300.00"
    assert format_minor(Decimal("30000"), "JPY") == "JPY 30,000"
    for bad in (Decimal("1.5"), 1.0, True, "100", None, Decimal("NaN")):
        with pytest.raises(TypeError, match="whole minor units"):
            format_minor(bad, "BDT")


@pytest.mark.parametrize(("price", "rate", "inclusive", "vat"), [(50000, 1500, False, 7500), (50000, 1500, True, 6522),
                                                                  (1, 5000, False, 1), (3, 5000, False, 2),
                                                                  (115, 1500, True, 15)])
def test_vat_examples(price, rate, inclusive, vat):
    assert apply_vat(price, rate, inclusive).vat_minor == vat


@settings(max_examples=300)
@given(AMOUNTS, st.integers(1, 400), st.data())
def test_proration_is_monotone_bounded_and_half_up(price, days, data):
    served = data.draw(st.integers(0, days))
    value = prorate(price, served, days)
    assert 0 <= value <= price and value == exact_half_up(price * served, days)
    if served < days:
        assert value <= prorate(price, served + 1, days)


def test_first_period_price():
    march = Period(date(2024, 3, 1), date(2024, 4, 1), 0)
    assert first_period_price(31000, march, date(2024, 2, 1)) == 31000
    assert first_period_price(31000, march, date(2024, 3, 1)) == 31000
    assert first_period_price(31000, march, date(2024, 3, 31)) == 1000
    assert first_period_price(100, march, date(2024, 3, 17)) == 48  # 100 * 15 / 31 = 48.39


def test_customer_price_precedence():
    assert customer_price(500, None, None) == 500
    assert customer_price(500, 600, None) == 600
    assert customer_price(500, 600, 0) == 0


@settings(max_examples=300)
@given(AMOUNTS, st.lists(st.integers(0, 10**9), max_size=8))
def test_allocation_conserves_money_and_pays_oldest_first(amount, outstanding):
    a = allocate(amount, outstanding)
    assert sum(a.applied) + a.remainder == amount and a.remainder >= 0
    assert all(0 <= x <= o for x, o in zip(a.applied, outstanding, strict=True))
    first_short = next((i for i, (x, o) in enumerate(zip(a.applied, outstanding, strict=True)) if x < o), None)
    if first_short is not None:
        assert all(x == 0 for x in a.applied[first_short + 1:]) and a.remainder == 0
