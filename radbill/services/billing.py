"""The bill run: set-based, idempotent bill generation with advance auto-debit; its preview; suspension candidates.

Who is billed: active customers whose billing profile is prepaid or postpaid (never free). Which periods:
radbill.billing.periods.billable_periods in the operator's time zone (prepaid: the current period and, from
`max(due_days, 1)` days before it, the next), computed once per distinct (time zone, billing profile, anchor) —
the calendar lives in the pure core; SQL only joins it. The service start (the
customer's billing_anchor, else the local date it was created) anchors validity cycles and prorates a first
fixed-day period (radbill.billing.pricing.first_period_price) — that bill's period starts at the service start
(rule 1 in radbill.billing); periods that end on or before it are not billed.
Prices and VAT are computed in SQL with the same half-up integer formulas as radbill.billing.pricing (a test
holds them equal). A bill issued to a sub-operator's customer carries the wholesale its payment in full will take
(the days' share of the assigned wholesale price, fixed when it is issued: bills.wholesale_minor, 0 otherwise).

Safe to run twice or concurrently: bills are inserted in customer order with ON CONFLICT (customer_id,
period_start) DO NOTHING, and only the bills a run inserted get ledger entries and advance debits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from radbill.billing.periods import Cycle, billable_periods, local_midnight_utc
from radbill.billing.service import PaidSpan, extend_expiry
from radbill.errors import RadbillError
from radbill.services import sms_events, webhooks
from radbill.services.customers import suspend_customer
from radbill.services.ledger import Entry, account_id, post
from radbill.tenancy import Scope

log = logging.getLogger("radbill.billing")

NO_ANCHOR = date(1970, 1, 1)  # join key for fixed_day profiles, whose periods do not depend on the customer

_SERVICE_START = "coalesce(c.billing_anchor, (c.created_at AT TIME ZONE o.timezone)::date)"
_FILTER = ("c.status = 'active' AND bp.billing_type <> 'free'"
           " AND ($1::ltree IS NULL OR o.path <@ $1::ltree) AND ($2::bigint[] IS NULL OR c.id = ANY($2::bigint[]))")

_CYCLES_SQL = f"""
SELECT DISTINCT o.timezone, bp.id AS profile_id, bp.cycle_kind, bp.billing_day, bp.validity_days,
       bp.billing_type, bp.due_days,
       CASE WHEN bp.cycle_kind = 'validity_days' THEN {_SERVICE_START} END AS anchor
  FROM customers c
  JOIN operators o ON o.id = c.operator_id
  JOIN billing_profiles bp ON bp.id = c.billing_profile_id
 WHERE {_FILTER}
"""  # noqa: S608 -- fixed fragments of this module only

# $1 scope path, $2 customer ids, $3.. the periods per (time zone, profile, anchor) from the pure core
_CANDIDATES_SQL = f"""
WITH k AS (
    SELECT * FROM unnest($3::text[], $4::bigint[], $5::date[], $6::date[], $7::date[], $8::timestamptz[])
        AS k(timezone, profile_id, anchor, period_start, period_end, due_at)
), vat AS MATERIALIZED (
    -- radbill_vat_profile_for (migration 0036) is the one rule: package's profile, else the operator line's.
    -- MATERIALIZED: a handful of (operator, package) rows, computed once; inlined, the planner re-ran this join
    -- for every candidate (3.1 of the INSERT's 3.7 s at 30,000 customers)
    SELECT x.operator_id, x.package_id, vp.id AS profile_id, vp.rate_basis_points AS rate,
           vp.price_includes_vat AS inclusive
      FROM (SELECT DISTINCT c.operator_id, pk.package_id FROM customers c JOIN operators o ON o.id = c.operator_id
              JOIN billing_profiles bp ON bp.id = c.billing_profile_id
              -- a waiting package change prices its periods with the next package (cand's `ep`): tax that too
              CROSS JOIN LATERAL unnest(ARRAY[c.package_id, c.next_package_id]) pk(package_id)
             WHERE {_FILTER} AND pk.package_id IS NOT NULL) x
      JOIN vat_profiles vp ON vp.id = radbill_vat_profile_for(x.package_id, x.operator_id)
), cand AS (
    -- radbill.billing.service.charged_period: a bill's period is what it charges for (from the service start)
    SELECT c.id AS customer_id, c.operator_id, ep.package_id, k.period_start AS cycle_start,
           greatest(k.period_start, s.service_start) AS period_start, k.period_end, k.due_at, o.currency,
           coalesce(c.custom_price_minor, pa.retail_price_minor, p.price_minor) AS price,
           s.service_start, coalesce(vat.rate, 0) AS rate, coalesce(vat.inclusive, false) AS inclusive,
           vat.profile_id AS vat_profile_id,
           CASE WHEN o.kind = 'sub_operator' THEN coalesce(pa.wholesale_price_minor, 0) ELSE 0 END AS wholesale_price,
           -- a package change credit waiting for this period's bill (package_change._credit)
           CASE WHEN c.wholesale_credit_until = k.period_end THEN c.wholesale_credit_minor ELSE 0 END AS waiting_credit
      FROM customers c
      JOIN operators o ON o.id = c.operator_id
      JOIN billing_profiles bp ON bp.id = c.billing_profile_id
      CROSS JOIN LATERAL (SELECT {_SERVICE_START} AS service_start) s
      JOIN k ON k.timezone = o.timezone AND k.profile_id = bp.id
            AND k.anchor = CASE WHEN bp.cycle_kind = 'validity_days' THEN s.service_start ELSE DATE '{NO_ANCHOR}' END
      -- a package change waiting for the next period (radbill.services.package_change) prices the periods
      -- that start on or after it
      CROSS JOIN LATERAL (SELECT CASE WHEN c.next_package_at IS NOT NULL
                                       AND k.period_start >= (c.next_package_at AT TIME ZONE o.timezone)::date
                                      THEN c.next_package_id ELSE c.package_id END AS package_id) ep
      JOIN packages p ON p.id = ep.package_id
      LEFT JOIN package_assignments pa ON pa.operator_id = c.operator_id AND pa.package_id = ep.package_id
      LEFT JOIN vat ON vat.operator_id = c.operator_id AND vat.package_id = ep.package_id
     WHERE {_FILTER} AND s.service_start < k.period_end
), priced AS (
    -- pricing.first_period_price: half-up proration of a period joined after its start
    SELECT cand.*, CASE WHEN service_start > cycle_start
                        THEN (price * (period_end - service_start) * 2 + (period_end - cycle_start))
                             / (2 * (period_end - cycle_start))
                        ELSE price END AS charged
      FROM cand
), taxed AS (
    -- pricing.apply_vat: inclusive extracts price*rate/(10000+rate), exclusive adds price*rate/10000, half-up
    -- pricing.share_of_period: the wholesale paying it takes, fixed now (the days' share, half-up, like the price)
    SELECT priced.*, CASE WHEN inclusive THEN (charged * rate * 2 + 10000 + rate) / (2 * (10000 + rate))
                          ELSE (charged * rate * 2 + 10000) / 20000 END AS vat,
                     CASE WHEN period_start > cycle_start
                          THEN (wholesale_price * (period_end - period_start) * 2 + (period_end - cycle_start))
                               / (2 * (period_end - cycle_start))
                          ELSE wholesale_price END AS wholesale_share
      FROM priced
)
SELECT customer_id, operator_id, package_id, period_start, period_end,
       CASE WHEN period_start > cycle_start THEN period_end - cycle_start END AS cycle_days, currency,
       CASE WHEN inclusive THEN charged - vat ELSE charged END AS amount_minor, vat AS vat_minor,
       CASE WHEN inclusive THEN charged ELSE charged + vat END AS total_minor, due_at, vat_profile_id,
       wholesale_share - least(wholesale_share, waiting_credit) AS wholesale_minor,
       least(wholesale_share, waiting_credit) AS wholesale_cut_minor
  FROM taxed
"""  # noqa: S608 -- fixed fragments of this module only

_INSERT_SQL = f"""
INSERT INTO bills (customer_id, operator_id, package_id, period_start, period_end, cycle_days, currency,
                   amount_minor, vat_minor, total_minor, due_at, issued_at, vat_profile_id, wholesale_minor,
                   wholesale_cut_minor)
SELECT customer_id, operator_id, package_id, period_start, period_end, cycle_days, currency,
       amount_minor, vat_minor, total_minor, due_at, $9, vat_profile_id, wholesale_minor, wholesale_cut_minor
  FROM ({_CANDIDATES_SQL}) x
 ORDER BY customer_id, period_start
    ON CONFLICT (customer_id, period_start) WHERE kind = 'period' DO NOTHING
RETURNING id
"""  # noqa: S608 -- fixed fragments of this module only

_PREVIEW_SQL = f"""
SELECT x.* FROM ({_CANDIDATES_SQL}) x
 WHERE NOT EXISTS (SELECT 1 FROM bills b WHERE b.customer_id = x.customer_id AND b.period_start = x.period_start
                                      AND b.kind = 'period')
 ORDER BY x.customer_id, x.period_start
"""  # noqa: S608 -- fixed fragments of this module only

# a waiting credit is spent by its period's bill: the INSERT above took what it saw off that bill's wholesale
# (wholesale_cut_minor). A credit committed while that INSERT ran (a package change holding the customer's row, which
# the INSERT's reference check waits for) was not seen by it: it is taken off the new bill here, under the
# customer's lock, so the sub-operator never pays it. Only customers holding one are read (their partial index).
_CREDITS_SPENT_SQL = """
WITH w AS (
    SELECT c.id AS customer_id, c.wholesale_credit_minor AS credit, b.id AS bill_id, b.wholesale_minor,
           b.wholesale_cut_minor
      FROM customers c
      JOIN bills b ON b.customer_id = c.id AND b.kind = 'period' AND b.period_end = c.wholesale_credit_until
     WHERE c.wholesale_credit_until IS NOT NULL AND b.id = ANY($1::bigint[])
       FOR UPDATE OF c
), cleared AS (
    UPDATE customers c SET wholesale_credit_minor = 0, wholesale_credit_until = NULL
      FROM w WHERE c.id = w.customer_id
)
UPDATE bills b SET wholesale_minor = b.wholesale_minor - x.more, wholesale_cut_minor = b.wholesale_cut_minor + x.more
  FROM (SELECT bill_id, least(wholesale_minor, credit - wholesale_cut_minor) AS more FROM w) x
 WHERE b.id = x.bill_id AND x.more > 0
"""

_ACCOUNTS_SQL = """
INSERT INTO ledger_accounts (kind, operator_id, customer_id, currency)
SELECT DISTINCT l.kind, b.operator_id, CASE WHEN l.kind = 'customer_receivable' THEN b.customer_id END, b.currency
  FROM bills b CROSS JOIN (VALUES ('customer_receivable'), ('revenue'), ('vat_payable')) l(kind)
 WHERE b.id = ANY($1::bigint[]) AND b.total_minor > 0
 ORDER BY 1, 2, 3
    ON CONFLICT DO NOTHING
"""

# one balanced transaction per bill: receivable debit, revenue and VAT credits
_BILL_ENTRIES_SQL = """
WITH nb AS MATERIALIZED (
    SELECT b.*, gen_random_uuid() AS txn FROM bills b WHERE b.id = ANY($1::bigint[]) AND b.total_minor > 0
)
INSERT INTO ledger_entries (txn_id, account_id, amount_minor, currency, kind, bill_id)
SELECT nb.txn, l.account_id, l.amount, nb.currency, 'bill', nb.id
  FROM nb
  JOIN ledger_accounts r ON r.kind = 'customer_receivable' AND r.operator_id = nb.operator_id
                        AND r.customer_id = nb.customer_id AND r.currency = nb.currency
  JOIN ledger_accounts rv ON rv.kind = 'revenue' AND rv.operator_id = nb.operator_id
                         AND rv.customer_id IS NULL AND rv.currency = nb.currency
  JOIN ledger_accounts v ON v.kind = 'vat_payable' AND v.operator_id = nb.operator_id
                        AND v.customer_id IS NULL AND v.currency = nb.currency
 CROSS JOIN LATERAL (VALUES (r.id, nb.total_minor, 1), (rv.id, -nb.amount_minor, 2), (v.id, -nb.vat_minor, 3))
       l(account_id, amount, line)
 WHERE l.amount <> 0
 ORDER BY nb.id, l.line  -- entries in bill order, each bill's lines together (the join's order depends on the plan)
"""


@dataclass(frozen=True, slots=True)
class BillRun:
    """The periods a run bills, as parallel arrays keyed by (time zone, profile, anchor) for the SQL join."""

    timezones: list[str]
    profile_ids: list[int]
    anchors: list[date]
    starts: list[date]
    ends: list[date]
    due_ats: list[datetime]


def plan_periods(cycles: list, now: datetime) -> BillRun:
    """Pure: the billable periods and due instants of each distinct cycle at `now` (a prepaid cycle inside its
    lead window has two: the current period and the next)."""
    run = BillRun([], [], [], [], [], [])
    for r in cycles:
        cycle = Cycle(r["cycle_kind"], r["billing_day"], r["validity_days"], r["anchor"])
        for billable in billable_periods(cycle, r["billing_type"], now, r["timezone"], r["due_days"]):
            run.timezones.append(r["timezone"])
            run.profile_ids.append(r["profile_id"])
            run.anchors.append(r["anchor"] or NO_ANCHOR)
            run.starts.append(billable.period.start)
            run.ends.append(billable.period.end)
            run.due_ats.append(local_midnight_utc(billable.due, r["timezone"]))
    return run


async def _plan(conn: asyncpg.Connection, now: datetime, scope: Scope | None, customer_ids) -> tuple:
    path = scope.path if scope else None
    ids = list(customer_ids) if customer_ids is not None else None
    run = plan_periods(await conn.fetch(_CYCLES_SQL, path, ids), now)
    return (path, ids, run.timezones, run.profile_ids, run.anchors, run.starts, run.ends, run.due_ats)


# The candidates join customers to the periods (k, a few dozen rows: one per time zone, profile and validity anchor).
# Planned as a nested loop, every k row re-read its profile's customers through customers_profile (72 loops x
# 100,000 customers at 300,000: 3.3 s, and as long for a batch of a third of them, which the filter on ids only
# thins after the scan); as hash joins the customers are read once (1.45 s; a 100,000 batch 0.49 s). The planner
# takes k for one row, so it is told, for this statement only. JIT is off for the whole run: its statements' work
# is per-row index and trigger work that compiled expressions do not speed up, while compiling them cost 1-2 s a
# statement once the row estimates passed jit_above_cost (bench/billing_explain.py at 1,000,000 customers).
# Every statement is planned for its own parameters, also for the rest of the run (radbill's pools do so anyway; a
# connection left at plan_cache_mode=auto switches a prepared statement to a generic plan after five runs, and for
# the INSERT that plan cannot tell `$2 IS NULL` from a batch's ids, so it scans every customer: the 6th to 10th
# batch on one such connection took 57-71 s instead of 3.2 s at 300,000 customers, bench/bill_run_probe.py).
_PLAN_HINTS = ("SELECT set_config('jit', 'off', true), set_config('enable_nestloop', 'off', true),"
               " set_config('plan_cache_mode', 'force_custom_plan', true)")
_PLAN_HINTS_DONE = "SELECT set_config('enable_nestloop', $1, true)"


async def _candidates(conn: asyncpg.Connection, sql: str, *args) -> list[asyncpg.Record]:
    """Run the candidates statement `sql` with _PLAN_HINTS; the caller's transaction keeps jit off and custom plans
    (a failure rolls the settings back with the transaction)."""
    nestloop = await conn.fetchval("SELECT current_setting('enable_nestloop')")
    await conn.execute(_PLAN_HINTS)
    rows = await conn.fetch(sql, *args)
    await conn.execute(_PLAN_HINTS_DONE, nestloop)
    return rows


async def preview_bills(conn: asyncpg.Connection, now: datetime, scope: Scope | None = None,
                        customer_ids=None) -> list[asyncpg.Record]:
    """The bills a run at `now` would create (customer, period, amounts, due), without writing anything."""
    async with conn.transaction():
        return await _candidates(conn, _PREVIEW_SQL, *await _plan(conn, now, scope, customer_ids))


async def generate_bills(conn: asyncpg.Connection, now: datetime, scope: Scope | None = None,
                         customer_ids=None) -> int:
    """Create the due bills (one set-based INSERT), post them, draw on advance wallets; returns bills created."""
    async with conn.transaction():
        plan = await _plan(conn, now, scope, customer_ids)
        ids = [r["id"] for r in await _candidates(conn, _INSERT_SQL, *plan, now)]
        if ids:
            await conn.execute(_CREDITS_SPENT_SQL, ids)
            await conn.execute(_ACCOUNTS_SQL, ids)
            await conn.execute(_BILL_ENTRIES_SQL, ids)
            await apply_advance(conn, ids, now)
            await sms_events.queue_bill_sms(conn, ids)
            await webhooks.emit_bills(conn, ids)
    return len(ids)


_LOCK_WALLETS_SQL = """
SELECT c.id FROM customers c
 WHERE c.id IN (SELECT a.customer_id FROM ledger_accounts a JOIN bills b ON b.customer_id = a.customer_id
                 WHERE a.kind = 'customer_advance' AND b.id = ANY($1::bigint[]))
 ORDER BY c.id FOR NO KEY UPDATE
"""

# a run may issue two bills to one customer (prepaid: the current and the next period): the wallet pays them
# oldest period first, each from what the earlier ones left; a bill partly paid already (a package change charge
# a credit pays off: package_change._credit) is drawn only for what it still owes
_WALLETS_SQL = """
WITH nb AS (
    SELECT b.*, a.id AS wallet_account, b.total_minor - b.paid_minor AS owed,
           coalesce(sum(b.total_minor - b.paid_minor) OVER (PARTITION BY b.customer_id, b.currency
                    ORDER BY b.period_start, b.id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS drawn_before
      FROM bills b
      JOIN ledger_accounts a ON a.kind = 'customer_advance' AND a.customer_id = b.customer_id
                            AND a.currency = b.currency
     WHERE b.id = ANY($1::bigint[]) AND b.total_minor > b.paid_minor
)
SELECT nb.id AS bill_id, nb.operator_id, nb.currency, o.kind AS operator_kind, o.parent_id,
       least(w.wallet - nb.drawn_before, nb.owed) AS amount, w.wallet - nb.drawn_before >= nb.owed AS full,
       nb.wholesale_minor AS wholesale
  FROM nb
 CROSS JOIN LATERAL (SELECT -coalesce(sum(e.amount_minor), 0) AS wallet
                       FROM ledger_entries e WHERE e.account_id = nb.wallet_account) w
  JOIN operators o ON o.id = nb.operator_id
 WHERE w.wallet - nb.drawn_before > 0
 ORDER BY nb.customer_id, nb.period_start, nb.id
"""

# in id order, before the UPDATE (whose join order is the plan's): two runs at once (bill_run's batches) that debit
# the same resellers take their locks in one order, so they wait for each other instead of deadlocking
_LOCK_RESELLERS_SQL = "SELECT id FROM operators WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE"

# the CHECK guard, as a condition: resellers that cannot cover all their debits are left out, not failed
_DEBIT_RESELLERS_SQL = """
UPDATE operators o SET balance_minor = o.balance_minor - d.amount
  FROM unnest($1::bigint[], $2::bigint[]) d(id, amount)
 WHERE o.id = d.id AND o.balance_minor - d.amount >= -o.credit_limit_minor
RETURNING o.id
"""

# entries in the order of the bills given, each bill's two legs together: the join's own order is the plan's, which
# moved when 0064 took the foreign keys (and their join estimates) away
_APPLY_ENTRIES_SQL = """
WITH t AS MATERIALIZED (
    SELECT t.*, gen_random_uuid() AS txn FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY t(bill_id, amount, n)
)
INSERT INTO ledger_entries (txn_id, account_id, amount_minor, currency, kind, bill_id)
SELECT t.txn, a.id, CASE WHEN a.kind = 'customer_advance' THEN t.amount ELSE -t.amount END, b.currency,
       'advance_applied', b.id
  FROM t JOIN bills b ON b.id = t.bill_id
  JOIN ledger_accounts a ON a.customer_id = b.customer_id AND a.currency = b.currency
                        AND a.kind IN ('customer_advance', 'customer_receivable')
 ORDER BY t.n, a.kind
"""

_APPLY_BILLS_SQL = """
UPDATE bills b SET paid_minor = b.paid_minor + t.amount,
       status = CASE WHEN b.paid_minor + t.amount = b.total_minor THEN 'paid' ELSE 'partial' END,
       paid_at = CASE WHEN b.paid_minor + t.amount = b.total_minor THEN $3 ELSE b.paid_at END
  FROM unnest($1::bigint[], $2::bigint[]) AS t(id, amount) WHERE b.id = t.id
"""

_PAID_SPANS_SQL = """
SELECT c.id, c.expires_at, bp.billing_type, o.timezone,
       array_agg(b.period_start ORDER BY b.period_start) AS starts, array_agg(b.period_end ORDER BY b.period_start) AS ends
  FROM bills b
  JOIN customers c ON c.id = b.customer_id
  JOIN operators o ON o.id = c.operator_id
  JOIN billing_profiles bp ON bp.id = c.billing_profile_id
 WHERE b.id = ANY($1::bigint[]) AND b.kind = 'period'  -- a package change charge buys no days
 GROUP BY c.id, bp.billing_type, o.timezone
 ORDER BY c.id
"""

_SET_EXPIRY_SQL = """
UPDATE customers c SET expires_at = t.expires_at
  FROM unnest($1::bigint[], $2::timestamptz[]) AS t(id, expires_at)
 WHERE c.id = t.id AND c.expires_at IS DISTINCT FROM t.expires_at
RETURNING c.id, c.operator_id
"""


async def extend_paid_service(conn: asyncpg.Connection, paid_bill_ids: list[int],
                              now: datetime) -> dict[int, datetime | None]:
    """Move each customer's expiry over the bills just paid in full (radbill.billing.service.extend_expiry, rule 3
    of radbill.billing); the caller holds the customers' lock. Returns {customer id: new expiry}."""
    if not paid_bill_ids:
        return {}
    new, old = {}, {}
    for r in await conn.fetch(_PAID_SPANS_SQL, paid_bill_ids):
        spans = [PaidSpan.of_bill(start, end, r["timezone"]) for start, end in zip(r["starts"], r["ends"], strict=True)]
        old[r["id"]] = r["expires_at"]
        new[r["id"]] = extend_expiry(r["expires_at"], spans, r["billing_type"], now)
    moved = await conn.fetch(_SET_EXPIRY_SQL, list(new), list(new.values()))
    await webhooks.emit_many(conn, "customer.updated", [
        (r["operator_id"], webhooks.customer_update(r["id"], {"expires_at": [old[r["id"]], new[r["id"]]]}))
        for r in moved])
    return new


async def apply_advance(conn: asyncpg.Connection, bill_ids: list[int], now: datetime) -> int:
    """Draw new bills from their customers' advance wallets (fully or partly), set-based; a bill paid in full
    activates its period (expiry, reseller wholesale debit). Returns how many bills were drawn on."""
    await conn.execute(_LOCK_WALLETS_SQL, bill_ids)
    rows = await conn.fetch(_WALLETS_SQL, bill_ids)
    if not rows:
        return 0
    needs: dict[int, list] = {}
    for r in rows:
        wholesale = r["wholesale"]  # the bill's own, fixed when it was issued
        if r["full"] and r["operator_kind"] == "sub_operator" and wholesale > 0:
            needs.setdefault(r["operator_id"], [r["parent_id"], r["currency"], 0])[2] += wholesale
    if needs:
        await conn.execute(_LOCK_RESELLERS_SQL, list(needs))
    covered = {r["id"] for r in await conn.fetch(_DEBIT_RESELLERS_SQL, list(needs),
                                                   [n[2] for n in needs.values()])}
    for operator_id in sorted(covered):
        parent_id, currency, amount = needs[operator_id]
        reseller = await account_id(conn, "operator_balance", operator_id, currency)
        wholesale = await account_id(conn, "wholesale", parent_id, currency)
        await post(conn, [Entry(reseller, amount), Entry(wholesale, -amount)], currency, "wholesale_debit",
                   memo="periods paid from customers' advance")
    kept = [r for r in rows if r["operator_id"] not in needs or r["operator_id"] in covered]
    bill_ids, amounts = [r["bill_id"] for r in kept], [r["amount"] for r in kept]
    await conn.execute(_APPLY_ENTRIES_SQL, bill_ids, amounts)
    await conn.execute(_APPLY_BILLS_SQL, bill_ids, amounts, now)
    await extend_paid_service(conn, [r["bill_id"] for r in kept if r["full"]], now)
    return len(kept)


@dataclass(frozen=True, slots=True)
class SuspensionCandidate:
    """A customer the suspend job should act on, and why (data only; suspending is another service)."""

    customer_id: int
    username: str
    operator_id: int
    reason: str  # unpaid_bill | expired
    bill_id: int | None
    since: datetime


_CANDIDATES_FOR_SUSPENSION_SQL = """
SELECT DISTINCT ON (customer_id) * FROM (
    SELECT c.id AS customer_id, c.username, c.operator_id, 'unpaid_bill' AS reason, b.id AS bill_id,
           ((b.due_at AT TIME ZONE o.timezone) + make_interval(days => bp.grace_days)) AT TIME ZONE o.timezone
               AS since
      FROM bills b
      JOIN customers c ON c.id = b.customer_id
      JOIN operators o ON o.id = c.operator_id
      JOIN billing_profiles bp ON bp.id = c.billing_profile_id
     WHERE b.status IN ('unpaid', 'partial') AND c.status = 'active' AND bp.auto_suspend
       AND ($1::ltree IS NULL OR o.path <@ $1::ltree)
    UNION ALL
    SELECT c.id, c.username, c.operator_id, 'expired', NULL, c.expires_at
      FROM customers c
      JOIN operators o ON o.id = c.operator_id
      JOIN billing_profiles bp ON bp.id = c.billing_profile_id
     WHERE c.status = 'active' AND bp.billing_type = 'prepaid' AND c.expires_at <= $2
       AND ($1::ltree IS NULL OR o.path <@ $1::ltree)
) x
 WHERE since <= $2
 ORDER BY customer_id, since, bill_id
"""


async def suspension_candidates(conn: asyncpg.Connection, now: datetime,
                                scope: Scope | None = None) -> list[SuspensionCandidate]:
    """Active customers with a bill unpaid past due + grace (auto-suspend on), and prepaid customers whose
    expiry has passed; one row per customer, the oldest reason first."""
    rows = await conn.fetch(_CANDIDATES_FOR_SUSPENSION_SQL, scope.path if scope else None, now)
    return [SuspensionCandidate(**dict(r)) for r in rows]


SUSPEND_REASONS = {"unpaid_bill": "auto-suspended: bill #{bill} unpaid after its due date and grace days",
                   "expired": "auto-suspended: prepaid validity expired"}


async def suspend_overdue(conn: asyncpg.Connection, now: datetime) -> dict:
    """Suspend each candidate through suspend_customer, the admin button's path (open sessions get a disconnect
    in the outbox), acting as the system within the customer's own operator. Returns counts."""
    done = {"suspended": 0, "failed": 0}
    candidates = await suspension_candidates(conn, now)
    paths = {r["id"]: r["path"] for r in await conn.fetch(
        "SELECT id, path::text AS path FROM operators WHERE id = ANY($1::bigint[])",
        sorted({c.operator_id for c in candidates}))}
    for c in candidates:
        scope = Scope.system(c.operator_id, paths[c.operator_id])
        try:
            await suspend_customer(conn, scope, c.customer_id, SUSPEND_REASONS[c.reason].format(bill=c.bill_id))
            done["suspended"] += 1
        except RadbillError as exc:  # e.g. disabled meanwhile: the next customer must still be handled
            log.warning("auto-suspend of customer %s (%s) failed: %s", c.customer_id, c.username, exc)
            done["failed"] += 1
    return done
