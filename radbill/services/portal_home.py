"""What a logged-in customer sees of their own account in the portal (no HTTP here): status with its reason,
package and speed, expiry, data used in the cap window by day, the live session, bills and payments.

Every function runs in the customer's one-customer database scope (row-level security: their own rows only) and
also names the customer in its predicates, so a query stays right even on a connection without that scope. The
state is radbill.policy.state's rule (the admin's badge), what is owed is the ledger's word, the cap window is
the radius_policy view's (radbill_cap_window), so the portal never holds a second copy of any of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from radbill import clock
from radbill.errors import NotFound
from radbill.i18n import _
from radbill.localize import long_date, money
from radbill.policy.rates import format_rate
from radbill.policy.state import display_state, state_label
from radbill.services import ledger, payments
from radbill.tenancy import CustomerScope

# The cap window is radbill_cap_window's, called with the arguments the radius_policy view passes it (that view
# is the RADIUS role's, and computes no window for a package without a cap: the portal still shows the period).
ACCOUNT_SQL = """
SELECT c.id, c.username, c.name, c.status, c.expires_at, c.mobile, o.timezone, o.currency,
       p.name AS package, p.download_kbps, p.upload_kbps, p.data_cap_bytes,
       w.window_start AS cap_window_start, w.window_end AS cap_window_end
  FROM customers c JOIN packages p ON p.id = c.package_id JOIN operators o ON o.id = c.operator_id
  JOIN billing_profiles bp ON bp.id = c.billing_profile_id
  CROSS JOIN LATERAL radbill_cap_window(p.cap_period, o.timezone, bp.cycle_kind, bp.billing_day::integer,
        bp.validity_days, coalesce(c.billing_anchor, (c.created_at AT TIME ZONE o.timezone)::date), $2) w
 WHERE c.id = $1
"""

# A session's octets count on the day (operator's time zone) it was last heard of: radacct keeps no per-day
# counters. Open sessions count in full, closed ones when they stopped inside the window.
USAGE_BY_DAY_SQL = """
SELECT (coalesce(r.acctstoptime, r.acctupdatetime, r.acctstarttime) AT TIME ZONE $4)::date AS day,
       sum(coalesce(r.acctinputoctets, 0) + coalesce(r.acctoutputoctets, 0))::bigint AS bytes
  FROM radacct r JOIN customers c ON c.username = r.username
 WHERE c.id = $1
   AND (r.acctstoptime IS NULL OR (r.acctstoptime >= $2 AND r.acctstoptime < $3))
   AND coalesce(r.acctupdatetime, r.acctstarttime) >= $2
 GROUP BY 1 ORDER BY 1
"""

LIVE_SESSION_SQL = """
SELECT r.acctstarttime, host(r.framedipaddress) AS address, r.callingstationid AS mac
  FROM radacct r JOIN customers c ON c.username = r.username
 WHERE c.id = $1 AND r.acctstoptime IS NULL
 ORDER BY r.acctstarttime DESC NULLS LAST, r.radacctid DESC LIMIT 1
"""


@dataclass(frozen=True, slots=True)
class DayUsage:
    day: date
    bytes: int
    percent: int  # of the busiest day, for the bar's length


def human_bytes(n: int | None) -> str:
    """1536 -> '1.5 KB'; decimal units, as ISPs sell caps (a 100 GB package)."""
    value = float(n or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def days_left(expires_at: datetime | None, now: datetime) -> int | None:
    """Whole days of paid time left (a part day counts: 'expires in 1 day' until the instant it does)."""
    if expires_at is None:
        return None
    return max(0, math.ceil((expires_at - now).total_seconds() / 86400))


def status_sentence(state: str, due_minor: int, currency: str, expires_at: datetime | None, timezone: str,
                    due_bill: bool) -> str:
    """The reason in plain words, and what to do about it. Staff's own status note is not shown: it is written
    for staff (it may name a colleague or a dispute)."""
    if state == "active":
        return _("Your connection is active.")
    if state == "expired":
        return _("Your package ended on %(date)s. Pay to renew it and get back online.",
                 date=long_date(expires_at, timezone))
    if state == "suspended" and due_bill:
        return _("Suspended because a bill is unpaid: %(amount)s is due. Pay it to get back online.",
                 amount=money(due_minor, currency))
    if state == "suspended":
        return _("Suspended by your internet provider. Call them to find out why.")
    return _("Your account is closed. Call your internet provider if you want it back.")


async def account(conn: asyncpg.Connection, scope: CustomerScope, now: datetime | None = None) -> dict:
    """The home page's facts about the customer; NotFound when they no longer exist."""
    now = now or clock.now()
    row = await conn.fetchrow(ACCOUNT_SQL, scope.customer_id, now)
    if row is None:
        raise NotFound(_("Customer %(id)s was not found.", id=scope.customer_id))
    balance = await ledger.customer_balance(conn, scope, scope.customer_id)
    state = display_state(row["status"], row["expires_at"], now)
    due_bill = await payments.due_bill_open(conn, scope.customer_id, now)
    currency = row["currency"].strip()
    return {"customer": row, "state": state, "state_label": state_label(state),
            "reason": status_sentence(state, balance.due_minor, currency, row["expires_at"], row["timezone"],
                                      due_bill),
            "due_minor": balance.due_minor, "advance_minor": balance.advance_minor, "currency": currency,
            "speed": f"{format_rate(row['download_kbps'])}/{format_rate(row['upload_kbps'])}",
            "days_left": days_left(row["expires_at"], now)}


async def usage(conn: asyncpg.Connection, facts: dict) -> dict | None:
    """Data used in the current cap window, by day, against the cap; None when the window is unknown."""
    c = facts["customer"]
    if c["cap_window_start"] is None:
        return None
    rows = await conn.fetch(USAGE_BY_DAY_SQL, c["id"], c["cap_window_start"], c["cap_window_end"], c["timezone"])
    busiest = max((r["bytes"] for r in rows), default=0)
    days = [DayUsage(r["day"], r["bytes"], round(100 * r["bytes"] / busiest) if busiest else 0) for r in rows]
    used = sum(d.bytes for d in days)
    cap = c["data_cap_bytes"]
    return {"days": days, "used": used, "cap": cap, "window_start": c["cap_window_start"],
            "window_end": c["cap_window_end"],
            "percent_of_cap": min(100, round(100 * used / cap)) if cap else None}


async def live_session(conn: asyncpg.Connection, customer_id: int) -> asyncpg.Record | None:
    """The customer's open session (since, address, device MAC as the NAS reports it), if online."""
    return await conn.fetchrow(LIVE_SESSION_SQL, customer_id)


async def bills(conn: asyncpg.Connection, customer_id: int, limit: int = 50) -> list[asyncpg.Record]:
    """The customer's bills, newest first, with what is still open (void bills owe nothing)."""
    return await conn.fetch(
        "SELECT id, period_start, period_end - 1 AS period_last, total_minor, paid_minor, status, due_at, currency,"
        "       CASE WHEN status = 'void' THEN 0 ELSE total_minor - paid_minor END AS outstanding_minor"
        "  FROM bills WHERE customer_id = $1 ORDER BY period_start DESC, id DESC LIMIT $2", customer_id, limit)


async def payment_list(conn: asyncpg.Connection, customer_id: int, limit: int = 50) -> list[asyncpg.Record]:
    """The customer's payments, newest first."""
    return await conn.fetch(
        "SELECT id, received_at, amount_minor, currency, method FROM payments WHERE customer_id = $1"
        " ORDER BY received_at DESC, id DESC LIMIT $2", customer_id, limit)


async def transfer_list(conn: asyncpg.Connection, customer_id: int, limit: int = 20) -> list[asyncpg.Record]:
    """The customer's reported mobile-wallet transfers, newest first, with where they went and their status."""
    return await conn.fetch(
        "SELECT t.id, t.submitted_at, t.amount_minor, t.currency, t.trxid, t.status, t.reason, w.kind, w.number"
        "  FROM wallet_transfers t JOIN operator_wallets w ON w.id = t.wallet_id WHERE t.customer_id = $1"
        " ORDER BY t.submitted_at DESC, t.id DESC LIMIT $2", customer_id, limit)
