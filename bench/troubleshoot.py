"""`make bench-troubleshoot`: the customer page with its "Why can't this customer connect?" panel at 100,000
customers (issue 14: page server time p95 < 50 ms). Figures: the panel alone, and the whole page's queries
(the profile's, the ledger's and the panel's; rendering excluded) with, as the baseline in the same run, the
page's queries without the panel; per scope, for customers the scope can see.

    python -m bench.troubleshoot --customers 100000 --radacct 1000000 --postauth 1000000 --runs 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time

import asyncpg

from bench.dashboard import seed
from bench.db import app_url, summarise, throwaway_database
from radbill.db.pool import SERVER_SETTINGS, set_scope
from radbill.services import catalog, customer_records, ledger, troubleshoot


async def seed_more(url: str, customers: int, postauth: int) -> None:
    """Data caps on every package (the policy row's usage window is the costly part), login attempts."""
    conn = await asyncpg.connect(url)
    try:
        t = time.perf_counter()
        await conn.execute("UPDATE packages SET data_cap_bytes = 50 * 1024^3")
        await conn.execute("""
            INSERT INTO radpostauth (username, reply, reason, nasipaddress, callingstationid, authdate)
            SELECT 'u' || (1 + g % $2), CASE WHEN g % 4 = 0 THEN 'Access-Reject' ELSE 'Access-Accept' END,
                   CASE WHEN g % 4 = 0 THEN 'suspended' ELSE 'ok' END, '10.0.0.1', 'aa:bb:cc:dd:ee:ff',
                   now() - (g % 10000) * interval '1 minute'
              FROM generate_series(1, $1) g""", postauth, customers)
        await conn.execute("ANALYZE")
        print(f"# seeded caps and {postauth:,} login attempts in {time.perf_counter() - t:.1f}s")
    finally:
        await conn.close()


async def panel(conn, scope, customer_id: int) -> None:
    await troubleshoot.panel(conn, scope, customer_id, 300)


async def page(conn, scope, customer_id: int) -> None:
    """What customers.customer_profile asks the database for."""
    await page_before(conn, scope, customer_id)
    await troubleshoot.panel(conn, scope, customer_id, 300)


async def page_before(conn, scope, customer_id: int) -> None:
    """The baseline: the customer page's queries without the panel (as before issue 14 item 11)."""
    await customer_records.detail(conn, scope, customer_id)
    await ledger.customer_balance(conn, scope, customer_id)
    await ledger.customer_ledger(conn, scope, customer_id)
    for load in (catalog.packages_for, catalog.billing_profiles_for, catalog.zones_for):
        await load(conn, scope)


async def measure(url: str, scopes: dict, runs: int) -> dict:
    conn = await asyncpg.connect(app_url(url), server_settings=SERVER_SETTINGS)
    rng = random.Random(11)
    results = {}
    try:
        for label, scope in scopes.items():
            await set_scope(conn, scope.path)
            ids = [r["id"] for r in await conn.fetch("SELECT id FROM customers")]  # what the scope sees (RLS)
            chosen = [rng.choice(ids) for _ in range(runs)]
            for name, work in (("panel", panel), ("page", page), ("page w/o panel", page_before)):
                timings = []
                for customer_id in chosen:
                    t = time.perf_counter()
                    await set_scope(conn, scope.path)  # what the pool does on every checkout: one round trip
                    await work(conn, scope, customer_id)
                    timings.append((time.perf_counter() - t) * 1000)
                results[f"{label} {name}"] = {"visible": len(ids), **summarise(timings)}
    finally:
        await conn.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--radacct", type=int, default=1_000_000)
    parser.add_argument("--postauth", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    with throwaway_database() as url:
        scopes = asyncio.run(seed(url, args.customers, args.radacct))
        asyncio.run(seed_more(url, args.customers, args.postauth))
        results = asyncio.run(measure(url, scopes, args.runs))
    print(f"{'scope / what':<28} {'visible':>8} {'runs':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}   (target p95 < 50 ms)")
    for label, r in results.items():
        print(f"{label:<28} {r['visible']:>8,} {r['runs']:>5} {r['p50_ms']:>8} {r['p95_ms']:>8} {r['max_ms']:>8}")
    print(json.dumps({"bench": "troubleshoot", "customers": args.customers, "radacct": args.radacct,
                      "postauth": args.postauth, "results": results}))


if __name__ == "__main__":
    main()
