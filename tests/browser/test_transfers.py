"""A mobile-wallet transfer in real Chromium: the operator lists its bKash number, the sub-operator reports a
customer's transfer on the customer page, the operator checks and confirms it on the second page."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.browser.test_billing import login
from tests.support.billing import issue_bills
from tests.support.db import connect

pytestmark = pytest.mark.slow


async def _payments(url):
    async with connect(url) as conn:
        return [tuple(r) for r in await conn.fetch("SELECT method, txn_id, amount_minor FROM payments")]


def test_report_and_confirm_a_bkash_transfer(admin_server, browser, artifacts, fresh_db_url):
    base, tree = admin_server
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API already runs an event loop in this thread
        pool.submit(asyncio.run, issue_bills(fresh_db_url)).result()
    operator = browser.new_context().new_page()
    login(operator, base, "opa")
    operator.goto(f"{base}/wallets")
    operator.fill("input[name=number]", "01811-000000")
    operator.fill("input[name=label]", "Office bKash")
    operator.click("button:has-text('Add wallet number')")
    operator.wait_for_selector("text=Wallet number added")

    sub = browser.new_context().new_page()
    login(sub, base, "suba1")
    sub.goto(f"{base}/customers/{tree.customers['a1']['id']}")
    form = sub.locator("form.report-transfer")
    assert "bKash +8801811000000 · Office bKash" in form.locator("select[name=wallet_id]").inner_text()
    form.locator("input[name=sender_number]").fill("01711111111")
    form.locator("input[name=amount]").fill("500")
    form.locator("input[name=trxid]").fill("8n7a6d5ee7")
    form.locator("button:has-text('Report transfer')").click()
    sub.wait_for_selector("text=Transfer reported")
    assert "Waiting for Operator A" in sub.locator("tr.transfer-unverified").inner_text()

    operator.goto(f"{base}/transfers")
    operator.locator("tr.transfer-unverified a:has-text('Check')").click()
    assert operator.locator("dd.trxid").inner_text() == "8N7A6D5EE7"
    operator.screenshot(path=str(artifacts / "transfer-check.png"), full_page=True)
    operator.click("button:has-text('Yes, the money arrived')")
    operator.wait_for_selector("text=Transfer confirmed and payment recorded")
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, _payments(fresh_db_url)).result() == [("mobile_wallet", "8N7A6D5EE7", 50000)]
