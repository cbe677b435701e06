"""API read throughput: `GET /api/v1/customers/{id}` driven by N concurrent clients for a bounded time (target:
1,000 reads/s sustained with p95 < 50 ms on a 2-core box), against baselines driven the same way in the same run:
the static stylesheet (the HTTP floor) and /healthz (a request that also reads the database).

    python -m bench.api --customers 10000 --concurrency 32 --seconds 20 --workers 1 2

A real admin app (as radbill_app, row-level security on) in `--workers` child processes sharing one loopback port
(SO_REUSEPORT, as `radbill run` starts RADBILL_ADMIN_WORKERS of them), each worker count measured in turn on the
same data. The load comes from `wrk` (a C generator, `make bench-deps`) when it is installed, so the generator
does not take the core the server needs; else from an aiohttp generator in this process (`--driver python`). One API client (the operator's whole subtree,
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
import re
import shutil
import subprocess
import tempfile
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


def serve(url: str, port: int, ready, reuse_port: bool = False, limiter_workers: int = 1) -> None:
    """The child process: the admin app as production runs it (os.sched_setaffinity is left to the kernel).
    `limiter_workers`: the RADBILL_ADMIN_WORKERS its rate limiter is chosen by (> 1: the shared bucket)."""
    from admin.app import create_app

    config = Config(database_url=DatabaseUrl(app_url(url)), secret_key=Secret("b" * 40), cookie_secure=False,
                    api_rate=1_000_000, api_burst=1_000_000, admin_workers=limiter_workers)

    async def main():
        runner = web.AppRunner(create_app(config), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, reuse_port=reuse_port).start()
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


WRK_SCRIPT = """
ids = {%s}
wrk.headers["Authorization"] = "%s"
request = function()
  if wrk.path == "/api" then
    return wrk.format("GET", "/api/v1/customers/" .. ids[math.random(#ids)])
  end
  return wrk.format("GET", wrk.path)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, latency:percentile(50), latency:percentile(95), latency:percentile(99), 0))
end
"""


def drive_wrk(base: str, path: str, token: str, ids: list[int], concurrency: int, seconds: float) -> dict:
    """wrk, one thread, `concurrency` connections, closed loop; p50/p95/p99 from its full latency histogram.
    Non-2xx answers (a /healthz 503 without a scheduler included) count as errors except on /healthz."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % (",".join(map(str, ids)), f"Bearer {token}"))
    try:
        out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "-s", script.name,
                              base + path], capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    finally:
        os.unlink(script.name)
    requests, duration_us, errors, p50, p95, p99, _ = map(int, re.search(r"RESULT ([\d ]+)", out).group(1).split())
    if path == "/healthz":
        errors = 0  # 503 without a scheduler: it still did its work
    return {"requests": requests, "errors": errors, "req_per_s": round(requests / (duration_us / 1e6)),
            "p50_ms": round(p50 / 1000, 1), "p95_ms": round(p95 / 1000, 1), "p99_ms": round(p99 / 1000, 1)}


CASES = {"static css (baseline)": "/static/admin.css", "/healthz (baseline)": "/healthz",
         "GET /api/v1/customers/{id}": "/api"}


async def measure(base: str, token: str, ids: list[int], concurrency: int, seconds: float, driver: str) -> dict:
    auth = {"Authorization": f"Bearer {token}"}

    def paths_of(path):
        return (lambda: f"/api/v1/customers/{random.choice(ids)}") if path == "/api" else (lambda: path)

    await drive(base, paths_of("/api"), auth, concurrency, 2)  # warm-up: pools, caches
    results = {}
    for name, path in CASES.items():
        if driver == "wrk":
            results[name] = await asyncio.to_thread(drive_wrk, base, path, token, ids, concurrency, seconds)
        else:
            results[name] = await drive(base, paths_of(path), auth if path == "/api" else {}, concurrency, seconds)
    return results


LIMITERS = {"auto": None, "memory": 1, "shared": 2}  # the admin_workers each limiter is chosen by (auto: as run)


def measure_workers(url: str, workers: int, token: str, ids: list[int], args, limiter: str = "auto") -> dict:
    """`workers` admin processes on one port (SO_REUSEPORT when more than one), measured, then stopped. `limiter`:
    the API's rate limit as `radbill run` picks it for that many workers (auto), or in memory / in Postgres."""
    port = free_port()
    servers = []
    limiter_workers = LIMITERS[limiter] or workers
    try:
        for _ in range(workers):
            ready = multiprocessing.Event()
            server = multiprocessing.Process(target=serve, args=(url, port, ready, workers > 1, limiter_workers),
                                             daemon=True)
            server.start()
            servers.append(server)
            if not ready.wait(60):
                raise SystemExit("the admin app did not start")
        return asyncio.run(measure(f"http://127.0.0.1:{port}", token, ids, args.concurrency, args.seconds,
                                   args.driver))
    finally:
        for server in servers:
            server.terminate()
            server.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="admin worker processes to measure, in turn (default: 1 2)")
    parser.add_argument("--driver", choices=("wrk", "python"), default="wrk" if shutil.which("wrk") else "python")
    parser.add_argument("--limiters", nargs="+", choices=tuple(LIMITERS), default=["auto"],
                        help="the API rate limiter per worker count, in turn: as `radbill run` picks it (auto, the"
                             " default: in memory for 1 worker, in Postgres for more), memory, shared")
    parser.add_argument("--rounds", type=int, default=1, help="measure every combination this many times, in turn")
    args = parser.parse_args()
    with throwaway_database() as url:
        asyncio.run(seed(url, args.customers, 0))
        token, ids = asyncio.run(make_client(url))
        results = {f"{workers} {limiter} #{n + 1}": measure_workers(url, workers, token, ids, args, limiter)
                   for n in range(args.rounds) for workers in args.workers for limiter in args.limiters}
    print(f"{'workers limiter round':<21} {'case':<30} {'req/s':>7} {'p50':>7} {'p95':>7} {'p99':>7}  ms   errors"
          "   (target: API >= 1000 req/s, p95 < 50 ms)")
    for run, cases in results.items():
        for name, r in cases.items():
            print(f"{run:<21} {name:<30} {r['req_per_s']:>7} {r['p50_ms']:>7} {r['p95_ms']:>7} {r['p99_ms']:>7}"
                  f"      {r['errors']}")
    print(f"# {len(ids)} customers in the client's scope; {args.concurrency} concurrent connections for"
          f" {args.seconds} s each, driven by {args.driver}; load average {os.getloadavg()[0]:.1f} on"
          f" {os.cpu_count()} cores")
    print(json.dumps({"bench": "api", "customers": args.customers, "concurrency": args.concurrency,
                      "seconds": args.seconds, "driver": args.driver,
                      "results": results}))


if __name__ == "__main__":
    main()
