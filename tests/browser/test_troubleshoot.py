"""'Why can't this customer connect?' on a phone (390×844) in real Chromium: a suspended customer's panel says
why and what to do, fits the screen, and Disconnect now (confirmed) lands on the timeline."""

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import asyncpg

from tests import factories as f
from tests.browser.test_admin import login
from tests.support.admin import PASSWORD

FITS = """(el) => ({right: el.getBoundingClientRect().right, inner: window.innerWidth,
                    scroll: el.scrollWidth, client: el.clientWidth})"""


async def _seed(url, customer):
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("UPDATE customers SET status = 'suspended', status_reason = 'unpaid' WHERE id = $1",
                           customer["id"])
        await f.insert(conn, "radacct", {
            "acctsessionid": "s1", "acctuniqueid": "u1-phone", "username": customer["username"],
            "nasipaddress": "10.0.1.1", "framedipaddress": "100.64.0.9",
            "callingstationid": "AA-BB-CC-DD-EE-FF-with-a-long-circuit-id-from-the-olt-port-0/1/2:3",
            "acctinputoctets": 1048576, "acctoutputoctets": 9 * 1048576,
            "acctstarttime": datetime.now(UTC) - timedelta(hours=2)})
        await f.insert(conn, "radpostauth", {"username": customer["username"], "reply": "Access-Reject",
                                             "reason": "suspended", "nasipaddress": "10.0.1.1",
                                             "authdate": datetime.now(UTC) - timedelta(minutes=1)})
    finally:
        await conn.close()


def test_the_panel_answers_on_a_phone_and_disconnects(admin_server, browser, artifacts, fresh_db_url):
    base, tree = admin_server
    customer = tree.customers["a1"]
    # Playwright's sync API runs an event loop in this thread: seed from another one
    seeding = threading.Thread(target=asyncio.run, args=(_seed(fresh_db_url, customer),))
    seeding.start()
    seeding.join()
    page = browser.new_page(viewport={"width": 390, "height": 844})
    login(page, base, "suba1", PASSWORD)
    page.wait_for_selector("h1:has-text('Dashboard')")
    page.goto(f"{base}/customers/{customer['id']}#troubleshoot")
    panel = page.locator("#troubleshoot")
    assert "A login now would be refused" in panel.inner_text()
    assert "Collect the payment or activate the customer" in panel.inner_text()
    assert "Refused: customer suspended" in panel.inner_text()
    size = panel.evaluate(FITS)
    assert size["right"] <= size["inner"] and size["scroll"] <= size["client"], size  # no sideways scroll
    button = panel.locator("button:has-text('Disconnect now')")
    assert button.bounding_box()["height"] >= 44  # a tap target
    panel.screenshot(path=str(artifacts / "troubleshoot-390.png"))

    button.click()
    page.wait_for_selector("h1:has-text('Disconnect')")
    page.click("button:has-text('Yes, disconnect now')")
    page.wait_for_selector("text=the result appears on the timeline")
    assert "requested by suba1." in page.locator("section:has(h2:has-text('Timeline'))").inner_text()
