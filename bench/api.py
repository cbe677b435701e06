"""API read throughput: `GET /api/v1/customers/{id}` driven by N concurrent clients for a bounded time (target:
1,000 reads/s sustained with p95 < 50 ms on a 2-core box), against baselines driven the same way in the same run:
the static stylesheet (the HTTP floor) and /healthz (a request that also reads the database).

    python -m bench.api --customers 10000 --concurrency 32 --seconds 20

A real admin app (as radbill_app, row-level security on) in a child process on a loopback port; the load is
generated here, in this process, so the server has its own core. One API client (the operator's whole subtree,
its per-client rate limit raised out of the way: the limiter is not what is measured) reads random customers of
its scope. Latency is measured at the client: a full round trip over loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import time

import aiohttp
import asyncpg
from aiohttp import web

from bench.dashboard import seed
from bench.db import app_url, throwaway_database
from radbill.config import Config, DatabaseUrl, Secret
from radbill.db.cluster import free_port


def percentile(ordered: list[float], share: float) -> float:
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))], 1) if ordered else 0.0


async def make_client(url: str) -> tuple[str, list[int]]:
    """An API client of the first operator (customers.view) and the ids of the customers in its subtree."""
    from radbill.passwords import hash_password
    from radbill.services import api_clients
    from radbill.tenancy import Scope

    conn = await asyncpg.connect(url)
    try:
        op = await conn.fetchrow("SELECT id, path::text AS path FROM operators WHERE kind = 'operator' ORDER BY id"
                                 " LIMIT 1")
        account = await conn.fetchrow(
            "INSERT INTO accounts (operator_id, role, username, password_hash) VALUES ($1, 'operator',"
            " 'bench-api', $2) RETURNING id", op["id"], hash_password("bench-api-password"))
        scope = Scope(account["id"], op["id"], op["path"], "operator")
        _row, token = await api_clients.create_client(conn, scope, {"name": "bench", "permissions":
                                                                    ["customers.view"], "allowed_cidrs": ""}, None)
        ids = [r["id"] for r in await conn.fetch(
            "SELECT c.id FROM customers c JOIN operators o ON o.id = c.operator_id WHERE o.path <@ $1::ltree",
            op["path"])]
        return token, ids
    finally:
        await conn.close()


def serve(url: str, port: int, ready) -> None:
    """The child process: the admin app as production runs it (os.sched_setaffinity is left to the kernel)."""
    from admin.app import create_app

    config = Config(database_url=DatabaseUrl(app_url(url)), secret_key=Secret("b" * 40), cookie_secure=False,
                    api_rate=1_000_000, api_burst=1_000_000)

    async def main():
        runner = web.AppRunner(create_app(config), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


async def drive(base: str, paths, headers: dict, concurrency: int, seconds: float) -> dict:
    """`concurrency` workers, each sending its next request when the last answered, until `seconds` pass."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)

    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:
        async def worker():
            nonlocal errors
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                async with http.get(base + paths()) as r:
                    await r.read()
                    if r.status not in (200, 503):  # /healthz says 503 without a scheduler: it still did its work
                        errors += 1
                latencies.append((time.perf_counter() - t) * 1000)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {"requests": len(ordered), "errors": errors, "req_per_s": round(len(ordered) / elapsed),
            "p50_ms": percentile(ordered, 0.50), "p95_ms": percentile(ordered, 0.95),
            "p99_ms": percentile(ordered, 0.99)}


async def measure(base: str, token: str, ids: list[int], concurrency: int, seconds: float) -> dict:
    auth = {"Authorization": f"Bearer {token}"}
    cases = {
        "static css (baseline)": (lambda: "/static/admin.css", {}),
        "/healthz (baseline)": (lambda: "/healthz", {}),
        "GET /api/v1/customers/{id}": (lambda: f"/api/v1/customers/{random.choice(ids)}", auth),
    }
    await drive(base, cases["GET /api/v1/customers/{id}"][0], auth, concurrency, 2)  # warm-up: pools, caches
    return {name: await drive(base, paths, headers, concurrency, seconds) for name, (paths, headers) in cases.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    with throwaway_database() as url:
        asyncio.run(seed(url, args.customers, 0))
        token, ids = asyncio.run(make_client(url))
        port = free_port()
        ready = multiprocessing.Event()
        server = multiprocessing.Process(target=serve, args=(url, port, ready), daemon=True)
        server.start()
        try:
            if not ready.wait(60):
                raise SystemExit("the admin app did not start")
            results = asyncio.run(measure(f"http://127.0.0.1:{port}", token, ids, args.concurrency, args.seconds))
        finally:
            server.terminate()
            server.join(10)
    print(f"{'case':<30} {'req/s':>7} {'p50':>7} {'p95':>7} {'p99':>7}  ms   errors"
          "   (target: API >= 1000 req/s, p95 < 50 ms)")
    for name, r in results.items():
        print(f"{name:<30} {r['req_per_s']:>7} {r['p50_ms']:>7} {r['p95_ms']:>7} {r['p99_ms']:>7}      {r['errors']}")
    print(f"# {len(ids)} customers in the client's scope; {args.concurrency} concurrent clients for {args.seconds} s"
          f" each; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(json.dumps({"bench": "api", "customers": args.customers, "concurrency": args.concurrency,
                      "seconds": args.seconds, "results": results}))


if __name__ == "__main__":
    main()
