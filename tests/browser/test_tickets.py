"""A reseller answers a customer's ticket on a phone-sized Chromium: dashboard tile → list → thread → reply."""

import asyncio
import threading

import asyncpg

from radbill.services import tickets
from radbill.tenancy import CustomerScope
from tests.browser.test_admin import login
from tests.support.admin import PASSWORD


async def _customer_opens_a_ticket(url, tree) -> int:
    conn = await asyncpg.connect(url)
    try:
        customer, operator = tree.customers["a1"], tree.ops["sub_a1"]
        me = CustomerScope(customer["id"], operator["id"], operator["path"])
        ticket = await tickets.open_ticket(conn, me, customer["id"], "slow", "Slow every evening",
                                           "It drops to 1 Mbps after 8 pm.")
        return ticket["id"]
    finally:
        await conn.close()


def test_staff_reply_shows_in_the_thread_on_a_phone(admin_server, browser, artifacts, fresh_db_url):
    base, tree = admin_server
    opened = {}
    # Playwright's sync API runs an event loop in this thread: seed from another one
    seeding = threading.Thread(target=lambda: opened.update(
        id=asyncio.run(_customer_opens_a_ticket(fresh_db_url, tree))))
    seeding.start()
    seeding.join()
    page = browser.new_page(viewport={"width": 390, "height": 844})
    login(page, base, "suba1", PASSWORD)
    page.wait_for_selector("h1:has-text('Dashboard')")

    page.click("a.tile[href='/tickets?status=open']")
    page.click(f"a[href='/tickets/{opened['id']}']")
    page.wait_for_selector("text=It drops to 1 Mbps after 8 pm.")
    page.fill("textarea[name=text]", "We moved you to a less busy port; please check tonight.")
    page.click("button:has-text('Send reply')")
    page.wait_for_selector("text=Reply sent")

    thread = page.locator("ol.thread > li")
    assert thread.count() == 2
    assert "We moved you to a less busy port" in thread.nth(1).inner_text()
    assert page.locator("h1 .status").inner_text() == "Waiting for the customer"
    # phone first: nothing scrolls sideways at 390 px
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    page.screenshot(path=str(artifacts / "ticket_reply_390.png"), full_page=True)
