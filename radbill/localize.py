"""Numbers, money and dates for people, in the current locale (radbill.i18n): the one place pages and PDFs ask.

In Bangla: money shows with "৳" for taka, month names are Bengali, and digits are Bengali only when the operator
chose "Bengali digits" (many staff read and type ASCII digits; the choice is the operator's). Amounts keep
radbill.billing.money.format_minor's rule for decimals and grouping; this module only changes how it is written.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date as babel_format_date

from radbill import i18n
from radbill.billing.money import format_minor

_TO_BENGALI = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")
_TO_ASCII = str.maketrans("০১২৩৪৫৬৭৮৯", "0123456789")
# symbols written in Bangla for currencies a Bangladeshi ISP meets; any other keeps its ISO code
_SYMBOLS_BN = {"BDT": "৳"}


def digits(text: str) -> str:
    """`text` with its digits in the script the current reader chose (Bengali digits, or ASCII)."""
    return text.translate(_TO_BENGALI) if i18n.bengali_digits() else text.translate(_TO_ASCII)


def number(value: int | float | None) -> str:
    """A count or a plain number with thousands separators: 12345 -> '12,345' (or '১২,৩৪৫')."""
    if value is None:
        return "—"
    return digits(f"{value:,}")


def money(amount_minor: int | None, currency: str = "BDT") -> str:
    """Minor units for people: 'BDT 1,234.50' in English; '৳1,234.50' (or '৳১,২৩৪.৫০') in Bangla. None is zero."""
    text = format_minor(0 if amount_minor is None else amount_minor, currency)
    symbol = _SYMBOLS_BN.get(currency.upper()) if i18n.current_locale() == "bn" else None
    if symbol:
        amount = text[len(currency) + 1:]
        sign, amount = ("-", amount[1:]) if amount.startswith("-") else ("", amount)
        text = f"{sign}{symbol}{amount}"
    return digits(text)


def localtime(moment: datetime | None, timezone: str = "Asia/Dhaka", fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A moment on the operator's wall clock, numeric (strftime `fmt`), digits per the reader's choice."""
    if moment is None:
        return "—"
    return digits(moment.astimezone(ZoneInfo(timezone)).strftime(fmt))


def long_date(day: date | datetime | None, timezone: str = "Asia/Dhaka") -> str:
    """A date with its month name: '27 November 2026' / '27 নভেম্বর 2026' (Babel's CLDR month names)."""
    if day is None:
        return "—"
    if isinstance(day, datetime):
        day = day.astimezone(ZoneInfo(timezone)).date()
    return digits(babel_format_date(day, "d MMMM y", locale=i18n.current_locale()))


def month(day: date | None) -> str:
    """A billing month: 'November 2026' / 'নভেম্বর 2026'."""
    if day is None:
        return "—"
    return digits(babel_format_date(day, "MMMM y", locale=i18n.current_locale()))


def day_month(day: date | None) -> str:
    """A day in a short list (the dashboard chart): '03 Feb' / '03 ফেব'."""
    if day is None:
        return "—"
    return digits(babel_format_date(day, "dd MMM", locale=i18n.current_locale()))
