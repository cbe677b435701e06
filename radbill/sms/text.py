"""Templates, segments and sending hours.

Segments follow 3GPP TS 23.038: a text that fits the GSM 7-bit alphabet is 160 septets in one SMS or 153 per
part of a long one (the user-data header takes 7), and an extension character (€, [, ], {, }, ...) costs two
septets that are never split across parts. Anything else — Bangla included — goes as UCS-2: 70 UTF-16 code
units in one SMS or 67 per part, and a surrogate pair (an emoji) is never split.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from radbill.errors import ValidationError
from radbill.i18n import _, lazy_gettext, use_locale

# event code -> label; placeholder -> what it holds (lazy: shown in the reader's language, the keys stay codes)
EVENTS = {
    "bill_generated": lazy_gettext("Bill generated"),
    "payment_received": lazy_gettext("Payment received"),
    "account_suspended": lazy_gettext("Account suspended"),
    "account_activated": lazy_gettext("Account activated"),
    "expiry_reminder": lazy_gettext("Package expiry reminder"),
    "due_reminder": lazy_gettext("Due date reminder"),
    "ticket_reply": lazy_gettext("Support ticket reply"),
    "portal_otp": lazy_gettext("Portal login code"),
    "cap_tier_crossed": lazy_gettext("Data cap tier reached"),
}
# Events that are sent with the suggested text until the operator saves a template of their own (the others
# are off until then); a portal login code cannot be turned off, or nobody could log in by SMS.
ON_BY_DEFAULT = frozenset({"ticket_reply", "portal_otp"})
ALWAYS_ON = frozenset({"portal_otp"})
PLACEHOLDERS = {
    "customer_name": lazy_gettext("the customer's name"),
    "username": lazy_gettext("the PPPoE/Hotspot username"),
    "amount": lazy_gettext("the amount (payment received, or what is due)"),
    "due_date": lazy_gettext("the bill's due date"),
    "expiry": lazy_gettext("the date the package expires"),
    "package": lazy_gettext("the package name"),
    "isp_name": lazy_gettext("your business name"),
    "pay_link": lazy_gettext("a link to pay online without logging in (bill, reminder and suspension SMS)"),
    "ticket": lazy_gettext("the support ticket's number and subject"),
    "code": lazy_gettext("the one-time login code (portal login code only)"),
    "data_used": lazy_gettext("the data used this period (data cap SMS only)"),
    "speed": lazy_gettext("the download speed from now on (data cap SMS only)"),
}
# The suggested text per event until an operator saves its own. Its {placeholders} are the SMS's own (filled by
# render(), never by gettext), and the Bangla catalog keeps every one of them (tests/test_i18n_catalogs.py).
DEFAULT_TEMPLATES = {
    "bill_generated": lazy_gettext("Dear {customer_name}, your bill of {amount} for {package} is due on {due_date}. "
                                   "Pay: {pay_link} {isp_name}"),
    "payment_received": lazy_gettext("Dear {customer_name}, we received {amount}. Your package {package} runs until "
                                     "{expiry}. Thank you. {isp_name}"),
    "account_suspended": lazy_gettext("Dear {customer_name}, your internet ({username}) is suspended for an unpaid "
                                      "bill. Please pay to reconnect. {isp_name}"),
    "account_activated": lazy_gettext("Dear {customer_name}, your internet ({username}) is active again. {isp_name}"),
    "expiry_reminder": lazy_gettext("Dear {customer_name}, your package {package} expires on {expiry}. Renew: "
                                    "{pay_link} {isp_name}"),
    "due_reminder": lazy_gettext("Dear {customer_name}, your bill of {amount} is due on {due_date}. Pay: {pay_link} "
                                 "{isp_name}"),
    "ticket_reply": lazy_gettext("Dear {customer_name}, we replied to your support ticket {ticket}. Read the reply "
                                 "in the customer portal. {isp_name}"),
    "portal_otp": lazy_gettext("{code} is your {isp_name} login code. It is valid for 5 minutes. Do not share it."),
    "cap_tier_crossed": lazy_gettext("Dear {customer_name}, you have used {data_used} this period, so your speed is "
                                     "now {speed}. Buy a data top-up to get full speed back. {isp_name}"),
}


def default_template(event: str, locale: str | None) -> str:
    """The suggested SMS for `event` in `locale` (an operator's default language decides what its customers get)."""
    with use_locale(locale):
        return str(DEFAULT_TEMPLATES[event])
MAX_BODY = 1600
_PLACEHOLDER = re.compile(r"\{([^{}\s]*)\}")

GSM7_BASIC = frozenset("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
                       "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class Segments:
    """How a text travels: encoding ('gsm7' or 'ucs2'), billable parts, units used and units per part."""

    encoding: str
    count: int
    units: int
    per_segment: int

    @property
    def remaining(self) -> int:
        """Units left in the last part before another part starts."""
        return self.count * self.per_segment - self.units if self.units else self.per_segment


def validate_template(body: str, allowed: dict[str, str] = PLACEHOLDERS) -> str:
    """The body, stripped, if every {placeholder} is known; ValidationError naming the unknown ones otherwise."""
    text = (body or "").strip()
    if not text:
        raise ValidationError(_("Write the message text."), {"body": "required"})
    if len(text) > MAX_BODY:
        raise ValidationError(_("A message can be at most %(max)s characters.", max=MAX_BODY), {"body": _("too long")})
    unknown = sorted({name for name in _PLACEHOLDER.findall(text) if name not in allowed})
    if unknown:
        names = ", ".join("{" + n + "}" for n in unknown)
        known = ", ".join("{" + n + "}" for n in allowed)
        raise ValidationError(_("Unknown placeholder %(names)s: use only %(known)s.", names=names, known=known),
                              {"body": _("unknown %(names)s", names=names)})
    return text


def render(body: str, values: dict[str, str]) -> str:
    """Fill the placeholders (a missing value renders empty; unknown braces were refused at save time)."""
    def fill(match: re.Match) -> str:
        name = match.group(1)
        return str(values.get(name) or "") if name in PLACEHOLDERS else match.group(0)
    return _PLACEHOLDER.sub(fill, body)


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def count_segments(text: str) -> Segments:
    """Encoding and number of SMS parts the text needs (see the module docstring)."""
    if is_gsm7(text):
        units = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        return _pack("gsm7", units, 160, 153)
    units = [2 if ord(ch) > 0xFFFF else 1 for ch in text]  # UTF-16 code units; a pair stays together
    return _pack("ucs2", units, 70, 67)


def _pack(encoding: str, units: list[int], single: int, part: int) -> Segments:
    total = sum(units)
    if total <= single:
        return Segments(encoding, 1, total, single)
    count, used = 1, 0
    for size in units:
        if used + size > part:
            count, used = count + 1, 0
        used += size
    return Segments(encoding, count, total, part)


def within_sending_hours(now: datetime, timezone: str, start: time, end: time) -> bool:
    """Whether `now` falls in [start, end) in the operator's zone; a window like 21:00-07:00 wraps midnight."""
    local = now.astimezone(ZoneInfo(timezone)).time()
    if start == end:
        return True
    if start < end:
        return start <= local < end
    return local >= start or local < end


def reminder_slot(days_left: int, offsets: list[int]) -> int | None:
    """The reminder a customer `days_left` days before a date is due: the smallest offset >= days_left, so a
    job that first runs on day 2 of a (3, 1) plan still sends the 3-day reminder once, and the 1-day one later."""
    fitting = [n for n in offsets if n >= days_left >= 0]
    return min(fitting) if fitting else None
