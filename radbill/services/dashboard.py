"""Dashboard figures for a scope: customers, sessions, collections, outstanding bills (read-only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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
    online_as_of: datetime | None = None  # when `online` was counted (job dashboard.online); None: just now

    @property
    def total(self) -> int:
        return sum(self.customers.values())

    @property
    def offline(self) -> int:
        return max(0, self.customers.get("active", 0) - self.online)


ONLINE_SQL = ("SELECT count(DISTINCT r.username) FROM radacct r JOIN customers c ON c.username = r.username"
              " WHERE r.acctstoptime IS NULL AND c.operator_id = ANY ($1::bigint[])")
# newest first through the received_at index, stopping at 8 rows in scope (no sort of every payment)
RECENT_SQL = ("SELECT p.id, p.amount_minor, p.currency, p.method, p.received_at, c.id AS customer_id, c.name,"
              "       c.username"
              "  FROM (SELECT * FROM payments WHERE operator_id = ANY ($1::bigint[]) AND method <> 'advance'"
              "         ORDER BY received_at DESC LIMIT 8) p"
              "  JOIN customers c ON c.id = p.customer_id ORDER BY p.received_at DESC")


async def load(conn: asyncpg.Connection, scope: Scope, now: datetime, timezone: str) -> Dashboard:
    """The dashboard's figures from the per-operator counters of migration 0049 (kept exact by triggers), so a load
    reads O(operators x hours) rows whatever the number of customers; equal to load_fresh at every instant."""
    zone = ZoneInfo(timezone)
    local_today = now.astimezone(zone).date()
    days = [local_today - timedelta(days=29 - i) for i in range(30)]
    starts = [datetime.combine(d, datetime.min.time(), zone) for d in days]
    month_start = datetime.combine(local_today.replace(day=1), datetime.min.time(), zone)
    if not all(_whole_hour(t) for t in (*starts, month_start)):
        return await load_fresh(conn, scope, now, timezone)  # the hourly buckets cannot split this zone's days
    # the scope as operator ids, not `path <@`: see subtree_operator_ids (plans under row-level security)
    ids = await subtree_operator_ids(conn, scope)
    counts = await _state_counts(conn, ids, now)
    online, online_as_of = await _online(conn, ids, now)
    outstanding = await conn.fetchrow(
        "SELECT coalesce(sum(n), 0) AS n, coalesce(sum(due_minor), 0) AS amount"
        "  FROM dashboard_bill_counts WHERE operator_id = ANY ($1::bigint[])", ids)
    # whole hours: a bucket lies in one local day, so the days are sums of buckets
    per_day = {r["day"]: int(r["amount"]) for r in await conn.fetch(
        "SELECT (hour AT TIME ZONE $3)::date AS day, sum(amount_minor) AS amount FROM dashboard_payment_sums"
        " WHERE operator_id = ANY ($1::bigint[]) AND hour >= $2 GROUP BY 1",
        ids, min(starts[0], month_start), timezone)}
    today = sum(v for d, v in per_day.items() if d >= local_today)
    month = sum(v for d, v in per_day.items() if d >= min(month_start.date(), local_today))
    recent = await conn.fetch(RECENT_SQL, ids)
    daily = [(d, per_day.get(d, 0)) for d in days]
    return Dashboard(counts, online, today, month, int(outstanding["n"]), int(outstanding["amount"]), list(recent),
                     daily, online_as_of)


ONLINE_STALE = timedelta(minutes=5)  # the job counts every minute; older means the scheduler is not running


async def _online(conn: asyncpg.Connection, ids: list[int], now: datetime) -> tuple[int, datetime | None]:
    """The scope's online customers as the job last counted them, with the time; counted live (O(open sessions))
    when an operator of the scope has no recent count."""
    row = await conn.fetchrow("SELECT coalesce(sum(n), 0) AS n, min(counted_at) AS at, count(*) AS operators"
                              "  FROM dashboard_online WHERE operator_id = ANY ($1::bigint[])", ids)
    if row["operators"] == len(ids) and ids and row["at"] > now - ONLINE_STALE:
        return int(row["n"]), row["at"]
    return await conn.fetchval(ONLINE_SQL, ids), None


async def count_online(conn: asyncpg.Connection) -> int:
    """Count every operator's online customers now (the job dashboard.online); returns the total."""
    return await conn.fetchval("SELECT radbill_count_online()")


async def compact(conn: asyncpg.Connection) -> int:
    """Fold the counters' delta rows into one row per key (the sums stay); returns how many rows went.
    Safe at any time and twice: writers keep appending meanwhile (see radbill_compact_dashboard)."""
    return await conn.fetchval("SELECT radbill_compact_dashboard()")


def _whole_hour(t: datetime) -> bool:
    return t.timestamp() % 3600 == 0


async def _state_counts(conn: asyncpg.Connection, ids: list[int], now: datetime) -> dict[str, int]:
    """Customers per display state. An active customer's bucket (the UTC hour of its expiry) before the current
    hour has expired; the current hour's customers are looked at one by one (the customers_expires index)."""
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    counts: dict[str, int] = {}
    for r in await conn.fetch(
            "SELECT CASE WHEN status = 'active' AND expires_hour < $2 THEN 'expired' ELSE status END AS state,"
            "       sum(n) AS n FROM dashboard_customer_counts WHERE operator_id = ANY ($1::bigint[]) GROUP BY 1",
            ids, hour):
        if r["n"]:
            counts[r["state"]] = int(r["n"])
    this_hour = await conn.fetchval(
        "SELECT count(*) FROM customers c WHERE c.operator_id = ANY ($1::bigint[]) AND c.status = 'active'"
        "   AND c.expires_at >= $2 AND c.expires_at <= $3", ids, hour, now)
    if this_hour:
        counts["active"] -= this_hour
        counts["expired"] = counts.get("expired", 0) + this_hour
        if not counts["active"]:
            del counts["active"]
    return counts


async def load_fresh(conn: asyncpg.Connection, scope: Scope, now: datetime, timezone: str) -> Dashboard:
    """The same figures aggregated from the rows themselves, O(customers): what the counters must always equal
    (tests/services/test_dashboard_counters.py), the fallback for a time zone off whole hours, and the bench's
    baseline."""
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
    online = await conn.fetchval(ONLINE_SQL, ids)
    money = await conn.fetchrow(
        "SELECT coalesce(sum(amount_minor - reversed_minor) FILTER (WHERE received_at >= $2), 0) AS today,"
        "       coalesce(sum(amount_minor - reversed_minor), 0) AS month"
        "  FROM payments WHERE operator_id = ANY ($1::bigint[]) AND received_at >= $3 AND method <> 'advance'",
        ids, day_start, min(month_start, day_start))
    outstanding = await conn.fetchrow(
        "SELECT count(*) AS n, coalesce(sum(total_minor - paid_minor), 0) AS amount"
        "  FROM bills WHERE operator_id = ANY ($1::bigint[]) AND status IN ('unpaid', 'partial')", ids)
    recent = await conn.fetch(RECENT_SQL, ids)
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
