"""`make bench-payments`: online payment, verification to reactivation (issue 15: p95 < 1 s with the fake gateway).

Each run: a suspended customer with an unpaid 500.00 bill opens a pay link on a real portal (aiohttp, loopback),
is sent to the local fake bKash and presses Pay; the timed part starts when the bKash callback reaches the portal
and ends when the portal has answered, i.e. after bKash's execute call, settlement, the bill paid and the customer
reactivated are committed (checked after each run). Baseline in the same run: the same customer state paid in
cash through record_cash_payment (the same service without the gateway).

    python -m bench.payments --runs 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import time
from datetime import date

import aiohttp
import asyncpg
from aiohttp import web

from bench.db import app_url, summarise, throwaway_database
from portal.app import create_app
from radbill import clock, secretbox
from radbill.config import Config, DatabaseUrl, Secret
from radbill.db.cluster import free_port
from radbill.db.pool import SYSTEM, create_pool
from radbill.payments.fakes.bkash import start_fake
from radbill.payments.links import create_pay_link
from radbill.payments.registry import credentials_context
from radbill.services import billing, payments
from radbill.tenancy import Scope

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def seed(conn, bkash_url: str, credentials: dict):
    async def ins(table: str, values: dict):
        cols, params = ", ".join(values), ", ".join(f"${i}" for i in range(1, len(values) + 1))
        return await conn.fetchrow(f"INSERT INTO {table} ({cols}) VALUES ({params}) RETURNING *",  # noqa: S608
                                   *values.values())

    root = await ins("operators", {"kind": "group_admin", "name": "Bench Group"})
    op = await ins("operators", {"kind": "operator", "parent_id": root["id"], "name": "Bench ISP"})
    pkg = await ins("packages", {"operator_id": op["id"], "name": "Home", "download_kbps": 10240,
                                 "upload_kbps": 5120, "price_minor": 50000})
    profile = await ins("billing_profiles", {"operator_id": op["id"], "name": "Monthly", "cycle_kind": "fixed_day",
                                             "billing_day": 1, "billing_type": "prepaid"})
    gateway = await ins("payment_gateways", {"operator_id": op["id"], "kind": "bkash", "label": "bKash",
                                             "base_url": bkash_url})
    await conn.execute("UPDATE payment_gateways SET credentials_sealed = $2 WHERE id = $1", gateway["id"],
                       secretbox.seal(json.dumps(credentials), credentials_context(gateway["id"])))
    return root, op, pkg, profile, gateway


async def suspended_customer(conn, n: int, root, op, pkg, profile) -> tuple[int, int]:
    cid = await conn.fetchval(
        "INSERT INTO customers (operator_id, username, radius_password, name, connection_type, package_id,"
        " billing_profile_id, billing_anchor) VALUES ($1, $2, 'pw', $2, 'pppoe', $3, $4, $5) RETURNING id",
        op["id"], f"bench{n}", pkg["id"], profile["id"], date(2000, 1, 1))
    await billing.generate_bills(conn, clock.now(), Scope.system(root["id"], str(root["path"])), [cid])
    await conn.execute("UPDATE customers SET status = 'suspended' WHERE id = $1", cid)
    bill = await conn.fetchval("SELECT id FROM bills WHERE customer_id = $1 ORDER BY period_start LIMIT 1", cid)
    return cid, bill


async def pay_online(http, portal: str, token: str, gateway_id: int) -> float:
    async with http.get(f"{portal}/pay/{token}") as resp:
        csrf = CSRF.search(await resp.text()).group(1)
    async with http.post(f"{portal}/pay/{token}", data={"csrf": csrf, "gateway": str(gateway_id)},
                         allow_redirects=False) as resp:
        checkout = resp.headers["Location"]
    async with http.post(f"{checkout}/pay", allow_redirects=False) as resp:
        callback = resp.headers["Location"]
    t = time.perf_counter()
    async with http.get(callback, allow_redirects=False) as resp:
        assert resp.status == 303, await resp.text()
    return (time.perf_counter() - t) * 1000


async def run(url: str, runs: int) -> dict:
    os.environ.setdefault(secretbox.ENV, secretbox.new_key_entry("bench"))
    fake, fake_runner = await start_fake()
    owner = await asyncpg.connect(url)
    pool = await create_pool(app_url(url), max_size=10, default_scope=SYSTEM)
    port = free_port()
    config = Config(database_url=DatabaseUrl(app_url(url)), secret_key=Secret("b" * 64), portal_port=port,
                    portal_url=f"http://127.0.0.1:{port}", cookie_secure=False)
    runner = web.AppRunner(create_app(config, pool), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    root, op, pkg, profile, gateway = await seed(owner, fake.base_url, fake.credentials)
    online, cash = [], []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for n in range(runs):
            cid, bill = await suspended_customer(owner, 2 * n, root, op, pkg, profile)
            token = await create_pay_link(owner, cid, bill)
            online.append(await pay_online(http, config.portal_base_url, token, gateway["id"]))
            assert await owner.fetchval("SELECT status FROM customers WHERE id = $1", cid) == "active"
            cid, bill = await suspended_customer(owner, 2 * n + 1, root, op, pkg, profile)
            async with pool.acquire() as conn:
                t = time.perf_counter()
                await payments.record_cash_payment(conn, Scope.system(op["id"], str(op["path"])), cid, 50000, bill)
                cash.append((time.perf_counter() - t) * 1000)
            assert await owner.fetchval("SELECT status FROM customers WHERE id = $1", cid) == "active"
    payments_made = await owner.fetchval("SELECT count(*) FROM payments WHERE method = 'gateway'")
    await runner.cleanup()
    await pool.close()
    await owner.close()
    await fake_runner.cleanup()
    return {"online_callback_to_reactivated": summarise(online), "baseline_cash_payment_service": summarise(cash),
            "gateway_payments": payments_made}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with throwaway_database() as url:
        print(json.dumps(asyncio.run(run(url, args.runs)), indent=2))


if __name__ == "__main__":
    main()
