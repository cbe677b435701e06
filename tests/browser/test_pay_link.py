"""End to end: a suspended customer opens the pay link in a browser, pays on the (local fake) bKash page, sees the
receipt; the bill is paid, the customer active, and a real FreeRADIUS Access-Request is accepted."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import pytest

from radbill import clock, secretbox
from radbill.db.cluster import free_port
from radbill.passwords import generate_nas_secret
from radbill.payments.links import create_pay_link, pay_url
from radbill.services import billing
from radbill.tenancy import Scope
from tests import factories as f
from tests.payments.helpers import add_gateway
from tests.support.browser import ROOT
from tests.support.db import app_url
from tests.support.radius import running_radius
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


def run_async(coro):
    """Playwright's sync API owns this thread's event loop: database steps run on a thread of their own."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def serve(args: list[str], port: int, env: dict) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            if process.poll() is not None:
                pytest.fail(process.stdout.read().decode())
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"nothing listens on {port}")


async def seed(url: str, secret: str, bkash_url: str, credentials: dict, portal_url: str):
    conn = await asyncpg.connect(url)
    try:
        isp = await f.isp(conn)
        await f.insert(conn, "nas", {"nasname": "127.0.0.1", "shortname": "test-nas", "secret": secret,
                                     "operator_id": isp.operator["id"]})
        gateway = await add_gateway(conn, isp.operator["id"], bkash_url, credentials, label=f"bKash e2e {free_port()}")
        c = await f.customer(conn, isp.operator["id"], isp.package["id"], isp.profile["id"],
                             billing_anchor=clock.now().date().replace(day=1))
        await billing.generate_bills(conn, clock.now(), Scope.system(isp.root["id"], str(isp.root["path"])),
                                     [c["id"]])
        bill = await conn.fetchrow("SELECT * FROM bills WHERE customer_id = $1 ORDER BY period_start LIMIT 1", c["id"])
        await conn.execute("UPDATE customers SET status = 'suspended', status_reason = 'unpaid' WHERE id = $1",
                           c["id"])
        token = await create_pay_link(conn, c["id"], bill["id"])
        return c, bill, gateway, pay_url(portal_url, token)
    finally:
        await conn.close()


def test_a_suspended_customer_pays_by_link_and_is_accepted_again(fresh_db_url, browser, artifacts, tmp_path,
                                                                 monkeypatch):
    keys = secretbox.new_key_entry("e2e")
    monkeypatch.setenv(secretbox.ENV, keys)
    credentials = {"username": "e2e", "password": "p" * 12, "app_key": "k" * 16, "app_secret": "s" * 32}
    creds_file = tmp_path / "bkash.json"
    creds_file.write_text(json.dumps(credentials))
    bkash_port, portal_port = free_port(), free_port()
    secret = generate_nas_secret()
    bkash_port, portal_port = free_port(), free_port()
    customer, bill, gateway, link = run_async(seed(
        fresh_db_url, secret, f"http://127.0.0.1:{bkash_port}", credentials, f"http://127.0.0.1:{portal_port}"))
    env = {**os.environ, "DATABASE_URL": app_url(fresh_db_url), "RADBILL_SECRET_KEY": "c" * 64,
           "RADBILL_PORTAL_PORT": str(portal_port), "RADBILL_COOKIE_SECURE": "false", secretbox.ENV: keys}
    fake = serve(["-m", "radbill.payments.fakes.bkash", "--port", str(bkash_port), "--credentials-file",
                  str(creds_file)], bkash_port, env)
    portal = serve(["-m", "portal"], portal_port, env)
    try:
        with running_radius(fresh_db_url, tmp_path / "radius", secret) as radius:
            pay_and_check(radius, browser, artifacts, customer, bill, link)
    finally:
        for process in (portal, fake):
            process.terminate()
            process.wait(10)


def pay_and_check(radius, browser, artifacts, customer, bill, link):
    client = radius.client()
    refused = wait_until(lambda: client.send(client.access_request(customer["username"],
                                                                    customer["radius_password"])))
    assert refused is not None and not refused.accepted

    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)  # customers pay on phones
    fits = "document.documentElement.scrollWidth <= 390 && window.innerWidth == 390"
    page.goto(link)
    assert page.evaluate(fits), "the pay page is wider than a phone"
    assert page.inner_text("#amount") == "BDT 500.00"
    assert customer["username"] not in page.content()
    page.click("text=Pay with bKash")
    page.wait_for_selector("#pay")  # the bKash page
    assert "500.00" in page.inner_text("#amount")
    page.click("#pay")
    page.wait_for_selector("#status")
    page.screenshot(path=str(artifacts / "pay-link-receipt.png"))
    assert "Paid. Thank you" in page.inner_text("#status")
    assert page.evaluate(fits), "the receipt page is wider than a phone"

    async def state():
        conn = await asyncpg.connect(radius.db_url)
        try:
            return (await conn.fetchval("SELECT status FROM bills WHERE id = $1", bill["id"]),
                    await conn.fetchval("SELECT status FROM customers WHERE id = $1", customer["id"]))
        finally:
            await conn.close()

    assert run_async(state()) == ("paid", "active")
    accepted = wait_until(lambda: (r := client.send(client.access_request(
        customer["username"], customer["radius_password"]))) is not None and r.accepted and r)
    assert accepted, "FreeRADIUS still refuses the customer after the payment"
