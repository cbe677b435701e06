"""Lists filtered by a customer text (tickets, bills, payments, a manual bill run's customers) through the one
customer search (ScopedWhere.customer, now: radbill_customer_found, migration 0061, radbill_customer_search's
matches as an array) against the filter they used before (radbill_customer_matches, migration 0021), in
interleaved rounds on one database, per scope; the rows each found, which must be equal.

    python -m bench.customer_filter --customers 100000 --runs 20

The dashboard bench's seed plus the reports bench's payments and the tickets bench's tickets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from contextlib import contextmanager

import asyncpg

from bench.customers import searches
from bench.dashboard import seed
from bench.db import app_url, summarise, throwaway_database
from bench.reports import EXTRA
from bench.tickets import seed_tickets
from radbill.db.pool import SERVER_SETTINGS, set_scope
from radbill.services import reports, tickets
from radbill.services.filters import ScopedWhere, _typed


def _matches_filter(self: ScopedWhere, text: str) -> None:
    """ScopedWhere.customer as it was before (radbill_customer_matches: every match's id in one array)."""
    text = (text or "").strip()
    if not text:
        return
    typed_id, mobile, pattern = _typed(text)
    alternatives = []
    if typed_id is not None:
        alternatives.append(f"c.id = {self.arg(typed_id)}")
    if mobile is not None:
        alternatives.append(f"c.mobile = {self.arg(mobile)}")
    alternatives.append(f"c.id = ANY ((SELECT radbill_customer_matches({self.arg(pattern)}))::bigint[])")
    self.add("(" + " OR ".join(alternatives) + ")")


@contextmanager
def filter_as(kind: str):
    current = ScopedWhere.customer
    if kind == "before":
        ScopedWhere.customer = _matches_filter
    try:
        yield
    finally:
        ScopedWhere.customer = current


async def prepare(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in EXTRA:
            await conn.execute(statement)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def measure(url: str, scopes: dict, texts: list[str]) -> tuple[dict, dict]:
    """(timings per list and scope, rows found per list: the two filters must find the same)."""
    conn = await asyncpg.connect(app_url(url), server_settings=SERVER_SETTINGS)
    results: dict[str, list[float]] = {}
    found: dict[str, int] = {}

    async def timed(key: str, scope, call) -> None:
        await set_scope(conn, scope.path)
        t = time.perf_counter()
        rows = await call()
        results.setdefault(key, []).append((time.perf_counter() - t) * 1000)
        found[key] = found.get(key, 0) + len(rows[0] if isinstance(rows, tuple) else rows or [])

    try:
        for label, scope in scopes.items():
            for text in texts:
                await timed(f"{label} tickets", scope, lambda s=scope, q=text: tickets.list_tickets(conn, s, query=q))
                await timed(f"{label} bills", scope, lambda s=scope, q=text: reports.bill_list(
                    conn, s, reports.BillFilters(customer=q)))
                await timed(f"{label} payments", scope, lambda s=scope, q=text: reports.payment_history(
                    conn, s, reports.PaymentFilters(customer=q)))
                await timed(f"{label} bill-run customers", scope,
                            lambda s=scope, q=text: reports.customers_for_generation(conn, s, q))
    finally:
        await conn.close()
    return {k: summarise(v) for k, v in results.items()}, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--radacct", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20, help="texts per list and scope")
    parser.add_argument("--rounds", type=int, default=2, help="before/now pairs, interleaved")
    args = parser.parse_args()
    texts = [s["query"] for s in searches(args.runs * 3, args.customers) if s.get("query")][:args.runs]
    rounds = []
    with throwaway_database() as url:
        scopes = asyncio.run(seed(url, args.customers, args.radacct))
        asyncio.run(seed_tickets(url))
        asyncio.run(prepare(url))
        asyncio.run(measure(url, scopes, texts[:3]))  # warm the cache
        for _ in range(args.rounds):
            for kind in ("before", "now"):
                with filter_as(kind):
                    rounds.append((kind, *asyncio.run(measure(url, scopes, texts))))
    print(f"{'filter':<8} {'list':<40} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'rows':>8}")
    for kind, results, found in rounds:
        for key, r in results.items():
            print(f"{kind:<8} {key:<40} {r['p50_ms']:>8} {r['p95_ms']:>8} {r['max_ms']:>8} {found[key]:>8}")
    print(json.dumps({"bench": "customer_filter", "customers": args.customers, "texts": texts,
                      "rounds": [{"filter": k, "results": r, "rows": f} for k, r, f in rounds]}))


if __name__ == "__main__":
    main()
