""""Why can't this customer connect?": the live decision with its checks, the last login attempts, the open
sessions and the usage against the cap, for one customer the caller's scope can see.

The decision is the RADIUS module's own: the `radius_policy` row (through radbill_customer_policy, migration
0024, which the admin role may call for a customer it can see) and the module's session view go through
`diagnostics.decide_now`, the function `radbill explain` uses, as the customer's router type would be answered
(the open session's router, else the one of the last login attempt; MikroTik, the nas table's default, when
neither is known or the caller may not read that router). Usage is shown against the data-cap tier the usage has
reached (policy/caps.py `tier_for`, decide()'s rule): the next slow-down, or the last one once past it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg

from radbill import clock
from radbill.diagnostics import decide_now
from radbill.i18n import _, lazy_gettext
from radbill.policy import Decision, PolicyRow
from radbill.policy.caps import next_threshold, speeds_for, tier_for
from radbill.policy.decide import MESSAGES
from radbill.policy.rates import format_rate
from radbill.policy.vendors import DEFAULT_TYPE, vendor
from radbill.services.customers import get_customer
from radbill.tenancy import Scope
from radius_module.sessions import OPEN_SESSIONS_QUERY, sessions_from_rows

ATTEMPTS = 20
# radpostauth is keyed by username, not under row-level security: only read for a customer already fetched
# through the scoped getter
LOGIN_ATTEMPTS = """
    SELECT a.authdate, a.reply, a.reason, host(a.nasipaddress) AS nas_ip, n.shortname AS nas_name,
           n.type AS nas_type, a.callingstationid
      FROM radpostauth a LEFT JOIN nas n ON n.nasname::inet = a.nasipaddress
     WHERE a.username = $1 ORDER BY a.authdate DESC, a.id DESC LIMIT $2
"""
OPEN_SESSIONS_SHOWN = """
    SELECT r.acctuniqueid, r.acctstarttime, host(r.nasipaddress) AS nas_ip, n.shortname AS nas_name,
           n.type AS nas_type, host(r.framedipaddress) AS framed_ip, r.callingstationid,
           coalesce(r.acctinputoctets, 0) AS up, coalesce(r.acctoutputoctets, 0) AS down
      FROM radacct r LEFT JOIN nas n ON n.nasname::inet = r.nasipaddress
     WHERE r.username = $1 AND r.acctstoptime IS NULL ORDER BY r.acctstarttime DESC NULLS LAST
"""

# radpostauth.reason codes (decide()'s, and FreeRADIUS's own refusals) as staff read them
ATTEMPT_REASONS = {
    "unknown_user": lazy_gettext("username not registered (a typo on the router?)"),
    "disabled": lazy_gettext("customer disabled"),
    "suspended": lazy_gettext("customer suspended"),
    "expired": lazy_gettext("package expired"),
    "mac_mismatch": lazy_gettext("a different device than the one the login is locked to"),
    "simultaneous_use": lazy_gettext("already online on another device"),
    "bad_credentials": lazy_gettext("wrong password (check it under Login details and on the router)"),
    "bad_username": lazy_gettext("the username has characters that are not allowed"),
    "error": lazy_gettext("a temporary server problem"),
}


@dataclass(frozen=True)
class Line:
    name: str  # the check's name, as `radbill explain` prints it
    outcome: str  # pass | fail | skip | info
    text: str


async def panel(conn: asyncpg.Connection, scope: Scope, customer_id: int, acct_interim_interval: int) -> dict:
    """Everything the panel shows; NotFound for a customer outside the scope."""
    customer = await get_customer(conn, scope, customer_id)
    username = customer["username"]
    attempts = await conn.fetch(LOGIN_ATTEMPTS, username, ATTEMPTS)
    record = await conn.fetchrow("SELECT * FROM radbill_customer_policy($1)", customer_id)
    loaded = sessions_from_rows(await conn.fetch(OPEN_SESSIONS_QUERY + " AND username = $1", username))
    # a MAC binding is checked against a device: the one that tried last is the one the customer calls about
    device = next((a["callingstationid"] for a in attempts if a["callingstationid"]), None)
    open_sessions = await conn.fetch(OPEN_SESSIONS_SHOWN, username)
    nas_type = router_type(open_sessions, attempts)
    decision, row = decide_now(dict(record) if record else None, username, loaded, acct_interim_interval,
                               clock.now(), device, nas_type or DEFAULT_TYPE)
    return {"decision": decision, "verdict": verdict(decision), "tz": customer["timezone"],
            "lines": [line for c in decision.checks if (line := sentence(c.name, c.outcome, row, decision,
                                                                         device, customer["timezone"]))],
            "router": router_line(nas_type), "attempts": attempts, "open_sessions": open_sessions,
            "usage": usage(row), "reasons": ATTEMPT_REASONS}


def router_type(open_sessions, attempts) -> str | None:
    """The type of the router the customer logs in through: the newest open session's, else the last attempt's
    (None when neither router is in the nas table the caller may read)."""
    return next((r["nas_type"] for r in [*open_sessions, *attempts] if r["nas_type"]), None)


def router_line(nas_type: str | None) -> str:
    if nas_type is None:
        return _("The customer's router is not known here, so the answer is the one a %(type)s router gets.",
                 type=vendor(DEFAULT_TYPE).label)
    return _("The answer is the one the customer's router (%(type)s) gets.", type=vendor(nas_type).label)


def verdict(decision: Decision) -> str:
    if decision.accept and decision.reason == "ok":
        return _("A login now would be accepted at the package speed.")
    if decision.accept:  # the router's own words (Reply-Message) stay as the router shows them
        return _("A login now would be let into the walled garden only (slow, pay page): %(reply)s",
                 reply=MESSAGES[decision.reason])
    return _("A login now would be refused. The customer's router shows: “%(reply)s”", reply=decision.message)


def usage(row: PolicyRow | None) -> dict | None:
    """Usage this cap window against the next slow-down (or the last, once past it), with the tier reached and
    its speed, as decide() grants it (None: no cap). Top-ups raise every threshold. A cap without a reduced
    speed only counts (decide() has no tier to apply)."""
    if row is None or row.data_cap_bytes is None:
        return None
    tiers, used = row.tiers, row.usage_bytes
    tier = tier_for(tiers, used, row.topup_bytes)
    last = tiers[-1].after_bytes if tiers else row.data_cap_bytes
    cap = next_threshold(tiers, tier, row.topup_bytes) or last + row.topup_bytes
    speeds = speeds_for(row.speeds, tiers, tier)
    return {"used": used, "cap": cap, "percent": min(100, round(100 * used / cap)) if cap else 100,
            "since": row.usage_since, "resets_at": row.usage_resets_at, "over": tier > 0, "tier": tier,
            "tiers": len(tiers), "down": format_rate(speeds.download_kbps), "up": format_rate(speeds.upload_kbps)}


def _local(value: datetime | None, tz: str) -> str:
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M") if value else _("never")


def sentence(name: str, outcome: str, row: PolicyRow | None, decision: Decision, device: str | None,
             tz: str) -> Line | None:
    """One check as a sentence that says what was found and, when it failed, what to do."""
    texts = {
        ("known_user", "pass"): _("RADIUS knows this username."),
        ("known_user", "fail"): _("RADIUS does not know this username: the customer's operator or package may be "
                                "switched off. Ask your operator to check the account."),
        ("status", "fail"): _("The customer is disabled, so every login is refused. Activate the customer if they "
                            "should be online again."),
        ("mac_binding", "skip"): _("The login is not locked to a device."),
        ("suspended", "pass"): _("The customer is not suspended."),
        ("suspended", "fail"): _("The customer is suspended. Collect the payment or activate the customer to "
                               "reconnect them."),
        ("simultaneous_use", "skip"): _("Any number of devices may be online at once."),
        ("walled_garden", "info"): _("The router puts the login in the walled garden so the customer sees the pay page."),
    }
    if (name, outcome) in texts:
        return Line(name, outcome, texts[(name, outcome)])
    if row is None:
        return None
    if name == "mac_binding":
        mac = row.mac_address
        if outcome == "pass":
            return Line(name, outcome, _("The login is locked to device %(mac)s, and the last login attempt came "
                                         "from %(device)s.", mac=mac, device=device) if device
                        else _("The login is locked to device %(mac)s, and no login attempt has been seen yet.",
                               mac=mac))
        return Line(name, outcome, _("The login is locked to device %(mac)s, but the last login attempt came from "
                                     "%(device)s. If the customer changed their router, edit the MAC binding.",
                                     mac=mac, device=device) if device
                    else _("The login is locked to device %(mac)s, but no login attempt has been seen yet. If the "
                           "customer changed their router, edit the MAC binding.", mac=mac))
    if name == "expired":
        when = _local(row.expires_at, tz)
        if outcome == "pass":
            return Line(name, outcome, _("The package is paid up to %(when)s.", when=when) if row.expires_at
                        else _("The package does not expire."))
        return Line(name, outcome, _("The package expired at %(when)s. Collect a payment to renew it.", when=when))
    if name == "simultaneous_use":
        limit = row.simultaneous_use
        text = _("Devices online: %(online)s of %(limit)s allowed.", online=_open_count(decision), limit=limit)
        if outcome == "fail":
            text = _("Devices online: %(online)s of %(limit)s allowed. Another login is refused: disconnect the old "
                     "session below, then ask the customer to log in again.", online=_open_count(decision),
                     limit=limit)
        return Line(name, outcome, text)
    if name == "data_cap":
        if outcome == "fail":
            return Line(name, outcome, _("The data cap for this period is used up, so the speed is reduced until "
                                         "%(when)s.", when=_local(row.usage_resets_at, tz)))
        return Line(name, outcome, _("The data cap for this period is not used up yet."))
    return None  # e.g. the reply attributes: for `radbill explain`, not for staff


def _open_count(decision: Decision) -> str:
    check = next((c for c in decision.checks if c.name == "simultaneous_use"), None)
    return check.observed.split(" ", 1)[0] if check else "?"
