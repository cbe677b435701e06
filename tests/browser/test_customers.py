"""A sub-operator's daily work in real Chromium: add a customer, find it by mobile, suspend it, change package."""

import asyncio
import threading

import asyncpg

from tests import factories as f
from tests.browser.test_admin import login
from tests.support.admin import PASSWORD


async def _catalog(url, tree):
    conn = await asyncpg.connect(url)
    try:
        home = await f.package(conn, tree.ops["op_a"]["id"], name="Home 10M", download_kbps=10000, upload_kbps=5000)
        fast = await f.package(conn, tree.ops["op_a"]["id"], name="Fast 50M", download_kbps=50000, upload_kbps=25000)
        for p in (home, fast):
            await f.insert(conn, "package_assignments", {"operator_id": tree.ops["sub_a1"]["id"],
                                                         "package_id": p["id"], "wholesale_price_minor": 30000})
        profile = await f.billing_profile(conn, tree.ops["op_a"]["id"], name="Monthly A", billing_type="free")
        await f.insert(conn, "billing_profile_assignments", {"operator_id": tree.ops["sub_a1"]["id"],
                                                             "billing_profile_id": profile["id"]})
        await f.insert(conn, "zones", {"operator_id": tree.ops["op_a"]["id"], "name": "Mirpur"})
    finally:
        await conn.close()


def test_sub_operator_adds_finds_suspends_and_changes_package(admin_server, browser, artifacts, fresh_db_url):
    base, tree = admin_server
    # Playwright's sync API runs an event loop in this thread: seed from another one
    seeding = threading.Thread(target=asyncio.run, args=(_catalog(fresh_db_url, tree),))
    seeding.start()
    seeding.join()
    page = browser.new_page()
    login(page, base, "suba1", PASSWORD)
    page.wait_for_selector("h1:has-text('Dashboard')")

    page.click("text=Add customer")
    page.fill("input[name=name]", "Karim Hossain")
    page.fill("input[name=mobile]", "01911-223344")
    page.fill("input[name=username]", "karim.h")
    page.select_option("select[name=package_id]", label="Home 10M — BDT 500.00")
    page.select_option("select[name=billing_profile_id]", label="Monthly A")
    page.select_option("select[name=zone_id]", label="Mirpur")
    page.click("button:has-text('Add customer')")
    page.wait_for_selector("text=Customer karim.h added")

    page.goto(f"{base}/customers")
    page.fill("input[name=q]", "+880 1911 223344")
    page.click("button:has-text('Search')")
    page.wait_for_selector("a:has-text('Karim Hossain')")
    assert page.locator("table.customers tbody tr").count() == 1
    page.click("a:has-text('Karim Hossain')")

    page.fill("input[name=reason]", "asked to pause")
    page.click("button:has-text('Suspend')")
    page.wait_for_selector("text=Customer suspended")
    assert page.locator("h1 .status").inner_text() == "suspended"

    page.click("text=Change package")
    page.select_option("select[name=package_id]", label="Fast 50M")
    page.click("button:has-text('Preview')")
    page.wait_for_selector("code:has-text('25M/50M')")
    page.click("button:has-text('Change to Fast 50M')")
    page.click("button:has-text('Yes, change the package')")  # money may move: asked first
    page.wait_for_selector("text=Package changed")
    assert "Fast 50M" in page.inner_text("table.kv")
    page.screenshot(path=str(artifacts / "customer-profile.png"), full_page=True)
