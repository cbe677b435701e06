"""What the online-gateway adapters share on the wire: a JSON call with a deadline, and amounts as decimal text.

A gateway that cannot be asked (timeout, refused connection, 5xx, an answer that is not JSON) is not an answer:
`call_json` returns None and a reason, and the adapter turns that into Verification(UNKNOWN) — never a guess.
Amounts cross the wire as decimal text ("500.00"); they are parsed with Decimal, never float, and an amount that
is not a whole number of minor units is no amount at all (None), so it can never match an intent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

import aiohttp

from radbill.billing.money import exponent
from radbill.errors import RadbillError

DEFAULT_TIMEOUT = 15.0  # seconds for one gateway call; the reconciliation job asks again later


class GatewayError(RadbillError):
    """Starting a payment failed at the gateway (refused, unreachable, misconfigured); nothing was charged.
    The message is for people; `detail` (English, for the log) says what exactly went wrong on the wire."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


async def call_json(session: aiohttp.ClientSession, method: str, url: str, *, deadline: float,
                    params: Mapping[str, str] | None = None, data: Mapping[str, str] | None = None,
                    json_body: Mapping | None = None,
                    headers: Mapping[str, str] | None = None) -> tuple[dict | None, str]:
    """(the JSON object answered, "") or (None, why the gateway could not be asked)."""
    try:
        async with session.request(method, url, params=params, data=data, json=json_body, headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=deadline), allow_redirects=False) as resp:
            raw = await resp.read()
            status = resp.status
    except TimeoutError:
        return None, "the gateway did not answer in time"
    except (aiohttp.ClientError, OSError) as exc:
        return None, f"the gateway could not be reached ({type(exc).__name__})"
    if status >= 500:
        return None, f"the gateway answered HTTP {status}"
    try:
        body = json.loads(raw)  # bytes: UTF-8/16/32 detected; bad bytes are a ValueError like bad JSON
    except ValueError:
        return None, f"the gateway answered HTTP {status} with something that is not JSON"
    if not isinstance(body, dict):
        return None, f"the gateway answered HTTP {status} with JSON that is not an object"
    return body, ""


def minor_to_text(amount_minor: int, currency: str) -> str:
    """12345, "BDT" -> "123.45" (the gateways' decimal text; exact)."""
    digits = exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    whole, frac = divmod(abs(amount_minor), 10**digits)
    return f"{sign}{whole}.{frac:0{digits}d}" if digits else f"{sign}{whole}"


def text_to_minor(text: object, currency: str) -> int | None:
    """"500.00" -> 50000 exactly; None for anything that is not a whole number of minor units ("500.005", "1e3"
    is fine as 100000, "abc", "NaN", a float's noise)."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        return None
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        return None
    return int(scaled)
