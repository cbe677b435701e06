"""EXPLAIN ANALYZE of each kind of search in the admin-scale mix, per scope, as radbill_app (RLS on):

    python -m bench.explain_search --customers 200000

Prints the plan of the page query of customer_records.search for the first seven entries of bench.customers'
mix (name fragment, username, mobile, id, status filter, paging, name fragment + status) in each scope."""

from __future__ import annotations

import argparse
import asyncio

import asyncpg

from bench import customers as customer_bench
from bench import dashboard as dashboard_bench
from bench.db import app_url, throwaway_database
from radbill.db.pool import SERVER_SETTINGS, set_scope
from radbill.services import customer_records


class Explaining:
    """A connection whose search page query is EXPLAINed (printed) instead of answered."""

    def __init__(self, conn: asyncpg.Connection):
        self.conn = conn

    def __getattr__(self, name):
        return getattr(self.conn, name)

    async def fetch(self, sql: str, *args):
        if "WITH page AS" not in sql:
            return await self.conn.fetch(sql, *args)
        plan = await self.conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
        print("\n".join(r[0] for r in plan), flush=True)
        return []


async def explain(url: str, scopes: dict, customers: int) -> None:
    conn = await asyncpg.connect(app_url(url), server_settings=SERVER_SETTINGS)
    try:
        for label, scope in scopes.items():
            for params in customer_bench.searches(7, customers):
                print(f"\n=== {label}: {params}", flush=True)
                await set_scope(conn, scope.path)
                await customer_records.search(Explaining(conn), scope, **params)
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    args = parser.parse_args()
    with throwaway_database("radbill-bench-explain-") as url:
        scopes = asyncio.run(dashboard_bench.seed(url, args.customers, args.customers))
        asyncio.run(customer_bench.expire_some(url))
        asyncio.run(explain(url, scopes, args.customers))


if __name__ == "__main__":
    main()
