"""Money in integer minor units: exact parsing of what a user types, formatting, half-up division."""

from __future__ import annotations

import re
from decimal import Decimal

from radbill.errors import ValidationError
from radbill.i18n import _
from radbill.validate import ascii_digits

# The one upper bound on any amount a person enters (a payment, a price, a top-up, a credit limit), in major
# units: far above any real ISP figure, and small enough that balance + limit and the sums of a few million of
# them stay far inside bigint (9.2e18 minor units).
MAX_MAJOR = 1_000_000_000

# ISO 4217 exponents that differ from the usual 2; anything not listed has 2 minor digits.
_EXPONENTS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3,
              "TND": 3, "IQD": 3, "LYD": 3}
_AMOUNT = re.compile(r"^(?P<int>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.(?P<frac>[0-9]*))?$")


def exponent(currency: str) -> int:
    """How many minor-unit digits the currency has (BDT: 2 — 100 poisha to the taka)."""
    return _EXPONENTS.get(currency.upper(), 2)


def round_half_up_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, halves away from zero (half-up for amounts)."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    magnitude = (2 * abs(numerator) + denominator) // (2 * denominator)
    return magnitude if numerator >= 0 else -magnitude


def max_minor(currency: str = "BDT") -> int:
    """The largest amount any money input accepts, in the currency's minor units."""
    return MAX_MAJOR * 10 ** exponent(currency)


def check_amount(amount_minor: int, currency: str = "BDT", field: str = "amount", *, allow_zero: bool = False) -> int:
    """The service-side guard for every money input: an int from 0 (or 1) to max_minor(currency); returns it."""
    low = 0 if allow_zero else 1
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise ValidationError(_("Enter the amount as a number, like 1,234.50."), {field: "not an amount"})
    if amount_minor < low:
        raise ValidationError(_("The amount must be more than zero.") if low else _("The amount cannot be negative."),
                              {field: "too small"})
    if amount_minor > max_minor(currency):
        raise ValidationError(_("The amount can be at most %(amount)s.",
                                amount=format_minor(max_minor(currency), currency)),
                              {field: "too large"})
    return amount_minor


def normalise_digits(text: str) -> str:
    """Bengali digits -> ASCII; raises ValidationError for digits of any other script (Arabic-Indic, full-width)."""
    try:
        return ascii_digits(text)
    except ValueError as exc:
        raise ValidationError(str(exc), {"amount": "foreign digits"}) from None


def parse_amount(text: str, currency: str = "BDT", *, allow_zero: bool = True) -> int:
    """Parse a user-entered amount such as "1,234.50" (or "১,২৩৪.৫০") into minor units, exactly (never through
    float), and hold it to the one bound (check_amount).

    Accepts digits with optional correctly grouped thousands commas and at most `exponent(currency)` decimals.
    """
    cleaned = normalise_digits((text or "").strip())
    code = currency.upper()
    if cleaned.upper().startswith(code):
        cleaned = cleaned[len(code):].strip()
    match = _AMOUNT.match(cleaned)
    digits = exponent(currency)
    frac = match.group("frac") if match else None
    if not match or (frac is not None and len(frac) > digits):
        shown = text if len(text or "") <= 30 else text[:30] + "…"  # the sentence is shown, the input may be huge
        raise ValidationError(_("%(shown)s is not an amount: write it like 1,234.50 (at most %(digits)s decimals)",
                                shown=repr(shown), digits=digits),
                              {"amount": "not an amount"})
    whole = int(match.group("int").replace(",", ""))
    minor = (frac or "").ljust(digits, "0")
    return check_amount(whole * 10**digits + (int(minor) if minor else 0), currency, allow_zero=allow_zero)


def whole_minor(amount_minor) -> int:
    """`amount_minor` as an int; a whole Decimal (what Postgres returns for sum() of bigint) is accepted exactly.

    Anything else (a float, a fraction of a minor unit, a bool, text) raises TypeError: it means a query or a
    caller lost the integer-minor-units rule, and rounding it here would hide that.
    """
    if isinstance(amount_minor, int) and not isinstance(amount_minor, bool):
        return amount_minor
    if isinstance(amount_minor, Decimal) and amount_minor.is_finite() and amount_minor == amount_minor.to_integral_value():
        return int(amount_minor)
    raise TypeError(f"money must be whole minor units (an int), not {type(amount_minor).__name__} {amount_minor!r}")


def format_minor(amount_minor: int, currency: str = "BDT") -> str:
    """Render minor units for people: format_minor(123450, "BDT") == "BDT 1,234.50", ("JPY") == "JPY 123,450"."""
    amount_minor = whole_minor(amount_minor)
    digits = exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    whole, frac = divmod(abs(amount_minor), 10**digits)
    text = f"{whole:,}" + (f".{frac:0{digits}d}" if digits else "")
    return f"{currency.upper()} {sign}{text}"
