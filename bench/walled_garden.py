"""The walled garden's front door at scale: who is behind an address (customer_by_address) and what their Pay
button asks (open_bills_due), for a walled customer's address and for an unknown one, with the partial index on
open sessions' Framed-IP-Address (sql/migrations/0033) and without it, in interleaved rounds on one database.

    python -m bench.walled_garden --customers 100000 --radacct 1000000 --runs 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import asyncpg

from bench.dashboard import seed
from bench.db import app_url, summarise, throwaway_database
from radbill.db.pool import SERVER_SETTINGS, SYSTEM, set_scope
from radbill.payments.links import open_bills_due
from radbill.services import walled_garden

INDEX = "CREATE INDEX IF NOT EXISTS radacct_open_framed_ip ON radacct (framedipaddress) WHERE acctstoptime IS NULL"


async def give_addresses(url: str) -> list[str]:
    """Every session an address (history too, as routers report), open ones unique; the walled customers' ones."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("UPDATE radacct SET framedipaddress = '100.64.0.0'::inet + (radacctid % 4000000)")
        await conn.execute("ANALYZE radacct")
        rows = await conn.fetch(
            "SELECT host(r.framedipaddress) FROM radacct r JOIN customers c ON c.username = r.username"
            " WHERE r.acctstoptime IS NULL AND c.status = 'suspended' ORDER BY r.radacctid LIMIT 200")
        return [r[0] for r in rows]
    finally:
        await conn.close()


async def set_index(url: str, present: bool) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(INDEX if present else "DROP INDEX IF EXISTS radacct_open_framed_ip")
        await conn.execute("ANALYZE radacct")
    finally:
        await conn.close()


async def measure(url: str, walled: list[str], runs: int) -> dict:
    conn = await asyncpg.connect(app_url(url), server_settings=SERVER_SETTINGS)
    results: dict[str, list[float]] = {}
    try:
        await set_scope(conn, SYSTEM)
        for i in range(runs):
            for key, address in (("walled address", walled[i % len(walled)]), ("unknown address", "192.0.2.7")):
                t = time.perf_counter()
                found = await walled_garden.customer_by_address(conn, address)
                if found is not None:
                    await open_bills_due(conn, found["customer_id"])
                results.setdefault(key, []).append((time.perf_counter() - t) * 1000)
                if key == "walled address" and found is None:
                    raise SystemExit(f"{address} should be a walled customer's")
    finally:
        await conn.close()
    return {k: summarise(v) for k, v in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--radacct", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2, help="without/with pairs, interleaved")
    args = parser.parse_args()
    rounds: list[tuple[str, dict]] = []
    with throwaway_database() as url:
        asyncio.run(seed(url, args.customers, args.radacct))
        walled = asyncio.run(give_addresses(url))
        for _ in range(args.rounds):
            for present in (False, True):
                asyncio.run(set_index(url, present))
                asyncio.run(measure(url, walled, 5))  # warm
                rounds.append(("index" if present else "no index", asyncio.run(measure(url, walled, args.runs))))
    print(f"{'round':<9} {'lookup':<16} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}   (target p95 < 50 ms)")
    for label, results in rounds:
        for key, r in results.items():
            print(f"{label:<9} {key:<16} {r['p50_ms']:>8} {r['p95_ms']:>8} {r['max_ms']:>8}")
    print(json.dumps({"bench": "walled_garden", "customers": args.customers, "radacct": args.radacct,
                      "rounds": [{"index": label, "results": results} for label, results in rounds]}))


if __name__ == "__main__":
    main()
