"""Pure input normalisers shared by the admin forms, the import wizard and the services (no I/O)."""

from __future__ import annotations

import ipaddress
import re
import unicodedata

from radbill.i18n import _
from radbill.policy import normalise_mac

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
# Bengali digits are what Bangladeshi keyboards type; every other script's digits are refused with a sentence
# rather than read silently as numbers (Python's int() and the regex \d accept them all).
_BENGALI_DIGITS = str.maketrans("০১২৩৪৫৬৭৮৯", "0123456789")
_BD_MOBILE = re.compile(r"^1[3-9][0-9]{8}$")  # after the country code: 01XNNNNNNNN without its 0


def mobile(value: str) -> str:
    """Bangladesh and international mobile numbers -> E.164.

    '01712-345678', '+880 1712 345678', '8801712345678', '1712345678' -> '+8801712345678';
    '+44 7700 900123' -> '+447700900123'. Raises ValueError with a sentence for anything else."""
    raw = value.strip()
    digits = re.sub(r"[\s().-]", "", raw)
    if not re.fullmatch(r"\+?[0-9]+", digits or "x"):
        raise ValueError(_("Use digits only, like 01712345678 or +8801712345678."))
    plus = digits.startswith("+")
    digits = digits.lstrip("+")
    if digits.startswith("880"):
        local = digits[3:]
        local = local[1:] if local.startswith("0") else local  # +880 01712... is a common slip
    elif not plus and digits.startswith("0") and len(digits) == 11:
        local = digits[1:]
    elif not plus and len(digits) == 10 and digits.startswith("1"):
        local = digits
    elif plus and 7 <= len(digits) <= 15 and not digits.startswith("0"):
        return "+" + digits
    else:
        raise ValueError(_("Enter a Bangladesh mobile number like 01712345678, or an international one with +."))
    if not _BD_MOBILE.match(local):
        raise ValueError(_("A Bangladesh mobile number has 11 digits and starts with 013–019."))
    return "+880" + local


def radius_username(value: str) -> str:
    name = value.strip()
    if not USERNAME.match(name):
        raise ValueError(_("1–64 letters, digits, dot, dash, underscore or @, starting with a letter or digit."))
    return name


def radius_password(value: str) -> str:
    """Printable ASCII, 1-128 characters. CHAP and MS-CHAPv2 hash the password's bytes as the router's client
    encodes them (MS-CHAP as UTF-16), so anything beyond ASCII works on some devices and not others; 128 is
    RFC 2865's limit for PAP. FreeRADIUS refuses a password that is not even UTF-8 (raddb/policy.d/radbill)."""
    if not 1 <= len(value) <= 128 or not all(" " <= ch <= "~" for ch in value):
        raise ValueError(_("Use printable ASCII only in the password (English letters, digits, spaces and "
                         "punctuation), at most 128 characters."))
    return value


def mac_address(value: str) -> str:
    mac = normalise_mac(value)
    if mac is None:
        raise ValueError(_("Enter a MAC address like AA:BB:CC:DD:EE:FF."))
    return mac


def ipv4_host(value: str) -> str:
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        raise ValueError(_("Enter an IPv4 address like 10.20.0.7.")) from None
    if address.version != 4 or address.is_unspecified or address.is_multicast or address.is_loopback:
        raise ValueError(_("Enter a usable IPv4 host address."))
    return str(address)


def ascii_digits(text: str) -> str:
    """Bengali digits -> ASCII ones; ValueError with a sentence for digits of any other script."""
    text = text.translate(_BENGALI_DIGITS)
    if any(not ch.isascii() and unicodedata.category(ch) == "Nd" for ch in text):
        raise ValueError(_("Write numbers with the digits 0-9 (or Bengali ০-৯)."))
    return text


def optional_id(value) -> int | None:
    """An id from a URL, select or hidden field: ASCII digits only (str.isdecimal() also takes other scripts'
    digits, which int() would read), small enough for bigint; anything else is None (a 404 or "not chosen")."""
    text = str(value if value is not None else "").strip()
    return int(text) if text.isascii() and text.isdecimal() and len(text) < 19 else None


def positive_int(value: str, low: int = 1, high: int = 1_000_000) -> int:
    text = ascii_digits(value.strip())
    try:
        number = int(text)
    except ValueError:
        raise ValueError(_("Enter a whole number.")) from None
    if not low <= number <= high:
        raise ValueError(_("Enter a number from %(low)s to %(high)s.", low=low, high=high))
    return number
