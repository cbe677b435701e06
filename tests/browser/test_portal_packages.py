"""On a phone (390 px), in a real browser: the customer logs in with the form (its POST must keep its Origin
header: see portal/views.py's Referrer-Policy), the package list and a package's preview fit, in English and in
Bangla, and the preview shows what the change charges now."""

from __future__ import annotations

import os

import asyncpg
import pytest

from radbill import clock
from radbill.db.cluster import free_port
from radbill.services import billing, payments
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
        c = await f.customer(conn, isp.operator["id"], isp.package["id"], isp.profile["id"],
                             billing_anchor=clock.now().date().replace(day=1))
        system = Scope.system(isp.root["id"], str(isp.root["path"]))
        await billing.generate_bills(conn, clock.now(), system, [c["id"]])
        for bill in await conn.fetch("SELECT * FROM bills WHERE customer_id = $1", c["id"]):
            await payments.record_cash_payment(conn, system, c["id"], bill["total_minor"], bill["id"])
        fast = await f.package(conn, isp.operator["id"], name="Super fast fibre 100 Mbps with a long name",
                               price_minor=150000, download_kbps=102400, upload_kbps=51200)
        return c, fast
    finally:
        await conn.close()


def test_the_package_pages_fit_a_phone(fresh_db_url, browser, artifacts):
    customer, fast = run_async(seed(fresh_db_url))
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
        page.wait_for_selector("text=Packages", timeout=15000)
        page.click("text=Packages")
        assert "Super fast fibre" in page.content() and page.evaluate(FITS), "the package list is too wide"
        page.click("text=See what changes")
        assert "Charged now:" in page.inner_text("main") and page.evaluate(FITS), "the preview is too wide"
        page.screenshot(path=str(artifacts / "portal-package-preview.png"))
        page.click("footer button")  # বাংলা
        page.wait_for_selector("html[lang=bn]")
        assert page.evaluate(FITS), "the Bangla preview is too wide"
    finally:
        portal.terminate()
        portal.wait(10)
