"""`make bench-customers`: customer-list searches at 100,000 customers (target p95 < 50 ms).

    python -m bench.customers --customers 100000 --radacct 1000000 --runs 40

`--mix standard` is the search mix alone (comparable with older code); `filters` is the display-state and
"online now" filters alone (`status=expired`, `status=active`, `online`), measured per filter.
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
from radbill.services import customer_records

FILTERS = {"expired": {"query": "", "status": "expired"}, "active": {"query": "", "status": "active"},
           "online": {"query": "", "online": True}}


def searches(n: int, customers: int) -> list[dict]:
    """A realistic mix: by name fragment, username, mobile (as typed), id, filters, and plain paging."""
    rng = random.Random(7)
    mix = []
    for i in range(n):
        k = rng.randint(1, customers)
        mix.append([{"query": f"Customer {k}"}, {"query": f"u{k}"}, {"query": f"017{k:08d}"[:11]},
                    {"query": str(k)}, {"query": "", "status": "suspended"}, {"query": "", "page": 3},
                    {"query": "Customer 12", "status": "active"}][i % 7])
    return mix


async def expire_some(url: str) -> None:
    """One customer in 20 past its expiry (the seed's all expire in 10 days), so "expired" finds rows."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("UPDATE customers SET expires_at = now() - interval '2 days' WHERE id % 20 = 0")
        await conn.execute("ANALYZE customers")
    finally:
        await conn.close()


async def measure(url: str, scopes: dict, mixes: dict[str, list[dict]], baseline=None) -> dict:
    """p50/p95/max per scope and mix; with `baseline` (another search function, e.g. the one before migration
    0053), each query is also run through it, the two alternating which goes first, reported as "... [before]"."""
    conn = await asyncpg.connect(app_url(url), server_settings=SERVER_SETTINGS)
    searchers = {"": customer_records.search, **({" [before]": baseline} if baseline else {})}
    results = {}
    try:
        for (label, scope), (mix_label, mix) in ((s, m) for s in scopes.items() for m in mixes.items()):
            timings: dict[str, list[float]] = {name: [] for name in searchers}
            for i, params in enumerate(mix):
                for name in list(searchers)[:: 1 if i % 2 else -1]:
                    t = time.perf_counter()
                    await set_scope(conn, scope.path)  # what the pool does on every checkout: one round trip
                    await searchers[name](conn, scope, **params)
                    timings[name].append((time.perf_counter() - t) * 1000)
            for name, values in timings.items():
                results[f"{label} {mix_label}".strip() + name] = summarise(values)
    finally:
        await conn.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--radacct", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=70)
    parser.add_argument("--mix", choices=("standard", "filters", "both"), default="both")
    args = parser.parse_args()
    mixes = {}
    if args.mix in ("standard", "both"):
        mixes[""] = searches(args.runs, args.customers)
    if args.mix in ("filters", "both"):
        mixes.update({f"[{name}]": [params] * max(args.runs // 3, 10) for name, params in FILTERS.items()})
    with throwaway_database() as url:
        scopes = asyncio.run(seed(url, args.customers, args.radacct))
        asyncio.run(expire_some(url))
        results = asyncio.run(measure(url, scopes, mixes))
    print(f"{'scope':<24} {'searches':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}   (target p95 < 50 ms)")
    for label, r in results.items():
        print(f"{label:<24} {r['runs']:>8} {r['p50_ms']:>8} {r['p95_ms']:>8} {r['max_ms']:>8}")
    print(json.dumps({"bench": "customers", "customers": args.customers, "results": results}))


if __name__ == "__main__":
    main()
