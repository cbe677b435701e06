"""Import in real Chromium: upload a CSV, map, review, import, see the customers."""

import threading

from tests.browser.test_admin import login
from tests.browser.test_customers import _catalog
from tests.support.admin import PASSWORD

CSV = """Customer Name,Phone,PPPoE Username,Password,Speed,Billing Profile,Area
Ayesha Akter,01711-000001,ayesha01,pw-ayesha-1,Home 10M,Monthly A,Mirpur
Babul Mia,+880 1811 000002,babul02,pw-babul-22,Fast 50M,Monthly A,Mirpur
Bad Row,12345,bad row,,Home 10M,Monthly A,Mirpur
"""


def test_upload_map_review_import_and_see_the_customers(admin_server, browser, artifacts, fresh_db_url, tmp_path):
    base, tree = admin_server
    import asyncio

    seeding = threading.Thread(target=asyncio.run, args=(_catalog(fresh_db_url, tree),))
    seeding.start()
    seeding.join()
    upload = tmp_path / "customers.csv"
    upload.write_text(CSV, encoding="utf-8-sig")  # with Excel's BOM

    page = browser.new_page()
    login(page, base, "suba1", PASSWORD)
    page.wait_for_selector("h1:has-text('Dashboard')")
    page.click("text=Import customers")
    page.set_input_files("input[type=file][name=file]", str(upload))
    page.click("button:has-text('Upload and map columns')")
    page.wait_for_selector("h1:has-text('which column holds what')")
    page.click("button:has-text('Review (dry run)')")
    page.wait_for_selector("h1:has-text('review (dry run)')")
    assert page.locator("text=bad row").count() >= 1  # the bad row is shown with its reasons
    page.click("button:has-text('Import 2 customers')")
    page.wait_for_selector("text=customers created", timeout=30000)
    assert page.locator(".tile.ok b").inner_text() == "2"
    page.screenshot(path=str(artifacts / "import-done.png"), full_page=True)
    page.click("text=See the customers")
    page.wait_for_selector("a:has-text('Ayesha Akter')")
    assert page.locator("a:has-text('Babul Mia')").count() == 1
    assert page.locator("text=bad row").count() == 0
