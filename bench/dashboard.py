"""`make bench-dashboard`: the scoped dashboard queries at 100,000 customers and 1,000,000 radacct rows.

    python -m bench.dashboard --customers 100000 --radacct 1000000 --runs 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime

import asyncpg

from bench.db import app_url, summarise, throwaway_database
from radbill.db.pool import SERVER_SETTINGS, set_scope
from radbill.services import dashboard
from radbill.tenancy import Scope

SEED = """
WITH root AS (INSERT INTO operators (kind, name) VALUES ('group_admin', 'Group') RETURNING id),
ops AS (INSERT INTO operators (kind, parent_id, name) SELECT 'operator', root.id, 'Operator ' || g
          FROM root, generate_series(1, 5) g RETURNING id)
SELECT 1
"""


async def seed(url: str, customers: int, radacct: int) -> dict[str, Scope]:
    conn = await asyncpg.connect(url)
    try:
        t = time.perf_counter()
        await conn.execute(SEED)
        await conn.execute("INSERT INTO operators (kind, parent_id, name) SELECT 'sub_operator', o.id,"
                           " 'Reseller ' || o.id || '-' || g FROM operators o, generate_series(1, 10) g"
                           " WHERE o.kind = 'operator'")
        await conn.execute("INSERT INTO packages (operator_id, name, download_kbps, upload_kbps, price_minor)"
                           " SELECT id, 'Home', 10000, 5000, 50000 FROM operators WHERE kind = 'operator'")
        await conn.execute("INSERT INTO billing_profiles (operator_id, name, cycle_kind, billing_day, billing_type)"
                           " SELECT id, 'Monthly', 'fixed_day', 1, 'prepaid' FROM operators WHERE kind = 'operator'")
        await conn.execute("""
            INSERT INTO customers (operator_id, username, radius_password, name, mobile, connection_type, package_id,
                                   billing_profile_id, status, expires_at)
            SELECT s.id, 'u' || g, 'pw' || g, 'Customer ' || g, '+88017' || lpad(g::text, 8, '0'), 'pppoe', p.id, b.id,
                   (ARRAY['active','active','active','active','active','active','active','suspended','suspended',
                          'disabled'])[1 + g % 10], now() + interval '10 days'
              FROM generate_series(1, $1) g
              JOIN LATERAL (SELECT id, parent_id FROM operators WHERE kind = 'sub_operator'
                             ORDER BY id OFFSET (g % 50) LIMIT 1) s ON true
              JOIN packages p ON p.operator_id = s.parent_id
              JOIN billing_profiles b ON b.operator_id = s.parent_id""", customers)
        # 1M accounting rows: closed history, plus one open session for a third of the customers
        await conn.execute("""
            INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctstoptime,
                                 acctinputoctets, acctoutputoctets)
            SELECT 's' || g, 'u' || g, 'u' || (1 + g % $2), '10.0.0.1', now() - (g % 720) * interval '1 hour',
                   CASE WHEN g <= $2 / 3 THEN NULL ELSE now() - (g % 700) * interval '1 hour' END, g, g
              FROM generate_series(1, $1) g""", radacct, customers)
        await conn.execute("""
            INSERT INTO bills (customer_id, operator_id, period_start, period_end, currency, amount_minor, total_minor,
                               paid_minor, status, due_at)
            SELECT c.id, c.operator_id, date '2026-11-01', date '2026-12-01', 'BDT', 50000, 50000,
                   CASE WHEN c.id % 3 = 0 THEN 50000 ELSE 0 END,
                   CASE WHEN c.id % 3 = 0 THEN 'paid' ELSE 'unpaid' END, now() + interval '5 days'
              FROM customers c""")
        await conn.execute("""
            INSERT INTO payments (customer_id, operator_id, amount_minor, currency, method, received_at)
            SELECT c.id, c.operator_id, 50000, 'BDT', 'cash', now() - (c.id % 40) * interval '1 day'
              FROM customers c WHERE c.id % 3 = 0""")
        await conn.execute("ANALYZE")
        print(f"# seeded {customers:,} customers, {radacct:,} radacct rows in {time.perf_counter() - t:.1f}s")
        scopes = {}
        for label, kind in (("group admin", "group_admin"), ("operator", "operator"), ("sub-operator", "sub_operator")):
            row = await conn.fetchrow("SELECT id, path::text FROM operators WHERE kind = $1 ORDER BY id LIMIT 1", kind)
            scopes[label] = Scope(None, row["id"], row["path"], kind)
        return scopes
    finally:
        await conn.close()


async def measure(url: str, scopes: dict[str, Scope], runs: int, loader=dashboard.load) -> dict:
    conn = await asyncpg.connect(app_url(url), server_settings=SERVER_SETTINGS)
    results = {}
    try:
        for label, scope in scopes.items():
            timings = []
            for _ in range(runs):
                t = time.perf_counter()
                await set_scope(conn, scope.path)  # what the pool does on every checkout: one round trip
                figures = await loader(conn, scope, datetime.now(UTC), "Asia/Dhaka")
                timings.append((time.perf_counter() - t) * 1000)
            results[label] = {"customers": figures.total, "online": figures.online, **summarise(timings)}
    finally:
        await conn.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--radacct", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with throwaway_database() as url:
        scopes = asyncio.run(seed(url, args.customers, args.radacct))
        results = asyncio.run(measure(url, scopes, args.runs))
    print(f"{'scope':<14} {'customers':>10} {'online':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for label, r in results.items():
        print(f"{label:<14} {r['customers']:>10,} {r['online']:>8,} {r['p50_ms']:>8} {r['p95_ms']:>8}")
    print(json.dumps({"bench": "dashboard", "customers": args.customers, "radacct": args.radacct,
                      "results": results}))


if __name__ == "__main__":
    main()
