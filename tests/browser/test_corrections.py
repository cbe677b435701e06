"""Reverse a payment in real Chromium: the preview says what will happen, nothing happens until "Yes", then the
payment page and the receipt say reversed; the day's cash close shows it."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.browser.test_billing import login
from tests.support.billing import issue_bills
from tests.support.db import connect

pytestmark = pytest.mark.slow


async def _reversed(url, payment_id):
    async with connect(url) as conn:
        return await conn.fetchval("SELECT reversed_minor FROM payments WHERE id = $1", payment_id)


def test_reverse_a_payment_with_its_preview(admin_server, browser, artifacts, fresh_db_url):
    base, tree = admin_server
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API already runs an event loop in this thread
        pool.submit(asyncio.run, issue_bills(fresh_db_url)).result()
    customer = tree.customers["a1"]
    page = browser.new_page()
    login(page, base, "opa")
    page.goto(f"{base}/customers/{customer['id']}/collect")
    page.fill("input[name=amount]", "500")
    page.click("button:has-text('Record cash payment')")
    page.wait_for_selector("text=Payment recorded")
    payment_id = int(page.url.rsplit("/", 1)[1])

    page.click("a:has-text('Reverse payment')")
    assert page.locator("input[name=amount]").input_value() == "500.00"  # what is left of the payment
    page.fill("input[name=reason]", "cheque bounced")
    page.click("button:has-text('Show what this will do')")
    page.wait_for_selector("h2:has-text('What reversing BDT 500.00 will do')")
    assert page.locator("text=It is no longer paid").count() == 1
    page.screenshot(path=str(artifacts / "reverse-preview.png"), full_page=True)
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, _reversed(fresh_db_url, payment_id)).result() == 0  # only a preview
    page.click("button:has-text('Yes, reverse BDT 500.00')")
    page.wait_for_selector("text=Payment reversed.")
    assert "cheque bounced" in page.locator("table.kv").inner_text()
    assert page.locator("a:has-text('Reverse payment')").count() == 0  # nothing left to reverse
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, _reversed(fresh_db_url, payment_id)).result() == 50000

    page.goto(f"{base}/cash-close")
    row = page.locator("table.cash-close tbody tr", has_text="opa")
    assert "BDT 0.00" in row.inner_text()  # collected 500.00, all of it reversed
