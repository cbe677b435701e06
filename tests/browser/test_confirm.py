"""Disable asks first on a page of its own (server-side), in real Chromium: nothing happens until the yes."""

import asyncio
import threading

import asyncpg

from tests.browser.test_admin import login
from tests.support.admin import PASSWORD


def _status(url, customer_id) -> str:
    async def read():
        conn = await asyncpg.connect(url)
        try:
            return await conn.fetchval("SELECT status FROM customers WHERE id = $1", customer_id)
        finally:
            await conn.close()
    box = []
    # Playwright's sync API runs an event loop in this thread: read from another one
    reader = threading.Thread(target=lambda: box.append(asyncio.run(read())))
    reader.start()
    reader.join()
    return box[0]


def test_disable_shows_the_consequences_and_acts_only_on_yes(admin_server, browser, artifacts, fresh_db_url):
    base, tree = admin_server
    customer = tree.customers["a1"]
    page = browser.new_page(viewport={"width": 390, "height": 844})
    login(page, base, "suba1", PASSWORD)
    page.wait_for_selector("h1:has-text('Dashboard')")
    page.goto(f"{base}/customers/{customer['id']}")
    page.fill("input[name=reason]", "moved to another city")
    page.click("button[name=action][value=disable]")
    page.wait_for_selector("h1:has-text('Disable cust-a1?')")
    assert "paying a bill does not undo a disable" in page.inner_text("main")
    assert "Reason kept on the timeline: moved to another city" in page.inner_text("main")
    page.screenshot(path=str(artifacts / "confirm-disable-390.png"))
    assert _status(fresh_db_url, customer["id"]) == "active"

    page.click("text=No, go back")
    page.wait_for_selector("button[name=action][value=disable]")
    assert _status(fresh_db_url, customer["id"]) == "active"

    page.fill("input[name=reason]", "moved to another city")
    page.click("button[name=action][value=disable]")
    page.click("button:has-text('Yes, disable')")
    page.wait_for_selector("text=Customer disabled")
    assert _status(fresh_db_url, customer["id"]) == "disabled"
    assert page.locator("button[name=action][value=activate]").count() == 1
    assert page.locator("button[name=action][value=disable]").count() == 0
