"""Portal page server time for a logged-in customer: home, bills and a receipt (target p95 < 50 ms), against the
static stylesheet and the login page measured in the same run, interleaved.

    python -m bench.portal --customers 10000 --radacct 200000 --runs 200

A real portal app on a loopback port over a throwaway database (as radbill_app, row-level security on); the
customer has ~radacct/customers sessions in radacct, one of them open, and bills and payments. Times are measured
at the client: a request's full round trip over loopback, which the stylesheet's figure shows the floor of.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import time

import aiohttp
import asyncpg
from aiohttp import web

from bench.dashboard import seed
from bench.db import app_url, summarise, throwaway_database
from portal.app import create_app
from radbill.config import Config, DatabaseUrl, Secret
from radbill.db.cluster import free_port
from radbill.db.pool import SYSTEM, create_pool


async def the_customer(url: str) -> dict:
    """A customer with a payment, an open session and most history: what a busy home page shows."""
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT c.username, c.radius_password, p.id AS payment_id FROM customers c"
            "  JOIN payments p ON p.customer_id = c.id WHERE c.status = 'active'"
            "   AND EXISTS (SELECT 1 FROM radacct r WHERE r.username = c.username AND r.acctstoptime IS NULL)"
            " ORDER BY c.id LIMIT 1")
        await conn.execute("UPDATE packages SET data_cap_bytes = 100000000000")  # the meter is drawn too
        return dict(row)
    finally:
        await conn.close()


async def measure(url: str, customer: dict, runs: int) -> dict:
    pool = await create_pool(app_url(url), max_size=10, default_scope=SYSTEM)
    port = free_port()
    config = Config(database_url=DatabaseUrl(app_url(url)), secret_key=Secret("b" * 40), portal_port=port,
                    portal_url=f"http://127.0.0.1:{port}", cookie_secure=False)
    app = create_app(config, pool)
    server_ms: dict[str, list[float]] = {}

    @web.middleware
    async def timer(request, handler):  # outermost: the whole server side of a request, middlewares included
        t = time.perf_counter()
        try:
            return await handler(request)
        finally:
            server_ms.setdefault(request.path, []).append((time.perf_counter() - t) * 1000)

    app.middlewares.insert(0, timer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    pages = {"static css (baseline)": "/static/portal.css", "login page (baseline)": "/login", "home": "/",
             "bills": "/bills", "receipt": f"/payments/{customer['payment_id']}/receipt"}
    timings: dict[str, list[float]] = {name: [] for name in pages}
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http, \
                aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as anonymous:
            async with http.get(f"{base}/login") as r:
                token = re.search(r'name="csrf_token" value="([^"]+)"', await r.text()).group(1)
            async with http.post(f"{base}/login", headers={"Origin": base}, allow_redirects=False, data={
                    "csrf_token": token, "username": customer["username"], "password": customer["radius_password"]}) as r:
                assert r.status == 303, await r.text()
            for round_ in range(runs + 5):  # five warm-up rounds are not counted
                for name, path in pages.items():
                    t = time.perf_counter()
                    client = anonymous if path == "/login" else http  # the login page as a stranger sees it
                    async with client.get(base + path, allow_redirects=False) as r:
                        await r.read()
                        assert r.status == 200, (path, r.status)
                    if round_ >= 5:
                        timings[name].append((time.perf_counter() - t) * 1000)
                    else:
                        server_ms.pop(path, None)
    finally:
        await runner.cleanup()
        await pool.close()
    return {name: {"client": summarise(values), "server": summarise(server_ms[pages[name]])}
            for name, values in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--radacct", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with throwaway_database() as url:
        asyncio.run(seed(url, args.customers, args.radacct))
        customer = asyncio.run(the_customer(url))
        results = asyncio.run(measure(url, customer, args.runs))
    print(f"{'page':<24} {'server p50':>10} {'p95':>7} {'max':>7}   {'client p50':>10} {'p95':>7}   ms"
          "   (target: server p95 < 50 ms)")
    for name, r in results.items():
        s, c = r["server"], r["client"]
        print(f"{name:<24} {s['p50_ms']:>10} {s['p95_ms']:>7} {s['max_ms']:>7}   {c['p50_ms']:>10} {c['p95_ms']:>7}")
    print(f"# load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(json.dumps({"bench": "portal", "customers": args.customers, "radacct": args.radacct, "runs": args.runs,
                      "results": results}))


if __name__ == "__main__":
    main()
