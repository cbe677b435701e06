"""Collect a cash payment from the customer profile in real Chromium and open the printable receipt."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.billing_admin.test_reports import PNG
from tests.support.admin import PASSWORD
from tests.support.billing import issue_bills
from tests.support.db import connect

pytestmark = pytest.mark.slow


def login(page, base, username):
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_selector("h1:has-text('Dashboard')")


async def _prepare(url, tree):
    bills = await issue_bills(url)
    async with connect(url) as conn:
        await conn.execute("UPDATE operators SET business_name = 'A1 Net', address = '12 Lake Road, Dhaka',"
                           " phone = '+8801711000000', logo = $2, logo_content_type = 'image/png' WHERE id = $1",
                           tree.ops["sub_a1"]["id"], PNG)
    return bills


def test_collect_cash_and_print_the_receipt(admin_server, browser, artifacts, fresh_db_url):
    base, tree = admin_server
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API already runs an event loop in this thread
        bills = pool.submit(asyncio.run, _prepare(fresh_db_url, tree)).result()
    customer = tree.customers["a1"]
    page = browser.new_page()
    login(page, base, "suba1")

    page.goto(f"{base}/customers/{customer['id']}")
    card = page.locator("form.collect-cash")
    card.locator("select[name=bill_id]").select_option(str(bills["a1"]["id"]))
    assert card.locator("input[name=amount]").input_value() == "500.00"  # prefilled with what is owed
    card.locator("button:has-text('Record cash payment')").click()
    page.wait_for_selector("text=Payment recorded")
    assert page.locator("h1").inner_text().endswith("BDT 500.00")

    page.click("a:has-text('Print receipt')")
    page.wait_for_selector("h2:has-text('Payment receipt')")
    assert page.locator("header.isp h1").inner_text() == "A1 Net"
    # wait for the image to finish (loaded or broken), then check it loaded: the page's load can outrun it
    page.wait_for_function("() => document.querySelector('header.isp img')?.complete")
    assert page.locator("header.isp img").evaluate("img => img.naturalWidth") == 1  # the logo loaded
    assert page.locator("nav.toolbar").is_visible()
    page.emulate_media(media="print")
    assert not page.locator("nav.toolbar").is_visible()  # print CSS: only the receipt goes to paper
    page.screenshot(path=str(artifacts / "receipt.png"), full_page=True)
    page.emulate_media(media="screen")

    with page.expect_download() as download:  # the PDF link serves the same receipt
        page.evaluate("url => { const a = document.createElement('a'); a.href = url; a.download = 'r.pdf';"
                      " document.body.appendChild(a); a.click(); }", page.locator("a:has-text('Download PDF')")
                      .get_attribute("href"))
    assert download.value.path().read_bytes().startswith(b"%PDF")


def test_back_then_submit_again_asks_before_a_second_payment(admin_server, browser, fresh_db_url):
    base, tree = admin_server
    customer = tree.customers["a2"]
    page = browser.new_page()
    login(page, base, "suba2")
    page.goto(f"{base}/customers/{customer['id']}/collect?kind=advance")
    page.fill("input[name=amount]", "300")
    page.click("button:has-text('Add advance payment')")
    page.wait_for_selector("text=Advance payment recorded")

    page.go_back()  # the form again, as the browser shows it after Back
    page.fill("input[name=amount]", "300")
    page.click("button:has-text('Add advance payment')")
    page.wait_for_selector("h2:has-text('Already recorded a few minutes ago')")
    assert "BDT 300.00" in page.locator("section.confirm-repeat").inner_text()
    page.click("button:has-text('Yes, record a second payment')")
    page.wait_for_selector("text=Advance payment recorded")

    async def amounts():
        async with connect(fresh_db_url) as conn:
            return [r["amount_minor"] for r in await conn.fetch(
                "SELECT amount_minor FROM payments WHERE customer_id = $1 ORDER BY id", customer["id"])]
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, amounts()).result() == [30000, 30000]
