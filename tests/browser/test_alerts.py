"""Alerts in real Chromium on a phone: three identical SMS failures show as one line with a count on the
dashboard, and Acknowledge takes it off the open list (it stays under Acknowledged)."""

import asyncio
import threading

import asyncpg

from radbill.services import alerts
from tests.browser.test_admin import login
from tests.support.admin import PASSWORD


async def _seed(url, tree):
    conn = await asyncpg.connect(url)
    try:
        for _ in range(3):
            await alerts.raise_alert(conn, tree.ops["sub_a1"]["id"], "sms_no_gateway", "",
                                     "Could not deliver sms for cust-a1 after 1 attempt(s): no SMS gateway.",
                                     {"customer_id": tree.customers["a1"]["id"]}, "customer",
                                     tree.customers["a1"]["id"])
    finally:
        await conn.close()


def test_collapsed_alert_shows_its_count_and_acknowledge_removes_it(admin_server, browser, artifacts, fresh_db_url):
    base, tree = admin_server
    # Playwright's sync API runs an event loop in this thread: seed from another one
    seeding = threading.Thread(target=asyncio.run, args=(_seed(fresh_db_url, tree),))
    seeding.start()
    seeding.join()
    page = browser.new_page(viewport={"width": 390, "height": 844})
    login(page, base, "opa", PASSWORD)
    page.wait_for_selector("h1:has-text('Dashboard')")
    groups = page.locator("section.alerts li.alert-group")
    assert groups.count() == 1
    line = groups.first.inner_text()
    assert "SMS not sent: no SMS gateway is set up" in line and "3 times" in line
    assert "Add an SMS gateway under SMS → Gateways" in line
    page.screenshot(path=str(artifacts / "alerts-dashboard-390.png"))

    groups.first.locator("button:has-text('Acknowledge')").click()
    page.wait_for_selector("text=Alert acknowledged")
    assert page.locator("section.alerts").count() == 0
    page.click("text=Alerts: none open")
    page.click("text=Acknowledged")
    page.wait_for_selector("text=Acknowledged by opa at")
    assert "3 times" in page.locator("li.alert-group").first.inner_text()
