"""Switch the admin to Bangla in real Chromium: the pages read in Bangla, money shows ৳, and the receipt PDF
downloads with Bengali labels."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from radbill.services import payments
from radbill.tenancy import Scope
from tests.billing_admin.test_documents_bangla import letters, pdf_text
from tests.browser.test_billing import login
from tests.support.billing import issue_bills
from tests.support.db import connect

pytestmark = pytest.mark.slow


async def _pay(url, tree) -> int:
    await issue_bills(url)
    row = tree.customers["a1"]
    async with connect(url) as conn:
        await conn.execute("UPDATE customers SET name = 'রফিকুল ইসলাম' WHERE id = $1", row["id"])
        op = await conn.fetchrow("SELECT id, path::text AS path FROM operators WHERE id = $1", row["operator_id"])
        paid = await payments.record_cash_payment(conn, Scope(None, op["id"], op["path"], "operator"), row["id"],
                                                  50000)
    return paid.payment["id"]


def test_switch_to_bangla_pages_money_and_the_receipt_pdf(admin_server, browser, artifacts, fresh_db_url):
    base, tree = admin_server
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API already runs an event loop in this thread
        payment_id = pool.submit(asyncio.run, _pay(fresh_db_url, tree)).result()
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    login(page, base, "suba1")

    page.click("form.lang-switch button[value=bn]")  # the top bar's switch, back to the same page
    page.wait_for_selector("h1:has-text('ড্যাশবোর্ড')")
    assert page.locator("html").get_attribute("lang") == "bn"
    assert page.locator("nav.sidebar").inner_text().count("গ্রাহক") >= 2
    page.screenshot(path=str(artifacts / "bangla-dashboard.png"), full_page=True)

    assert "৳" in page.locator(".tile.money").first.inner_text()
    page.goto(f"{base}/customers")
    assert "রফিকুল ইসলাম" in page.locator("table").first.inner_text()  # a Bengali name, as typed
    page.screenshot(path=str(artifacts / "bangla-customers.png"), full_page=True)
    page.goto(f"{base}/bills")
    table = page.locator("table").first.inner_text()
    assert "৳500.00" in table and "BDT" not in table  # money in the customers' bills: the taka sign

    with page.expect_download() as download:
        page.evaluate("url => { const a = document.createElement('a'); a.href = url; a.download = 'r.pdf';"
                      " document.body.appendChild(a); a.click(); }", f"{base}/payments/{payment_id}/receipt.pdf")
    text = pdf_text(download.value.path().read_bytes())
    assert letters("পেমেন্টের রসিদ") in letters(text) and letters("মোট গ্রহণ") in letters(text)
    assert "Payment receipt" not in text and "৳500.00" in text

    page.click("form.lang-switch button[value=en]")  # and back
    page.wait_for_selector("html[lang=en]")
    assert "All customers" in page.locator("nav.sidebar").inner_text() and page.url.endswith("/bills")
