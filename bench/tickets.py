"""Staff reads at scale with the portal's customer policies (sql/migrations/0030) present and removed, in
interleaved rounds on one database, plus the ticket list and counts (target p95 < 50 ms).

    python -m bench.tickets --customers 100000 --radacct 1000000 --runs 20

The customer policies add a permissive arm to 21 tables' row-level security; this measures what that costs the
staff's dashboard and customer search ("with") against the same data without them ("without").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime

import asyncpg

from bench.customers import searches
from bench.dashboard import seed
from bench.db import app_url, summarise, throwaway_database
from radbill.db.pool import SERVER_SETTINGS, set_scope
from radbill.services import customer_records, dashboard, tickets

POLICY_TABLES = """
    SELECT DISTINCT tablename::text FROM pg_policies
     WHERE schemaname = 'public' AND policyname IN ('customer_read', 'customer_write', 'customer_append')
"""


async def seed_tickets(url: str) -> None:
    """One ticket (two messages) for every 20th customer, a fifth of them closed."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("""
            INSERT INTO tickets (operator_id, customer_id, category, subject, status, closed_at, updated_at)
            SELECT operator_id, id, (ARRAY['no_internet','slow','billing','relocation','other'])[1 + id % 5],
                   'Ticket of ' || username, CASE WHEN id % 100 = 0 THEN 'closed' ELSE 'open' END,
                   CASE WHEN id % 100 = 0 THEN now() END, now() - (id % 500) * interval '1 hour'
              FROM customers WHERE id % 20 = 0""")
        await conn.execute("""
            INSERT INTO ticket_messages (ticket_id, operator_id, customer_id, body)
            SELECT id, operator_id, customer_id, 'Message ' || g FROM tickets, generate_series(1, 2) g""")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def set_policies(url: str, present: bool, tables: list[str]) -> None:
    conn = await asyncpg.connect(url)
    try:
        for table in tables:
            if present:
                await conn.execute("SELECT radbill_customer_policies($1::regclass)", table)
            else:
                for name in ("customer_read", "customer_write", "customer_append"):
                    await conn.execute(f'DROP POLICY IF EXISTS {name} ON "{table}"')
    finally:
        await conn.close()


async def measure(url: str, scopes: dict, runs: int, mix: list[dict]) -> dict:
    conn = await asyncpg.connect(app_url(url), server_settings=SERVER_SETTINGS)
    results: dict[str, list[float]] = {}

    async def timed(key: str, scope, call) -> None:
        t = time.perf_counter()
        await set_scope(conn, scope.path)
        await call()
        results.setdefault(key, []).append((time.perf_counter() - t) * 1000)

    try:
        for label, scope in scopes.items():
            for params in (mix * runs)[:runs]:
                await timed(f"{label} dashboard", scope,
                            lambda s=scope: dashboard.load(conn, s, datetime.now(UTC), "Asia/Dhaka"))
                await timed(f"{label} search", scope,
                            lambda s=scope, p=params: customer_records.search(conn, s, **p))
                await timed(f"{label} tickets", scope, lambda s=scope: tickets.list_tickets(conn, s))
                await timed(f"{label} ticket counts", scope, lambda s=scope: tickets.counts(conn, s))
    finally:
        await conn.close()
    return {k: summarise(v) for k, v in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--radacct", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="with/without pairs, interleaved")
    args = parser.parse_args()
    mix = searches(args.runs, args.customers)
    rounds: list[tuple[str, dict]] = []
    with throwaway_database() as url:
        scopes = asyncio.run(seed(url, args.customers, args.radacct))
        asyncio.run(seed_tickets(url))
        tables = asyncio.run(_tables(url))
        asyncio.run(measure(url, scopes, 3, mix))  # warm the cache, so the first round is not the cold one
        for _ in range(args.rounds):
            for present in (True, False):
                asyncio.run(set_policies(url, present, tables))
                rounds.append(("with" if present else "without", asyncio.run(measure(url, scopes, args.runs, mix))))
    print(f"{'round':<8} {'query':<30} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}   (target p95 < 50 ms)")
    for label, results in rounds:
        for key, r in results.items():
            print(f"{label:<8} {key:<30} {r['p50_ms']:>8} {r['p95_ms']:>8} {r['max_ms']:>8}")
    print(json.dumps({"bench": "tickets", "customers": args.customers, "radacct": args.radacct,
                      "rounds": [{"policies": label, "results": results} for label, results in rounds]}))


async def _tables(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return [r[0] for r in await conn.fetch(POLICY_TABLES)]
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
