"""decide(): a customer's policy row + the request + now -> accept/reject with a reason and attributes."""

from __future__ import annotations

import math
import re
from datetime import datetime

from radbill.policy.model import Check, Decision, PolicyRow, Request, Settings

MESSAGES = {
    "unknown_user": "Login failed: this username is not registered. Check it or call your ISP.",
    "disabled": "Your account is disabled. Please contact your ISP.",
    "suspended": "Your account is suspended. Please pay your bill or contact your ISP to reconnect.",
    "expired": "Your package has expired. Please renew it to reconnect.",
    "mac_mismatch": "This account is locked to another device. Contact your ISP to change it.",
    "simultaneous_use": "This account is already online on another device. Disconnect it first, or call your ISP.",
    "error": "A temporary problem stopped your login. Please try again in a minute.",
}
WALLED_GARDEN_ADDRESS_LIST = "radbill-suspended"
DEFAULT_SETTINGS = Settings()
_HEX = re.compile(r"[0-9a-f]")


def normalise_mac(value: str | None) -> str | None:
    """'AA-BB-CC-DD-EE-FF', 'aabb.ccdd.eeff', 'aa:bb:cc:dd:ee:ff' -> 'aa:bb:cc:dd:ee:ff'; None if not a MAC."""
    if not value:
        return None
    digits = "".join(_HEX.findall(value.lower()))
    stripped = re.sub(r"[\s:.\-]", "", value.lower())
    if len(digits) != 12 or stripped != digits:
        return None
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2))


def reject(reason: str, checks: list[Check], message: str | None = None) -> Decision:
    text = message or MESSAGES[reason]
    return Decision(False, reason, text, reply=(("Reply-Message", text),), checks=tuple(checks))


def _session_timeout(row: PolicyRow, now: datetime) -> int | None:
    if row.expires_at is None:
        return None
    return max(1, math.floor((row.expires_at - now).total_seconds()))


def walled_garden(row: PolicyRow, reason: str, checks: list[Check]) -> Decision:
    """Accept into the operator's suspended pool: slow, short, tagged so the router can redirect to a pay page."""
    checks.append(Check("walled_garden", f"pool {row.suspended_pool}", "info"))
    text = MESSAGES[reason]
    return Decision(
        True, reason, text,
        reply=(
            ("Framed-Pool", row.suspended_pool),
            ("Mikrotik-Rate-Limit", row.suspended_rate_limit),
            ("Session-Timeout", str(row.suspended_session_timeout)),
            ("Mikrotik-Address-List", WALLED_GARDEN_ADDRESS_LIST),
            ("Reply-Message", text),
        ),
        config=(("Cleartext-Password", row.password),),
        checks=tuple(checks),
    )


def decide(row: PolicyRow | None, request: Request, now: datetime, settings: Settings = DEFAULT_SETTINGS) -> Decision:
    """The whole authorize policy; every branch is a reason code the operator can look up."""
    checks: list[Check] = []
    if row is None:
        checks.append(Check("known_user", request.username, "fail"))
        return reject("unknown_user", checks)
    checks.append(Check("known_user", request.username, "pass"))

    if row.status == "disabled":
        checks.append(Check("status", row.status, "fail"))
        return reject("disabled", checks)

    if row.mac_address:
        seen = normalise_mac(request.calling_station_id)
        observed = f"bound {row.mac_address}, Calling-Station-Id {request.calling_station_id or '(none)'}"
        if seen != row.mac_address:
            checks.append(Check("mac_binding", observed, "fail"))
            return reject("mac_mismatch", checks)
        checks.append(Check("mac_binding", observed, "pass"))
    else:
        checks.append(Check("mac_binding", "no binding", "skip"))

    limit = row.simultaneous_use
    if limit is not None:
        observed = f"{request.open_sessions} open of {limit} allowed"
        if request.open_sessions >= limit:
            checks.append(Check("simultaneous_use", observed, "fail"))
            return reject("simultaneous_use", checks)
        checks.append(Check("simultaneous_use", observed, "pass"))
    else:
        checks.append(Check("simultaneous_use", "no limit", "skip"))

    for reason, failed, observed in (
        ("suspended", row.status == "suspended", row.status),
        ("expired", row.expires_at is not None and row.expires_at <= now,
         f"expires {row.expires_at.isoformat() if row.expires_at else 'never'}"),
    ):
        if not failed:
            checks.append(Check(reason, observed, "pass"))
            continue
        checks.append(Check(reason, observed, "fail"))
        return walled_garden(row, reason, checks) if row.suspended_pool else reject(reason, checks)

    return accept(row, now, settings, checks)


def accept(row: PolicyRow, now: datetime, settings: Settings, checks: list[Check]) -> Decision:
    speeds = row.speeds
    if row.data_cap_bytes is not None and row.throttled_speeds is not None:
        over = row.usage_bytes >= row.data_cap_bytes
        checks.append(Check("data_cap", f"{row.usage_bytes} of {row.data_cap_bytes} bytes", "fail" if over else "pass"))
        if over:
            speeds = row.throttled_speeds
    reply: list[tuple[str, str]] = [("Mikrotik-Rate-Limit", speeds.rate_limit())]
    if row.static_ip:
        reply.append(("Framed-IP-Address", row.static_ip))
    elif row.ip_pool:
        reply.append(("Framed-Pool", row.ip_pool))
    timeout = _session_timeout(row, now)
    if timeout is not None:
        reply.append(("Session-Timeout", str(timeout)))
    reply.append(("Acct-Interim-Interval", str(settings.acct_interim_interval)))
    checks.append(Check("reply", ", ".join(f"{k}={v}" for k, v in reply), "info"))
    return Decision(True, "ok", "", reply=tuple(reply), config=(("Cleartext-Password", row.password),),
                    checks=tuple(checks))
