"""The walled-garden page over real HTTP: sessions opened through REAL accounting (pyrad Accounting-Request to
radbill's FreeRADIUS, folded into radacct), then GET / from that source address. The HTTP client binds other
loopback addresses (127.0.0.2 ...) so the portal sees a genuine peer address, as behind a router."""

import asyncio
import re
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web

from portal.app import create_app
from radbill.config import Config, DatabaseUrl, Secret
from radbill.db.cluster import free_port
from radbill.passwords import generate_nas_secret
from radbill.payments import links
from radbill.services import walled_garden
from tests import factories as f
from tests.billing.helpers import customer
from tests.payments.bkash_steps import press
from tests.radius.test_accounting import acct, session_id
from tests.support.db import app_url
from tests.support.portal import Portal
from tests.support.radius import running_radius, wait_folded

WALLED, ACTIVE, CLOSED, NOBODY = "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"


@asynccontextmanager
async def client_from(address: str):
    """An HTTP client whose connections leave from `address` (any 127/8 address is this machine)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield http


async def front(url: str, address: str, **headers) -> tuple[int, str, str]:
    async with client_from(address) as http, http.get(f"{url}/", headers=headers, allow_redirects=False) as r:
        return r.status, await r.text(), r.headers.get("Location", "")


async def pay_from(p: Portal, address: str) -> tuple[str, str]:
    """From `address`: the walled page's Pay button, the pay page, the fake bKash; the receipt's path and page."""
    async with client_from(address) as http:
        async with http.get(f"{p.url}/") as r:
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', await r.text()).group(1)
        async with http.post(f"{p.url}/walled-garden/pay", data={"csrf_token": csrf},
                             headers={"Origin": p.url}, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"].startswith("/pay/")
            pay_path = r.headers["Location"]
        async with http.get(f"{p.url}{pay_path}") as r:
            page = await r.text()
            assert "500.00" in page
            pay_csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        async with http.post(f"{p.url}{pay_path}", data={"csrf": pay_csrf, "gateway": str(p.w.gateway["id"])},
                             allow_redirects=False) as r:
            assert r.status == 303, await r.text()
            checkout = r.headers["Location"]
        params = await press(http, checkout)
        async with http.get(f"{p.url}/pay/return/{p.w.gateway['id']}", params=params, allow_redirects=False) as r:
            receipt_path = r.headers["Location"]
        # under load the gateway's answer can outlast the client's wait: the receipt re-asks on each visit, as a
        # customer reloading it would (tests/portal/test_pay.py checks that path on its own)
        for _ in range(20):
            async with http.get(f"{p.url}{receipt_path}") as r:
                page = await r.text()
            if "Paid. Thank you" in page:
                break
            await asyncio.sleep(0.5)
        return receipt_path, page


@pytest.fixture
def radius_setup(portal: Portal, tmp_path):
    """radbill's FreeRADIUS over the portal's database, the world's operator owning the NAS 127.0.0.1."""
    secret = generate_nas_secret()

    async def nas():
        await f.insert(portal.owner, "nas", {"nasname": "127.0.0.1", "shortname": "wg-nas", "secret": secret,
                                             "operator_id": portal.w.operator["id"]})
    return nas, secret, tmp_path / "radius"


async def test_the_walled_garden_page_by_source_address_then_paying_reconnects(portal: Portal, radius_setup,
                                                                                fresh_db_url):
    p, (add_nas, secret, state_dir) = portal, radius_setup
    await add_nas()
    with running_radius(fresh_db_url, state_dir, secret) as server:
        walled = p.w.customer
        active = await customer(p.owner, p.w, username="paying-neighbour")
        # a session that has ended does not count, even for a suspended customer
        ended = session_id()
        acct(server, walled["username"], ended, "Start", Framed_IP_Address=CLOSED)
        acct(server, walled["username"], ended, "Stop", Framed_IP_Address=CLOSED, Acct_Session_Time=20)
        acct(server, walled["username"], session_id(), "Start", Framed_IP_Address=WALLED)
        acct(server, active["username"], session_id(), "Start", Framed_IP_Address=ACTIVE)
        wait_folded(fresh_db_url)

        # where the router's proxy sends a walled customer (the snippet on the admin's /walled-garden page)
        snippet = walled_garden.mikrotik_snippet(walled_garden.Settings("wg", "256k/256k", 300), p.url, [])
        target = re.search(r"action-data=(\S+)", snippet).group(1)
        assert target == f"{p.url}/"
        async with client_from(WALLED) as http, http.get(target, allow_redirects=False) as r:
            status, page = r.status, await r.text()
        assert status == 200 and "Your account is suspended." in page
        assert re.search(r'id="walled-amount">BDT 500\.00<', page)
        assert walled["username"] not in page and walled["name"] not in page  # only what paying needs
        for someone_else in (ACTIVE, CLOSED, NOBODY):
            status, _, location = await front(p.url, someone_else)
            assert (status, location) == (303, "/login"), someone_else
        # the header is nobody's word unless a trusted proxy sent it
        status, _, location = await front(p.url, NOBODY, **{"X-Forwarded-For": WALLED})
        assert (status, location) == (303, "/login")

        receipt_path, receipt = await pay_from(p, WALLED)
        assert "Paid. Thank you" in receipt
        assert 'id="reconnecting"' in receipt
        assert await p.owner.fetchval("SELECT status FROM customers WHERE id = $1", walled["id"]) == "active"
        # the existing reactivation path queued the disconnect that ends the walled session
        queued = await p.owner.fetchval(
            "SELECT count(*) FROM outbox WHERE kind = 'disconnect' AND payload->>'framed_ip' = $1"
            " AND payload->>'reason' = 'reactivated'", WALLED)
        assert queued == 1
        # the same receipt seen from anywhere else: paid, but nothing of a reconnection
        async with client_from(NOBODY) as http, http.get(f"{p.url}{receipt_path}") as r:
            elsewhere = await r.text()
        assert "Paid. Thank you" in elsewhere and 'id="reconnecting"' not in elsewhere
        status, _, location = await front(p.url, WALLED)  # paid: the walled page is gone
        assert (status, location) == (303, "/login")


async def test_x_forwarded_for_is_believed_from_a_trusted_proxy_only(portal: Portal, radius_setup, fresh_db_url):
    p, (add_nas, secret, state_dir) = portal, radius_setup
    await add_nas()
    port = free_port()
    config = Config(database_url=DatabaseUrl(app_url(fresh_db_url)), secret_key=Secret("k" * 40), portal_port=port,
                    cookie_secure=False, trusted_proxies=(f"{ACTIVE}/32",))
    runner = web.AppRunner(create_app(config, p.pool), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    behind_proxy = f"http://127.0.0.1:{port}"
    try:
        with running_radius(fresh_db_url, state_dir, secret) as server:
            acct(server, p.w.customer["username"], session_id(), "Start", Framed_IP_Address="100.64.0.9")
            wait_folded(fresh_db_url)
            status, page, _ = await front(behind_proxy, ACTIVE, **{"X-Forwarded-For": "100.64.0.9"})
            assert status == 200 and "Your account is suspended." in page
            status, _, location = await front(behind_proxy, NOBODY, **{"X-Forwarded-For": "100.64.0.9"})
            assert (status, location) == (303, "/login")  # not from the proxy: the header is ignored
    finally:
        await runner.cleanup()


async def test_a_pay_link_without_a_bill_asks_for_every_open_bill_and_starts_a_payment(portal: Portal):
    """The walled page's link names no bill; its amount once came back from SQL as a Decimal (sum of bigint is
    numeric), which the money check refused: the page said "Choose how you want to pay." and nothing started."""
    p = portal
    token = await links.create_pay_link(p.owner, p.w.customer["id"], None)
    async with p.http.get(f"{p.url}/pay/{token}") as r:
        page = await r.text()
    assert "BDT 500.00" in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    async with p.http.post(f"{p.url}/pay/{token}", data={"csrf": csrf, "gateway": str(p.w.gateway["id"])},
                           allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"].startswith(p.fake.base_url)
    assert await p.owner.fetchval("SELECT amount_minor FROM payment_intents WHERE customer_id = $1",
                                  p.w.customer["id"]) == 50000


async def test_an_expired_customer_who_pays_is_reconnected_too(portal: Portal, radius_setup, fresh_db_url):
    """Expired (active, paid time over) is walled like suspended, but paying changes no status: the renewal itself
    must end the walled session, or the customer stays at the walled rate until its session timeout."""
    p, (add_nas, secret, state_dir) = portal, radius_setup
    await add_nas()
    await p.owner.execute("UPDATE customers SET status = 'active', status_reason = NULL WHERE id = $1",
                          p.w.customer["id"])
    with running_radius(fresh_db_url, state_dir, secret) as server:
        acct(server, p.w.customer["username"], session_id(), "Start", Framed_IP_Address=WALLED)
        wait_folded(fresh_db_url)
        status, page, _ = await front(p.url, WALLED)
        assert status == 200 and "Your package has expired." in page and "BDT 500.00" in page
        _, receipt = await pay_from(p, WALLED)
    assert "Paid. Thank you" in receipt and 'id="reconnecting"' in receipt
    assert await p.owner.fetchval(
        "SELECT count(*) FROM outbox WHERE kind = 'disconnect' AND payload->>'framed_ip' = $1"
        " AND payload->>'reason' = 'renewed'", WALLED) == 1
