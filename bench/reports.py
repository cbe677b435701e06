"""`make bench-reports`: every report (radbill.services.business_reports) at 100,000 customers, as radbill_app
with the scope set (row-level security applies), per scope. Target: each report < 1 s.

    python -m bench.reports --customers 100000 --radacct 1000000 --runs 5

The dashboard bench's seed (bench/dashboard.py) plus what the reports read: bills past due over 120 days,
zones and collectors on the payments, six months of payments, a wholesale debit per paid sub-operator sale in
the ledger, and suspend/activate rows in the audit log. Baselines in the same run, same scopes: the dashboard
(operator ids, like the reports) and the payment history list scoped by `o.path <@` as it was before
the reports branch (now by operator ids, timed beside it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime

import asyncpg

from bench.dashboard import seed
from bench.db import app_url, summarise, throwaway_database
from radbill import report_files
from radbill.db.pool import SERVER_SETTINGS, set_scope
from radbill.services import business_reports as br
from radbill.services import dashboard, reports
from radbill.services.filters import ScopedWhere

EXTRA = [
    # dues: two unpaid bills in three are past due by 0..119 days
    "UPDATE bills SET due_at = now() - (id % 120) * interval '1 day' WHERE status = 'unpaid'",
    # a zone per sub-operator, customers in it; a collector login per sub-operator
    "INSERT INTO zones (operator_id, name) SELECT id, 'Zone ' || id FROM operators WHERE kind = 'sub_operator'",
    "UPDATE customers c SET zone_id = z.id FROM zones z WHERE z.operator_id = c.operator_id",
    """INSERT INTO accounts (operator_id, role, username, password_hash)
       SELECT id, 'sub_operator', 'collector' || id, '$argon2id$bench' FROM operators WHERE kind = 'sub_operator'""",
    # six months of monthly payments for one customer in three (plus the seed's), collected by the reseller
    """INSERT INTO payments (customer_id, operator_id, amount_minor, currency, method, received_at, collected_by)
       SELECT c.id, c.operator_id, 50000, 'BDT', 'cash', now() - m * interval '1 month' - (c.id % 28) * interval '1 day',
              (SELECT a.id FROM accounts a WHERE a.operator_id = c.operator_id LIMIT 1)
         FROM customers c, generate_series(1, 6) m WHERE c.id % 3 = 1""",
    # the ledger accounts a sale posts to, then one wholesale debit per payment (sub +, parent's wholesale -)
    """INSERT INTO ledger_accounts (kind, operator_id, currency)
       SELECT 'operator_balance', id, 'BDT' FROM operators WHERE kind = 'sub_operator'
       UNION ALL SELECT 'wholesale', id, 'BDT' FROM operators WHERE kind = 'operator'""",
    # MATERIALIZED: one uuid per payment for both lines (inlined, the planner may call it once per line)
    """WITH t AS MATERIALIZED (SELECT gen_random_uuid() AS txn, p.id AS pid, p.received_at AS at,
                                     p.operator_id AS op FROM payments p)
       INSERT INTO ledger_entries (txn_id, account_id, amount_minor, currency, kind, payment_id, created_at)
       SELECT t.txn, CASE WHEN side = 1 THEN sub.id ELSE par.id END, CASE WHEN side = 1 THEN 35000 ELSE -35000 END,
              'BDT', 'wholesale_debit', t.pid, t.at
         FROM t
         JOIN operators o ON o.id = t.op
         JOIN ledger_accounts sub ON sub.operator_id = o.id AND sub.kind = 'operator_balance'
         JOIN ledger_accounts par ON par.operator_id = o.parent_id AND par.kind = 'wholesale',
              generate_series(1, 2) side""",
    # status history: one customer in ten suspended at some point in the last six months, half of them back
    """INSERT INTO audit_log (operator_id, action, object_kind, object_id, at)
       SELECT c.operator_id, 'customer.suspend', 'customer', c.id, now() - (c.id % 180) * interval '1 day'
         FROM customers c WHERE c.id % 10 = 0
       UNION ALL
       SELECT c.operator_id, 'customer.activate', 'customer', c.id, now() - (c.id % 180) * interval '1 day' + interval '9 days'
         FROM customers c WHERE c.id % 20 = 0""",
    "ANALYZE",
]


async def seed_reports(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        t = time.perf_counter()
        for statement in EXTRA:
            await conn.execute(statement)
        print(f"# report rows seeded in {time.perf_counter() - t:.1f}s")
    finally:
        await conn.close()


async def _timed(conn, scope, runs: int, call, label: str) -> dict:
    timings, rows = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        await set_scope(conn, scope.path)  # what the pool does on every checkout
        rows = await call()
        timings.append((time.perf_counter() - t) * 1000)
    r = {"rows": rows, **summarise(timings)}
    # printed as measured: a long run stopped by `timeout` keeps what it had
    print(f"{label:<48} {r['rows']:>6} {r['p50_ms']:>8} {r['p95_ms']:>8} {r['max_ms']:>8}", flush=True)
    return r


async def measure(url: str, scopes: dict, runs: int) -> dict:
    conn = await asyncpg.connect(app_url(url), server_settings=SERVER_SETTINGS)
    now = datetime.now(UTC)
    f = br.ReportFilters.from_query({"group": "zone"}, "Asia/Dhaka", now)
    results = {}
    try:
        for label, scope in scopes.items():
            async def payments_list(scope=scope):
                return len((await reports.payment_history(conn, scope, reports.PaymentFilters()))[0])

            async def payments_list_by_path(scope=scope):  # the list as it was: scoped by `o.path <@ $1`
                where = ScopedWhere(scope, "o.path")
                query = reports._PAYMENTS_SQL.format(where=where.sql)
                return len(await conn.fetch(query + " ORDER BY p.received_at DESC, p.id DESC LIMIT 500", *where.args))

            async def dashboard_load(scope=scope):
                return (await dashboard.load(conn, scope, now, "Asia/Dhaka")).total
            for name, call in (("[baseline] dashboard", dashboard_load),
                               ("[baseline] payments list, path <@", payments_list_by_path),
                               ("payments list (operator ids)", payments_list)):
                results[f"{label} {name}"] = await _timed(conn, scope, runs, call, f"{label} {name}")
            for kind in br.KINDS:
                async def build(scope=scope, kind=kind):
                    return len((await br.build(conn, scope, kind, f, now, br.PAGE_ROWS)).rows)
                results[f"{label} {kind}"] = await _timed(conn, scope, runs, build, f"{label} {kind}")
                for fmt, render in (("csv", report_files.to_csv), ("xlsx", report_files.to_xlsx)):
                    async def export(scope=scope, kind=kind, render=render):
                        report = await br.build(conn, scope, kind, f, now, br.EXPORT_ROWS)
                        render(report)
                        return len(report.rows)
                    if kind == "dues":  # the one report with a row per customer: its downloads are the big ones (once)
                        results[f"{label} {kind}.{fmt}"] = await _timed(conn, scope, 1, export, f"{label} {kind}.{fmt}")
    finally:
        await conn.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--radacct", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with throwaway_database() as url:
        scopes = asyncio.run(seed(url, args.customers, args.radacct))
        asyncio.run(seed_reports(url))
        print(f"{'scope report':<48} {'rows':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}   (target < 1000 ms)")
        results = asyncio.run(measure(url, scopes, args.runs))
    print(json.dumps({"bench": "reports", "customers": args.customers, "results": results}))


if __name__ == "__main__":
    main()
