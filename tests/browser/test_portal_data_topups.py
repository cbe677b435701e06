"""On a phone (390 px), in a real browser: a customer with a data-capped package follows "Buy more data" from the
home page, chooses a pack, reads the confirmation in English and Bangla (all fitting the screen) and buys it."""

from __future__ import annotations

import os

import asyncpg
import pytest

from radbill import clock
from radbill.db.cluster import free_port
from radbill.services import billing, fair_usage, payments
from radbill.tenancy import Scope
from tests import factories as f
from tests.browser.test_pay_link import run_async, serve
from tests.support.db import app_url

pytestmark = pytest.mark.slow
FITS = "document.documentElement.scrollWidth <= 390 && window.innerWidth == 390"


async def seed(url: str):
    conn = await asyncpg.connect(url)
    try:
        isp = await f.isp(conn)
        capped = await f.package(conn, isp.operator["id"], data_cap_bytes=100 * 10**9)
        c = await f.customer(conn, isp.operator["id"], capped["id"], isp.profile["id"],
                             billing_anchor=clock.now().date().replace(day=1))
        system = Scope.system(isp.root["id"], str(isp.root["path"]))
        await billing.generate_bills(conn, clock.now(), system, [c["id"]])
        for bill in await conn.fetch("SELECT * FROM bills WHERE customer_id = $1", c["id"]):
            await payments.record_cash_payment(conn, system, c["id"], bill["total_minor"], bill["id"])
        await payments.add_advance_payment(conn, system, c["id"], 100000)
        await fair_usage.create_pack(conn, Scope.system(isp.operator["id"], str(isp.operator["path"])),
                                     {"name": "Night owl 50 GB extra data for the month", "size_gb": "50",
                                      "price": "300"})
        return c
    finally:
        await conn.close()


def test_the_data_top_up_pages_fit_a_phone_and_buy(fresh_db_url, browser, artifacts):
    customer = run_async(seed(fresh_db_url))
    port = free_port()
    env = {**os.environ, "DATABASE_URL": app_url(fresh_db_url), "RADBILL_SECRET_KEY": "c" * 64,
           "RADBILL_PORTAL_PORT": str(port), "RADBILL_COOKIE_SECURE": "false"}
    portal = serve(["-m", "portal"], port, env)
    try:
        page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        page.goto(f"http://127.0.0.1:{port}/login")
        page.fill("input[name=username]", customer["username"])
        page.fill("input[name=password]", customer["radius_password"])
        page.click("#password-login button")
        page.wait_for_selector("#buy-data", timeout=15000)
        assert page.evaluate(FITS), "the home page with the Buy data link is too wide"
        page.click("#buy-data")
        assert "Night owl" in page.content() and page.evaluate(FITS), "the pack list is too wide"
        page.click("text=Choose")
        assert "Valid until the end of this data period" in page.inner_text("main")
        assert page.evaluate(FITS), "the confirmation is too wide"
        page.click("footer button")  # বাংলা
        page.wait_for_selector("html[lang=bn]")
        assert page.evaluate(FITS), "the Bangla confirmation is too wide"
        page.screenshot(path=str(artifacts / "portal-data-topup-confirm-bn.png"))
        page.click("#buy")
        page.wait_for_selector("#message")
        assert "50 GB" in page.inner_text("#message") and page.evaluate(FITS)
    finally:
        portal.terminate()
        portal.wait(10)
