"""Dashboard figures for a scope: customers, sessions, collections, outstanding bills (read-only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from radbill.policy.state import display_state_sql
from radbill.services.filters import subtree_operator_ids
from radbill.tenancy import Scope


@dataclass(frozen=True)
class Dashboard:
    customers: dict[str, int]  # per display state (policy.state): active, expired, suspended, disabled
    online: int
    collected_today: int
    collected_month: int
    outstanding_count: int
    outstanding_minor: int
    recent_payments: list[asyncpg.Record]
    daily: list[tuple[date, int]]  # the last 30 days in the operator's time zone

    @property
    def total(self) -> int:
        return sum(self.customers.values())

    @property
    def offline(self) -> int:
        return max(0, self.customers.get("active", 0) - self.online)


async def load(conn: asyncpg.Connection, scope: Scope, now: datetime, timezone: str) -> Dashboard:
    zone = ZoneInfo(timezone)
    local_today = now.astimezone(zone).date()
    day_start = datetime.combine(local_today, datetime.min.time(), zone)
    month_start = datetime.combine(local_today.replace(day=1), datetime.min.time(), zone)
    chart_start = datetime.combine(local_today - timedelta(days=29), datetime.min.time(), zone)

    # money collected is what is left of each payment: a reversed (bounced, refunded) part did not stay
    # the scope as operator ids, not `path <@`: see subtree_operator_ids (plans under row-level security)
    ids = await subtree_operator_ids(conn, scope)
    counts = {r["state"]: r["n"] for r in await conn.fetch(
        f"SELECT {display_state_sql('$2')} AS state, count(*) AS n"  # noqa: S608 - a fixed expression
        "  FROM customers c WHERE c.operator_id = ANY ($1::bigint[]) GROUP BY 1", ids, now)}
    online = await conn.fetchval(
        "SELECT count(DISTINCT r.username) FROM radacct r JOIN customers c ON c.username = r.username"
        " WHERE r.acctstoptime IS NULL AND c.operator_id = ANY ($1::bigint[])", ids)
    money = await conn.fetchrow(
        "SELECT coalesce(sum(amount_minor - reversed_minor) FILTER (WHERE received_at >= $2), 0) AS today,"
        "       coalesce(sum(amount_minor - reversed_minor), 0) AS month"
        "  FROM payments WHERE operator_id = ANY ($1::bigint[]) AND received_at >= $3 AND method <> 'advance'",
        ids, day_start, min(month_start, day_start))
    outstanding = await conn.fetchrow(
        "SELECT count(*) AS n, coalesce(sum(total_minor - paid_minor), 0) AS amount"
        "  FROM bills WHERE operator_id = ANY ($1::bigint[]) AND status IN ('unpaid', 'partial')", ids)
    # newest first through the received_at index, stopping at 8 rows in scope (no sort of every payment)
    recent = await conn.fetch(
        "SELECT p.id, p.amount_minor, p.currency, p.method, p.received_at, c.id AS customer_id, c.name, c.username"
        "  FROM (SELECT * FROM payments WHERE operator_id = ANY ($1::bigint[]) AND method <> 'advance'"
        "         ORDER BY received_at DESC LIMIT 8) p"
        "  JOIN customers c ON c.id = p.customer_id ORDER BY p.received_at DESC", ids)
    per_day = {r["day"]: r["amount"] for r in await conn.fetch(
        "SELECT (received_at AT TIME ZONE $3)::date AS day, sum(amount_minor - reversed_minor) AS amount"
        "  FROM payments"
        " WHERE operator_id = ANY ($1::bigint[]) AND received_at >= $2 AND method <> 'advance' GROUP BY 1",
        ids, chart_start, timezone)}
    daily = [(d, int(per_day.get(d, 0))) for d in (local_today - timedelta(days=29 - i) for i in range(30))]
    return Dashboard(counts, online, int(money["today"]), int(money["month"]), outstanding["n"],
                     int(outstanding["amount"]), list(recent), daily)


CHART_WIDTH = 340  # viewBox units; the SVG scales to the card, so ~1 unit per CSS px on a 390 px phone
CHART_ROW = 18
CHART_BARS_FROM = 50  # the day label's column
CHART_VALUES_FROM = 236  # the amount's column (right-aligned at CHART_WIDTH)


def chart_bars(daily: list[tuple[date, int]]) -> dict:
    """A horizontal bar per day for a small server-rendered SVG (no JavaScript): the day and the amount are
    written as text beside each bar, so they read on a phone, where nothing can be hovered."""
    peak = max((v for _, v in daily), default=0) or 1
    room = CHART_VALUES_FROM - CHART_BARS_FROM - 6
    rows = [{"y": i * CHART_ROW, "text_y": i * CHART_ROW + CHART_ROW - 5, "x": CHART_BARS_FROM,
             "w": round(v / peak * room, 2), "h": CHART_ROW - 4, "day": d, "value": v}
            for i, (d, v) in enumerate(daily)]
    return {"rows": rows, "width": CHART_WIDTH, "height": max(len(rows), 1) * CHART_ROW,
            "axis_x": CHART_BARS_FROM - 2}
