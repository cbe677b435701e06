"""End to end on a phone (390×844): a customer logs in to the portal with username + password, sees the home page,
pays the open bill through the (local fake) bKash, sees the receipt and the invoice; then logs in again by SMS
code. No portal page may scroll sideways, in English or Bangla."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta

import asyncpg
import pytest

from radbill import clock, secretbox
from radbill.db.cluster import free_port
from radbill.services import billing, otp_sms
from radbill.tenancy import Scope
from tests import factories as f
from tests.browser.test_pay_link import run_async
from tests.payments.helpers import add_gateway
from tests.support.browser import ROOT
from tests.support.db import app_url

pytestmark = pytest.mark.slow
FITS = "document.documentElement.scrollWidth <= window.innerWidth && window.innerWidth == 390"


def serve(args: list[str], port: int, env: dict, log) -> subprocess.Popen:
    # the log goes to a file: a pipe nobody reads blocks the server once full
    process = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(log.read().decode())
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"nothing listens on {port}")


async def seed(url: str, bkash_url: str, credentials: dict):
    conn = await asyncpg.connect(url)
    try:
        isp = await f.isp(conn)
        await conn.execute("UPDATE operators SET business_name = 'Padma Broadband Limited', phone = '01811000000',"
                           " email = 'support@padma-broadband.example' WHERE id = $1", isp.operator["id"])
        gateway = await add_gateway(conn, isp.operator["id"], bkash_url, credentials, label="bKash portal e2e")
        c = await f.customer(conn, isp.operator["id"], isp.package["id"], isp.profile["id"],
                             mobile="+8801712345678", name="Rahima Khatun",
                             billing_anchor=clock.now().date().replace(day=1))
        await billing.generate_bills(conn, clock.now(), Scope.system(isp.root["id"], str(isp.root["path"])),
                                     [c["id"]])
        bill = await conn.fetchrow("SELECT * FROM bills WHERE customer_id = $1 ORDER BY period_start LIMIT 1", c["id"])
        await conn.execute("UPDATE customers SET status = 'suspended', status_reason = 'unpaid' WHERE id = $1",
                           c["id"])
        start = clock.now() - timedelta(hours=2)
        await conn.execute(
            "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime,"
            " acctinputoctets, acctoutputoctets, framedipaddress, callingstationid)"
            " VALUES ('e2e-1', 'e2e-1', $1, '10.0.0.1', $2, $3, 300000000, 900000000, '100.64.9.9',"
            " 'DE:AD:BE:EF:00:01')", c["username"], start, clock.now())
        return c, bill, gateway
    finally:
        await conn.close()


async def sms_code(url: str, customer_id: int) -> str:
    """The code the outbox would send by SMS (the dispatcher is not running here)."""
    conn = await asyncpg.connect(url)
    try:
        payload = await conn.fetchval("SELECT payload FROM outbox WHERE kind = 'sms'"
                                      " AND payload->>'event' = 'portal_otp' AND (payload->>'customer_id')::bigint = $1"
                                      " ORDER BY id DESC LIMIT 1", customer_id)
        return otp_sms.code_in(json.loads(payload))  # sealed in the row: opened with the test's key
    finally:
        await conn.close()


def test_a_customer_logs_in_pays_and_logs_in_by_sms_code_on_a_phone(fresh_db_url, browser, artifacts, tmp_path,
                                                                    monkeypatch):
    keys = secretbox.new_key_entry("e2e")
    monkeypatch.setenv(secretbox.ENV, keys)
    credentials = {"username": "e2e", "password": "p" * 12, "app_key": "k" * 16, "app_secret": "s" * 32}
    creds_file = tmp_path / "bkash.json"
    creds_file.write_text(json.dumps(credentials))
    bkash_port, portal_port = free_port(), free_port()
    customer, bill, gateway = run_async(seed(fresh_db_url, f"http://127.0.0.1:{bkash_port}", credentials))
    env = {**os.environ, "DATABASE_URL": app_url(fresh_db_url), "RADBILL_SECRET_KEY": "c" * 64,
           "RADBILL_PORTAL_PORT": str(portal_port), "RADBILL_COOKIE_SECURE": "false", secretbox.ENV: keys}
    with tempfile.TemporaryFile() as fake_log, tempfile.TemporaryFile() as portal_log:
        fake = serve(["-m", "radbill.payments.fakes.bkash", "--port", str(bkash_port), "--credentials-file",
                      str(creds_file)], bkash_port, env, fake_log)
        portal = serve(["-m", "portal"], portal_port, env, portal_log)
        try:
            url = f"http://127.0.0.1:{portal_port}"
            page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
            log_in_and_pay(page, url, artifacts, customer, bill, gateway)
            run_async(add_older_sibling(fresh_db_url, customer["id"]))
            log_in_by_code(page, url, fresh_db_url, customer)
            switch_connection(page, customer)
        finally:
            for process in (portal, fake):
                process.terminate()
                process.wait(10)


def fits(page, name: str) -> None:
    assert page.evaluate(FITS), f"the {name} page is wider than a phone"


def log_in_and_pay(page, url, artifacts, customer, bill, gateway):
    page.goto(f"{url}/")
    page.wait_for_selector("#password-login")
    fits(page, "login")
    page.fill("#password-login input[name=username]", customer["username"])
    page.fill("#password-login input[name=password]", customer["radius_password"])
    page.click("#password-login button[type=submit]")
    page.wait_for_selector("#status-card")
    fits(page, "home")
    assert page.inner_text("#status") == "Suspended"
    assert "bill is unpaid" in page.inner_text("#reason")
    assert page.inner_text("#address") == "100.64.9.9" and page.inner_text("#mac") == "DE:AD:BE:EF:00:01"
    assert "Padma Broadband Limited" in page.inner_text("#isp")
    page.screenshot(path=str(artifacts / "portal-home.png"), full_page=True)
    page.click("#pay-now")
    page.wait_for_selector("#bills")
    fits(page, "bills")
    page.click(f"#pay-{bill['id']}-{gateway['id']}")
    page.wait_for_selector("#pay")  # the bKash page
    page.click("#pay")
    page.wait_for_selector("#status")
    assert "Paid. Thank you" in page.inner_text("#status")
    fits(page, "payment result")
    page.click("#full-receipt")
    page.wait_for_selector("#receipt-status")
    fits(page, "receipt")
    assert "Paid. Thank you" in page.inner_text("#receipt-status")
    page.screenshot(path=str(artifacts / "portal-receipt.png"), full_page=True)
    page.goto(f"{url}/bills/{bill['id']}/invoice")
    fits(page, "invoice")
    assert page.inner_text("#bill-status") == "Paid. Thank you!"
    page.goto(f"{url}/")
    assert page.inner_text("#status") == "Active"
    page.click("footer button[name=locale]")  # Bangla: longer words, the same phone
    page.wait_for_selector("#status-card")
    assert page.inner_text("#status") == "সক্রিয়"
    fits(page, "Bangla home")
    page.goto(f"{url}/bills")
    fits(page, "Bangla bills")
    page.click("footer button[name=locale]")  # back to English
    page.click("header form[action='/logout'] button")
    page.wait_for_selector("#password-login")


def log_in_by_code(page, url, db_url, customer):
    page.fill("#code-send input[name=mobile]", "01712345678")
    page.click("#code-send button[type=submit]")
    page.wait_for_selector("#code-login")
    fits(page, "code login")
    code = run_async(sms_code(db_url, customer["id"]))
    assert code and len(code) == 6
    page.fill("#code-login input[name=code]", code)
    page.click("#code-login button[type=submit]")
    page.wait_for_selector("#status-card")
    assert page.inner_text("#username") == customer["username"]
    fits(page, "home after code login")


async def add_older_sibling(db_url, customer_id: int) -> tuple[int, str]:
    """A second connection on the customer's mobile, older than it (the code logs in the newest)."""
    conn = await asyncpg.connect(db_url)
    try:
        row = await conn.fetchrow(
            "INSERT INTO customers (operator_id, username, radius_password, name, mobile, connection_type, package_id,"
            " billing_profile_id, created_at) SELECT operator_id, 'e2e-second-line', 'pw-second', 'Second Line Name',"
            " mobile, connection_type, package_id, billing_profile_id, created_at - interval '1 year'"
            " FROM customers WHERE id = $1 RETURNING id, username", customer_id)
        return row["id"], row["username"]
    finally:
        await conn.close()


def switch_connection(page, customer):
    """The home page offers the other connection on the number, on a phone, and switching opens it."""
    page.wait_for_selector("#other-connections")
    fits(page, "home with another connection")
    sibling_id = page.get_attribute("#other-connections input[name=customer_id]", "value")
    page.click(f"#switch-{sibling_id}")
    page.wait_for_selector("#status-card")
    assert page.inner_text("#username") == "e2e-second-line"
    assert customer["username"] in page.inner_text("#other-connections")  # and back again from here
    fits(page, "home after switching")
