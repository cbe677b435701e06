"""The operator's reports (read-only): dues with aging, collections, reseller profit, customer movement, online
now by router. Each returns a `Report` (columns, rows, charts) that the admin page, CSV, XLSX and PDF all render
(radbill/report_files.py), so a figure is computed once whatever the format.

Rules (README "Reports"):
- Scoped like every list: the caller's subtree as operator ids (`subtree_operator_ids`: under row-level security
  `path <@` is estimated at one operator and plans nested loops at 100k customers), RLS underneath.
- Money collected is what is left of each payment (`amount - reversed`): a reversed or refunded part did not stay.
- Aging: a customer's dues are aged by its OLDEST bill still (partly) unpaid past its due time, in whole days
  past due: 0–30, 31–60, 61–90, 90+. Bills not yet due are not dues.
- Reseller profit per month: retail collected (what is left of the payments) less the wholesale those payments
  cost (debited when a period was paid, given back when it was reversed), both in the payment's month.
- Churn, per month in the operator's time zone, from the status history (audit log): churned = active at the
  start of the month and suspended or disabled at its end; reactivated = the other way round. A customer
  suspended and paid again within the month is neither. New = created in the month.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from radbill.billing.periods import local_midnight_utc
from radbill.errors import NotFound, ValidationError
from radbill.i18n import _, lazy_gettext
from radbill.services.filters import subtree_operator_ids
from radbill.tenancy import Scope
from radbill.validate import optional_id

KINDS = ("dues", "collections", "resellers", "movement", "online")
TITLES = {"dues": lazy_gettext("Dues by age"), "collections": lazy_gettext("Collections"),
          "resellers": lazy_gettext("Reseller profit"), "movement": lazy_gettext("New and churned customers"),
          "online": lazy_gettext("Online now by router")}
BUCKETS = ("0-30", "31-60", "61-90", "90+")
GROUPS = ("collector", "zone", "package", "month", "operator")
GROUP_LABELS = {"collector": lazy_gettext("By collector"), "zone": lazy_gettext("By zone"),
                "package": lazy_gettext("By package"), "month": lazy_gettext("By month"),
                "operator": lazy_gettext("By operator")}
GROUP_COLUMNS = {"collector": lazy_gettext("Collector"), "zone": lazy_gettext("Zone"),
                 "package": lazy_gettext("Package"), "month": lazy_gettext("Month"),
                 "operator": lazy_gettext("Operator")}
# a group with no name: gateway payments have no collector, a customer may have no zone
GROUP_NONE = {"collector": lazy_gettext("No collector (paid online or by the system)"), "zone": lazy_gettext("No zone")}
PAGE_ROWS = 500
EXPORT_ROWS = 100_000
MAX_MONTHS = 36

# the one aging rule (module docstring); {days} is a SQL expression of whole days past due
AGING_BUCKET = ("CASE WHEN {days} <= 30 THEN '0-30' WHEN {days} <= 60 THEN '31-60'"
                " WHEN {days} <= 90 THEN '61-90' ELSE '90+' END")


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # text | int | money


@dataclass(frozen=True)
class Chart:
    title: str
    items: list[tuple[str, int]]
    money: bool = True


@dataclass
class Report:
    kind: str
    title: str
    currency: str
    columns: tuple[Column, ...]
    rows: list[dict]
    charts: list[Chart] = field(default_factory=list)
    more: bool = False  # rows were cut at the limit (the download has them all, up to EXPORT_ROWS)
    note: str = ""


def _month(text: str | None, field_name: str) -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text + "-01")
    except ValueError:
        raise ValidationError(_("Write the month as YYYY-MM, e.g. 2024-03."), {field_name: _("not a month")}) from None


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


@dataclass(frozen=True)
class ReportFilters:
    """Months are calendar months in the caller's time zone, both ends included."""

    start: date
    end: date  # the first day of the month AFTER the last one shown
    group: str = "collector"
    bucket: str | None = None
    operator_id: int | None = None
    zone_id: int | None = None
    timezone: str = "Asia/Dhaka"

    @classmethod
    def from_query(cls, query, timezone: str, now: datetime) -> ReportFilters:
        this_month = now.astimezone(ZoneInfo(timezone)).date().replace(day=1)
        first = _month(query.get("from"), "from")
        last = _month(query.get("to"), "to") or this_month
        first = first or (last - timedelta(days=150)).replace(day=1)  # about six months by default
        if last < first:
            raise ValidationError(_("The 'to' month is before the 'from' month."), {"to": _("before from")})
        if (last.year - first.year) * 12 + last.month - first.month >= MAX_MONTHS:
            raise ValidationError(_("Choose at most %(n)s months.", n=MAX_MONTHS), {"from": _("too long")})
        group = query.get("group") if query.get("group") in GROUPS else "collector"
        bucket = query.get("bucket") if query.get("bucket") in BUCKETS else None
        return cls(first, _next_month(last), group, bucket, optional_id(query.get("operator_id")),
                   optional_id(query.get("zone_id")), timezone)

    @property
    def start_at(self) -> datetime:
        return local_midnight_utc(self.start, self.timezone)

    @property
    def end_at(self) -> datetime:
        return local_midnight_utc(self.end, self.timezone)

    @property
    def last_month(self) -> date:
        return (self.end - timedelta(days=1)).replace(day=1)


async def operator_ids(conn: asyncpg.Connection, scope: Scope, operator_id: int | None) -> list[int]:
    """The scope's operators, or one operator's subtree inside it (a foreign operator is NotFound)."""
    if operator_id is None:
        return await subtree_operator_ids(conn, scope)
    ids = await conn.fetchval(
        "SELECT coalesce(array_agg(o.id ORDER BY o.id), '{}') FROM operators o, operators top"
        " WHERE top.id = $2 AND top.path <@ $1::ltree AND o.path <@ top.path", scope.path, operator_id)
    if not ids:
        raise NotFound(_("This operator was not found."))
    return ids


async def _currency(conn, scope: Scope) -> str:
    return (await conn.fetchval("SELECT currency FROM operators WHERE id = $1", scope.operator_id) or "BDT").strip()


# ---- a. dues with aging --------------------------------------------------------------------------------

# one pass over the open bills: per customer (aged), the bucket totals, and only the page joined to customers
_DUES = f"""
WITH d AS MATERIALIZED (
  SELECT b.customer_id, count(*) AS bills, sum(b.total_minor - b.paid_minor)::bigint AS due_minor,
         min(b.due_at) AS oldest_due, floor(extract(epoch FROM $2 - min(b.due_at)) / 86400)::int AS days
    FROM bills b WHERE b.operator_id = ANY ($1::bigint[]) AND b.status IN ('unpaid', 'partial') AND b.due_at <= $2
     AND ($3::bigint IS NULL OR b.customer_id IN (SELECT id FROM customers WHERE zone_id = $3))
   GROUP BY b.customer_id
), aged AS MATERIALIZED (
  SELECT d.*, {AGING_BUCKET.format(days="d.days")} AS bucket FROM d
), page AS (
  SELECT * FROM aged WHERE ($4::text IS NULL OR bucket = $4) ORDER BY days DESC, customer_id LIMIT $5
)
SELECT t.totals, p.customer_id, c.username, c.name, c.mobile, o.name AS operator, z.name AS zone, p.bills,
       p.due_minor, p.oldest_due, p.days, p.bucket
  FROM (SELECT coalesce(jsonb_object_agg(bucket, jsonb_build_array(n, due)), '{{}}') AS totals
          FROM (SELECT bucket, count(*) AS n, sum(due_minor) AS due FROM aged GROUP BY bucket) x) t
  LEFT JOIN page p ON true
  LEFT JOIN customers c ON c.id = p.customer_id LEFT JOIN operators o ON o.id = c.operator_id
  LEFT JOIN zones z ON z.id = c.zone_id
 ORDER BY p.days DESC, p.customer_id
"""  # noqa: S608 - fixed fragments only


async def _dues(conn, ids: list[int], f: ReportFilters, now: datetime, limit: int) -> tuple[list[dict], dict]:
    """(customers with dues past their due time, oldest first, at most `limit`; {bucket: (customers, due)})."""
    rows = await conn.fetch(_DUES, ids, now, f.zone_id, f.bucket, limit)
    totals = json.loads(rows[0]["totals"]) if rows else {}
    return [{k: v for k, v in r.items() if k != "totals"} for r in rows if r["customer_id"] is not None], totals


async def dues_customer_ids(conn: asyncpg.Connection, scope: Scope, bucket: str, zone_id: int | None,
                            operator_id: int | None, now: datetime) -> list[int]:
    """The customers of the dues list with these filters ('all' or a bucket): whom the dues SMS goes to."""
    f = ReportFilters(now.date(), now.date(), bucket=None if bucket == "all" else bucket, operator_id=operator_id,
                      zone_id=zone_id)
    rows, _totals = await _dues(conn, await operator_ids(conn, scope, operator_id), f, now, EXPORT_ROWS)
    return [r["customer_id"] for r in rows]


async def dues(conn: asyncpg.Connection, scope: Scope, f: ReportFilters, now: datetime, limit: int) -> Report:
    ids = await operator_ids(conn, scope, f.operator_id)
    rows, per_bucket = await _dues(conn, ids, f, now, limit + 1)
    columns = (Column("customer_id", _("Customer ID"), "int"), Column("username", _("Username")),
               Column("name", _("Name")), Column("mobile", _("Mobile")), Column("operator", _("Operator")),
               Column("zone", _("Zone")), Column("bills", _("Bills"), "int"),
               Column("days", _("Days past due"), "int"), Column("bucket", _("Age (days)")),
               Column("due_minor", _("Due"), "money"))
    chart = Chart(_("Dues by age (days past due)"), [(b, int(per_bucket.get(b, (0, 0))[1])) for b in BUCKETS])
    counts = Chart(_("Customers by age (days past due)"), [(b, int(per_bucket.get(b, (0, 0))[0])) for b in BUCKETS],
                   money=False)
    return Report("dues", str(TITLES["dues"]), await _currency(conn, scope), columns, rows[:limit], [chart, counts],
                  len(rows) > limit)


# ---- b. collections ------------------------------------------------------------------------------------

# group key -> (label expression, the joins it needs); fixed SQL only, chosen by a validated name
_GROUP_SQL = {
    "collector": ("a.username", "LEFT JOIN accounts a ON a.id = p.collected_by"),
    "zone": ("z.name", "LEFT JOIN zones z ON z.id = c.zone_id"),
    "package": ("k.name", "LEFT JOIN bills b ON b.id = p.bill_id"
                          " JOIN packages k ON k.id = coalesce(b.package_id, c.package_id)"),
    "month": ("to_char(p.received_at AT TIME ZONE $4, 'YYYY-MM')", ""),
    "operator": ("o.name", "JOIN operators o ON o.id = p.operator_id"),
}


async def collections(conn: asyncpg.Connection, scope: Scope, f: ReportFilters, now: datetime,
                      limit: int) -> Report:
    ids = await operator_ids(conn, scope, f.operator_id)
    label, joins = _GROUP_SQL[f.group]
    query = (f"SELECT {label} AS label, count(*) AS payments,"  # noqa: S608 - fixed fragments only
             "        sum(p.amount_minor - p.reversed_minor)::bigint AS collected_minor,"
             "        sum(p.reversed_minor)::bigint AS reversed_minor"
             "   FROM payments p JOIN customers c ON c.id = p.customer_id " + joins +
             "  WHERE p.operator_id = ANY ($1::bigint[]) AND p.received_at >= $2 AND p.received_at < $3"
             # `$4 IS NOT NULL`: the time zone is a parameter of every grouping (only 'month' uses it)
             "    AND ($5::bigint IS NULL OR c.zone_id = $5) AND ($4::text IS NOT NULL)"
             "  GROUP BY 1 ORDER BY " + ("1" if f.group == "month" else "3 DESC, 1"))
    rows = [dict(r) for r in await conn.fetch(query, ids, f.start_at, f.end_at, f.timezone, f.zone_id)]
    for r in rows:
        r["label"] = r["label"] if r["label"] is not None else str(GROUP_NONE.get(f.group, "-"))
    columns = (Column("label", str(GROUP_COLUMNS[f.group])),
               Column("payments", _("Payments"), "int"), Column("collected_minor", _("Collected"), "money"),
               Column("reversed_minor", _("Reversed"), "money"))
    return Report("collections", str(TITLES["collections"]), await _currency(conn, scope), columns, rows[:limit],
                  [Chart(_("Collected"), [(r["label"], r["collected_minor"]) for r in rows[:40]])],
                  len(rows) > limit, _("Collected is what is left of each payment after reversals and refunds."))


# ---- c. reseller profit --------------------------------------------------------------------------------

_RESELLERS = """
WITH sold AS (
  SELECT p.operator_id, sum(p.amount_minor - p.reversed_minor)::bigint AS collected_minor
    FROM payments p WHERE p.operator_id = ANY ($1::bigint[]) AND p.received_at >= $2 AND p.received_at < $3
   GROUP BY 1
), bought AS (  -- wholesale in the month of the payment that bought it (as retail is), else when it was posted
  SELECT a.operator_id,
         sum(e.amount_minor) FILTER (WHERE e.kind IN ('wholesale_debit', 'wholesale_return')
                                     AND coalesce(p.received_at, e.created_at) >= $2
                                     AND coalesce(p.received_at, e.created_at) < $3)::bigint AS wholesale_minor,
         -sum(e.amount_minor) FILTER (WHERE e.kind = 'reseller_top_up' AND e.created_at >= $2
                                      AND e.created_at < $3)::bigint AS top_up_minor
    FROM ledger_accounts a JOIN ledger_entries e ON e.account_id = a.id LEFT JOIN payments p ON p.id = e.payment_id
   WHERE a.kind = 'operator_balance' AND a.operator_id = ANY ($1::bigint[])
     AND e.kind IN ('wholesale_debit', 'wholesale_return', 'reseller_top_up')
   GROUP BY 1
)
SELECT o.id AS operator_id, o.name, o.kind, parent.name AS parent, o.balance_minor,
       coalesce(s.collected_minor, 0) AS collected_minor, coalesce(b.wholesale_minor, 0) AS wholesale_minor,
       coalesce(s.collected_minor, 0) - coalesce(b.wholesale_minor, 0) AS profit_minor,
       coalesce(b.top_up_minor, 0) AS top_up_minor
  FROM operators o LEFT JOIN operators parent ON parent.id = o.parent_id
  LEFT JOIN sold s ON s.operator_id = o.id LEFT JOIN bought b ON b.operator_id = o.id
 WHERE o.id = ANY ($1::bigint[]) AND o.kind IN ('operator', 'sub_operator')
 ORDER BY o.path
"""


async def resellers(conn: asyncpg.Connection, scope: Scope, f: ReportFilters, now: datetime, limit: int) -> Report:
    ids = await operator_ids(conn, scope, f.operator_id)
    rows = [dict(r) for r in await conn.fetch(_RESELLERS, ids, f.start_at, f.end_at)]
    columns = (Column("name", _("Operator")), Column("parent", _("Parent")),
               Column("collected_minor", _("Retail collected"), "money"),
               Column("wholesale_minor", _("Wholesale paid"), "money"), Column("profit_minor", _("Profit"), "money"),
               Column("top_up_minor", _("Balance top-ups"), "money"), Column("balance_minor", _("Balance now"), "money"))
    return Report("resellers", str(TITLES["resellers"]), await _currency(conn, scope), columns, rows[:limit],
                  [Chart(_("Profit"), [(r["name"], r["profit_minor"]) for r in rows[:40]])], len(rows) > limit,
                  _("Profit is the retail collected from customers less the wholesale paid to the parent operator "
                    "for the periods sold (given back when a period is reversed)."))


# ---- d. new, churned and reactivated customers ---------------------------------------------------------

_MOVEMENT = """
WITH ev AS (
  SELECT l.object_id AS customer_id, to_char(l.at AT TIME ZONE $4, 'YYYY-MM') AS month,
         l.action = 'customer.activate' AS active_after, l.at, l.id
    FROM audit_log l JOIN customers c ON c.id = l.object_id
   WHERE l.object_kind = 'customer' AND l.action IN ('customer.suspend', 'customer.disable', 'customer.activate')
     AND c.operator_id = ANY ($1::bigint[]) AND l.at < $3
), month_end AS (
  SELECT DISTINCT ON (customer_id, month) customer_id, month, active_after FROM ev
   ORDER BY customer_id, month, at DESC, id DESC
), moved AS (  -- a customer starts active: a new customer is created active
  SELECT month, active_after, lag(active_after, 1, true) OVER (PARTITION BY customer_id ORDER BY month) AS active_before
    FROM month_end
), created AS (
  SELECT to_char(c.created_at AT TIME ZONE $4, 'YYYY-MM') AS month, count(*) AS n FROM customers c
   WHERE c.operator_id = ANY ($1::bigint[]) AND c.created_at >= $2 AND c.created_at < $3 GROUP BY 1
)
SELECT to_char(m, 'YYYY-MM') AS month, coalesce(cr.n, 0) AS new,
       coalesce(mv.churned, 0) AS churned, coalesce(mv.reactivated, 0) AS reactivated,
       coalesce(cr.n, 0) - coalesce(mv.churned, 0) + coalesce(mv.reactivated, 0) AS net
  FROM generate_series($5::date, $6::date, interval '1 month') m
  LEFT JOIN created cr ON cr.month = to_char(m, 'YYYY-MM')
  LEFT JOIN (SELECT month, count(*) FILTER (WHERE active_before AND NOT active_after) AS churned,
                    count(*) FILTER (WHERE NOT active_before AND active_after) AS reactivated
               FROM moved GROUP BY 1) mv ON mv.month = to_char(m, 'YYYY-MM')
 ORDER BY 1
"""


async def movement(conn: asyncpg.Connection, scope: Scope, f: ReportFilters, now: datetime, limit: int) -> Report:
    ids = await operator_ids(conn, scope, f.operator_id)
    rows = [dict(r) for r in await conn.fetch(_MOVEMENT, ids, f.start_at, f.end_at, f.timezone, f.start,
                                              f.last_month)]
    columns = (Column("month", _("Month")), Column("new", _("New"), "int"), Column("churned", _("Churned"), "int"),
               Column("reactivated", _("Reactivated"), "int"), Column("net", _("Net change"), "int"))
    charts = [Chart(_("New"), [(r["month"], r["new"]) for r in rows], money=False),
              Chart(_("Churned"), [(r["month"], r["churned"]) for r in rows], money=False),
              Chart(_("Reactivated"), [(r["month"], r["reactivated"]) for r in rows], money=False)]
    return Report("movement", str(TITLES["movement"]), await _currency(conn, scope), columns, rows[:limit], charts,
                  False, _("Churned: active at the start of the month and suspended or disabled at its end. "
                           "Reactivated: the other way round. New: added in the month."))


# ---- e. online now by router ---------------------------------------------------------------------------

_ONLINE = """
SELECT r.nas AS nas_ip, coalesce(n.shortname, r.nas) AS router, r.sessions, r.customers
  FROM (SELECT host(s.nasipaddress) AS nas, count(*) AS sessions, count(DISTINCT s.username) AS customers
          FROM radacct s JOIN customers c ON c.username = s.username
         WHERE s.acctstoptime IS NULL AND c.operator_id = ANY ($1::bigint[])
           AND ($2::bigint IS NULL OR c.zone_id = $2)
         GROUP BY 1) r
  LEFT JOIN nas n ON n.nasname = r.nas
 ORDER BY r.sessions DESC, 2
"""


async def online(conn: asyncpg.Connection, scope: Scope, f: ReportFilters, now: datetime, limit: int) -> Report:
    ids = await operator_ids(conn, scope, f.operator_id)
    rows = [dict(r) for r in await conn.fetch(_ONLINE, ids, f.zone_id)]
    columns = (Column("router", _("Router")), Column("nas_ip", _("Router address")),
               Column("sessions", _("Open sessions"), "int"), Column("customers", _("Customers online"), "int"))
    return Report("online", str(TITLES["online"]), await _currency(conn, scope), columns, rows[:limit],
                  [Chart(_("Customers online"), [(r["router"], r["customers"]) for r in rows[:40]], money=False)],
                  len(rows) > limit)


BUILDERS = {"dues": dues, "collections": collections, "resellers": resellers, "movement": movement,
            "online": online}


async def build(conn: asyncpg.Connection, scope: Scope, kind: str, f: ReportFilters, now: datetime,
                limit: int = PAGE_ROWS) -> Report:
    """One report for the scope (kind from KINDS; anything else is NotFound)."""
    if kind not in BUILDERS:
        raise NotFound(_("This report does not exist."))
    return await BUILDERS[kind](conn, scope, f, now, limit)
