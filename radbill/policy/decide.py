"""decide(): a customer's policy row + the request + now -> accept/reject with a reason and attributes."""

from __future__ import annotations

import math
import re
from datetime import datetime

from radbill.policy.caps import speeds_for, tier_for
from radbill.policy.model import Check, Decision, PolicyRow, Request, Settings
from radbill.policy.rates import parse_rate_limit
from radbill.policy.state import has_expired
from radbill.policy.vendors import vendor

MESSAGES = {
    "unknown_user": "Login failed: this username is not registered. Check it or call your ISP.",
    "disabled": "Your account is disabled. Please contact your ISP.",
    "suspended": "Your account is suspended. Please pay your bill or contact your ISP to reconnect.",
    "expired": "Your package has expired. Please renew it to reconnect.",
    "mac_mismatch": "This account is locked to another device. Contact your ISP to change it.",
    "simultaneous_use": "This account is already online on another device. Disconnect it first, or call your ISP.",
    "error": "A temporary problem stopped your login. Please try again in a minute.",
    # refused by FreeRADIUS before the policy runs (raddb/policy.d/radbill; the site repeats this text)
    "bad_username": "Login failed: this username has characters that are not allowed. Type it again or call your ISP.",
}
# every reason decide() can give (explain's agreement test walks them all: keep this in step with decide)
POLICY_REASONS = ("ok", "unknown_user", "disabled", "mac_mismatch", "suspended", "expired", "simultaneous_use")
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


class Trace:
    """The checks of one decision, for `radbill explain`. The hot path (the RADIUS hook) passes explain=False:
    then nothing is formatted — `observed` may be a zero-argument callable, only called when explaining."""

    __slots__ = ("checks",)

    def __init__(self, explain: bool):
        self.checks: list[Check] | None = [] if explain else None

    def __call__(self, name: str, observed, outcome: str) -> None:
        if self.checks is not None:
            self.checks.append(Check(name, observed() if callable(observed) else observed, outcome))

    def done(self) -> tuple[Check, ...]:
        return tuple(self.checks or ())


def reject(reason: str, trace: Trace, message: str | None = None) -> Decision:
    text = message or MESSAGES[reason]
    return Decision(False, reason, text, reply=(("Reply-Message", text),), checks=trace.done())


def _session_timeout(row: PolicyRow, now: datetime) -> int | None:
    if row.expires_at is None:
        return None
    return max(1, math.floor((row.expires_at - now).total_seconds()))


def walled_garden(row: PolicyRow, reason: str, request: Request, trace: Trace) -> Decision:
    """Accept into the operator's suspended pool: slow, short, tagged (where the router type has a tag) so the
    router can redirect to a pay page. The attributes are the asking router's (policy/vendors.py)."""
    trace("walled_garden", lambda: f"pool {row.suspended_pool}", "info")
    text = MESSAGES[reason]
    router = vendor(request.nas_type)
    speeds = parse_rate_limit(row.suspended_rate_limit)
    return Decision(
        True, reason, text,
        reply=(
            (router.pool_attribute, row.suspended_pool),
            *router.rate(speeds),
            ("Session-Timeout", str(row.suspended_session_timeout)),
            *router.walled_garden,
            ("Reply-Message", text),
        ),
        config=(("Cleartext-Password", row.password),),
        speeds=speeds,
        checks=trace.done(),
    )


def decide(row: PolicyRow | None, request: Request, now: datetime, settings: Settings = DEFAULT_SETTINGS,
           explain: bool = True) -> Decision:
    """The whole authorize policy; every branch is a reason code the operator can look up. `explain=False`
    gives the same decision without the checks (measured ~40% cheaper; the RADIUS hook runs it per request)."""
    trace = Trace(explain)
    if row is None:
        trace("known_user", request.username, "fail")
        return reject("unknown_user", trace)
    trace("known_user", request.username, "pass")

    if row.status == "disabled":
        trace("status", row.status, "fail")
        return reject("disabled", trace)

    if row.mac_address:
        seen = normalise_mac(request.calling_station_id)

        def observed():
            return f"bound {row.mac_address}, Calling-Station-Id {request.calling_station_id or '(none)'}"

        if seen != row.mac_address:
            trace("mac_binding", observed, "fail")
            return reject("mac_mismatch", trace)
        trace("mac_binding", observed, "pass")
    else:
        trace("mac_binding", "no binding", "skip")

    for reason, failed, observed in (
        ("suspended", row.status == "suspended", row.status),
        ("expired", has_expired(row.expires_at, now),
         lambda: f"expires {row.expires_at.isoformat() if row.expires_at else 'never'}"),
    ):
        if not failed:
            trace(reason, observed, "pass")
            continue
        trace(reason, observed, "fail")
        return walled_garden(row, reason, request, trace) if row.suspended_pool else reject(reason, trace)

    # last of the rejects: a suspended customer whose old session is still open must hear "suspended" (what to
    # do about it), not "already online" (the old session is about to be disconnected anyway)
    limit = row.simultaneous_use
    if limit is not None:
        sessions = request.open_sessions
        outcome = "fail" if sessions >= limit else "pass"
        trace("simultaneous_use", lambda: f"{sessions} open of {limit} allowed", outcome)
        if outcome == "fail":
            return reject("simultaneous_use", trace)
    else:
        trace("simultaneous_use", "no limit", "skip")

    return accept(row, request, now, settings, trace)


def _cap_observed(row: PolicyRow, tier: int) -> str:
    text = f"{row.usage_bytes} of {row.data_cap_bytes} bytes"
    if row.topup_bytes:
        text += f" (+{row.topup_bytes} topped up)"
    return text + (f", tier {tier} of {len(row.tiers)}" if len(row.tiers) > 1 else "")


def accept(row: PolicyRow, request: Request, now: datetime, settings: Settings, trace: Trace) -> Decision:
    """Full service: the package's (or its data-cap tier's) rate, address and profile in the asking router's
    attributes."""
    speeds = row.speeds
    tiers = row.tiers
    if tiers:
        tier = tier_for(tiers, row.usage_bytes, row.topup_bytes)
        trace("data_cap", lambda: _cap_observed(row, tier), "fail" if tier else "pass")
        speeds = speeds_for(row.speeds, tiers, tier)
    router = vendor(request.nas_type)
    reply: list[tuple[str, str]] = [*router.rate(speeds), *router.profile(row.router_profile)]
    if row.static_ip:
        reply.append(("Framed-IP-Address", row.static_ip))
    elif row.ip_pool:
        reply.append((router.pool_attribute, row.ip_pool))
    timeout = _session_timeout(row, now)
    if timeout is not None:
        reply.append(("Session-Timeout", str(timeout)))
    reply.append(("Acct-Interim-Interval", str(settings.acct_interim_interval)))
    trace("reply", lambda: ", ".join(f"{k}={v}" for k, v in reply), "info")
    return Decision(True, "ok", "", reply=tuple(reply), config=(("Cleartext-Password", row.password),),
                    speeds=speeds, checks=trace.done())
