"""The portal on a phone-sized Chromium (390x844): a customer opens a ticket with a photo, a staff member replies in
the admin, the customer sees the reply; and the walled-garden page found by address with no login (the browser
connects from 127.0.0.1, so the session opened through real accounting has Framed-IP-Address 127.0.0.1)."""

from __future__ import annotations

import os
import re

import asyncpg
import pytest

from radbill import clock, secretbox
from radbill.db.cluster import free_port
from radbill.passwords import generate_nas_secret
from tests import factories as f
from tests.browser.test_admin import login as staff_login
from tests.browser.test_pay_link import run_async, serve
from tests.payments.helpers import world
from tests.radius.test_accounting import acct, session_id
from tests.support.admin import PASSWORD
from tests.support.db import app_url
from tests.support.radius import running_radius, wait_folded

pytestmark = pytest.mark.slow
PHONE = {"width": 390, "height": 844}
FITS = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64


@pytest.fixture
def portal_process(fresh_db_url, tmp_path, monkeypatch):
    """`python -m portal` over the test database, photos under tmp_path."""
    monkeypatch.setenv(secretbox.ENV, secretbox.new_key_entry("t"))
    port = free_port()
    env = {**os.environ, "DATABASE_URL": app_url(fresh_db_url), "RADBILL_SECRET_KEY": "p" * 64,
           "RADBILL_PORTAL_PORT": str(port), "RADBILL_COOKIE_SECURE": "false", "RADBILL_VAR_DIR": str(tmp_path)}
    process = serve(["-m", "portal"], port, env)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


def test_a_customer_opens_a_ticket_and_sees_the_staff_reply(admin_server, portal_process, browser, artifacts):
    admin, tree = admin_server
    me = tree.customers["a1"]
    phone = browser.new_context(viewport=PHONE, is_mobile=True).new_page()
    phone.goto(f"{portal_process}/login")
    phone.fill("#password-login input[name=username]", me["username"])
    phone.fill("#password-login input[name=password]", me["radius_password"])
    phone.click("#password-login button")
    phone.click("nav >> text=Support")
    phone.click("#new-ticket")
    phone.wait_for_selector("#ticket-form")
    assert phone.evaluate(FITS), "the new-ticket form is wider than a phone"
    phone.select_option("select[name=category]", "slow")
    phone.fill("input[name=subject]", "Slow every evening")
    phone.fill("textarea[name=text]", "It drops to 1 Mbps after 8 pm.")
    phone.set_input_files("input[name=photo]", files=[{"name": "speedtest.png", "mimeType": "image/png",
                                                       "buffer": PNG}])
    phone.click("#ticket-form button")
    phone.wait_for_selector("#notice")
    ticket_id = int(re.search(r"/tickets/(\d+)", phone.url).group(1))
    assert phone.locator("img.photo").count() == 1
    assert phone.evaluate(FITS), "the ticket page is wider than a phone"

    desk = browser.new_context(viewport=PHONE).new_page()
    staff_login(desk, admin, "suba1", PASSWORD)
    desk.goto(f"{admin}/tickets/{ticket_id}")
    desk.fill("textarea[name=text]", "We moved you to a less busy port; please check tonight.")
    desk.click("button:has-text('Send reply')")
    desk.wait_for_selector("text=Reply sent")

    phone.goto(f"{portal_process}/tickets/{ticket_id}")
    thread = phone.locator("ol.thread > li")
    assert thread.count() == 2
    assert "We moved you to a less busy port" in thread.nth(1).inner_text()
    assert phone.inner_text("#ticket-status") == "Waiting for the customer"
    assert phone.evaluate(FITS)
    phone.screenshot(path=str(artifacts / "portal_ticket_reply_390.png"), full_page=True)
    phone.goto(f"{portal_process}/tickets")
    assert "Slow every evening" in phone.inner_text("ul.tickets") and phone.evaluate(FITS)


async def _walled_customer(url: str, secret: str):
    conn = await asyncpg.connect(url)
    try:
        w = await world(conn, now=clock.now())  # a suspended customer with an unpaid 500.00 bill
        await f.insert(conn, "nas", {"nasname": "127.0.0.1", "shortname": "wg-nas", "secret": secret,
                                     "operator_id": w.operator["id"]})
        return w.customer
    finally:
        await conn.close()


def test_the_walled_garden_page_finds_the_customer_by_address(fresh_db_url, portal_process, browser, artifacts,
                                                              tmp_path):
    secret = generate_nas_secret()
    walled = run_async(_walled_customer(fresh_db_url, secret))
    page = browser.new_context(viewport=PHONE, is_mobile=True).new_page()
    page.goto(f"{portal_process}/")
    assert page.url.endswith("/login")  # no open session at this address yet: the normal login
    with running_radius(fresh_db_url, tmp_path / "radius", secret) as server:
        acct(server, walled["username"], session_id(), "Start", Framed_IP_Address="127.0.0.1")
        wait_folded(fresh_db_url)
        page.goto(f"{portal_process}/")
        assert page.inner_text("#walled-state") == "Your account is suspended."
        assert page.inner_text("#walled-amount") == "BDT 500.00"
        assert page.locator("#walled-pay button").is_visible()
        assert page.evaluate(FITS), "the walled-garden page is wider than a phone"
        page.screenshot(path=str(artifacts / "portal_walled_garden_390.png"), full_page=True)
        page.click("#walled-pay button")
        page.wait_for_selector("#amount")  # the ordinary pay page, for the same amount
        assert page.inner_text("#amount") == "BDT 500.00" and "/pay/" in page.url
