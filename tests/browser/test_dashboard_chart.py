"""The collections chart on a phone (390×844, real Chromium): every day's amount and its date are text on the
page, readable without hovering (a phone cannot hover), and the chart fits the screen."""

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from tests import factories as f
from tests.browser.test_admin import login
from tests.support.admin import PASSWORD


async def _two_days_of_payments(url, tree):
    now = datetime.now(UTC)
    conn = await asyncpg.connect(url)
    try:
        for amount, at in ((123456, now), (50000, now - timedelta(days=3))):
            await f.insert(conn, "payments", {"customer_id": tree.customers["a1"]["id"],
                                              "operator_id": tree.ops["sub_a1"]["id"], "amount_minor": amount,
                                              "currency": "BDT", "method": "cash", "received_at": at})
    finally:
        await conn.close()


def test_the_chart_shows_dates_and_amounts_as_text_on_a_phone(admin_server, browser, artifacts, fresh_db_url):
    base, tree = admin_server
    # Playwright's sync API runs an event loop in this thread: seed from another one
    seeding = threading.Thread(target=asyncio.run, args=(_two_days_of_payments(fresh_db_url, tree),))
    seeding.start()
    seeding.join()
    page = browser.new_page(viewport={"width": 390, "height": 844})
    login(page, base, "opa", PASSWORD)
    page.wait_for_selector("h1:has-text('Dashboard')")
    chart = page.locator("svg.chart")
    chart.scroll_into_view_if_needed()
    chart.screenshot(path=str(artifacts / "dashboard-chart-390.png"))

    values = chart.locator("text.value")
    assert values.count() == 30
    today = datetime.now(ZoneInfo("Asia/Dhaka"))
    for amount, day in (("BDT 1,234.56", today), ("BDT 500.00", today - timedelta(days=3))):
        value = values.filter(has_text=amount)
        assert value.count() == 1 and value.is_visible(), amount
        box = value.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (amount, box)  # on screen, not cut off
        assert box["height"] >= 10, (amount, box)  # readable size, not a hairline
        label = chart.locator("text.day", has_text=day.strftime("%d %b"))
        assert label.count() == 1 and label.is_visible(), day
        assert abs(label.bounding_box()["y"] - box["y"]) < 4  # the date sits on the amount's row
    chart_box = chart.bounding_box()
    assert chart_box["x"] >= 0 and chart_box["x"] + chart_box["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
