"""Expired is a state people see, in real Chromium on a phone-sized screen: the dashboard's tile leads to the
expired customers, whose badge says so on the list and the profile; "online now" lists the connected one."""

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import asyncpg

from tests import factories as f
from tests.browser.test_admin import login
from tests.support.admin import PASSWORD


async def _expire_one_and_connect_the_other(url):
    now = datetime.now(UTC)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("UPDATE customers SET expires_at = $1 WHERE username = 'cust-a1'", now - timedelta(hours=1))
        await conn.execute("UPDATE customers SET expires_at = $1 WHERE username = 'cust-a2'", now + timedelta(days=9))
        await f.insert(conn, "radacct", {"acctsessionid": "s2", "acctuniqueid": "u2", "username": "cust-a2",
                                         "nasipaddress": "10.0.2.1", "acctstarttime": now})
    finally:
        await conn.close()


def test_the_expired_tile_the_badges_and_the_online_filter(admin_server, browser, artifacts, fresh_db_url):
    base, _tree = admin_server
    # Playwright's sync API runs an event loop in this thread: seed from another one
    seeding = threading.Thread(target=asyncio.run, args=(_expire_one_and_connect_the_other(fresh_db_url),))
    seeding.start()
    seeding.join()
    page = browser.new_page(viewport={"width": 390, "height": 844})
    login(page, base, "opa", PASSWORD)
    page.wait_for_selector("h1:has-text('Dashboard')")
    assert page.inner_text("a.tile[href='/customers?status=expired'] b") == "1"
    page.screenshot(path=str(artifacts / "dashboard-expired-tile.png"), full_page=True)

    page.click("a.tile[href='/customers?status=expired']")
    page.wait_for_selector("h1:has-text('Customers')")
    rows = page.locator("table.customers tbody tr")
    assert rows.count() == 1 and "Customer A1" in rows.first.inner_text()
    assert rows.first.locator(".status").inner_text() == "expired"
    assert page.locator("select[name=status]").input_value() == "expired"
    page.screenshot(path=str(artifacts / "customers-expired.png"), full_page=True)

    page.click("text=Customer A1")
    assert page.locator("h1 .status").inner_text() == "expired"

    page.goto(f"{base}/customers")
    page.select_option("select[name=online]", "1")
    page.click("button:has-text('Search')")
    page.wait_for_url("**online=1**")
    rows = page.locator("table.customers tbody tr")
    assert rows.count() == 1 and "Customer A2" in rows.first.inner_text()
    assert rows.first.locator(".status").inner_text() == "active"
