"""SSLCommerz through the portal: the gateway sends the browser back with a cross-site POST and its IPN server to
server; both are only reasons to ask the Order Validation API, and together they make one payment."""

import asyncio
import re

from radbill.payments.fakes.sslcommerz import PAGE_PATH, FakeSSLCommerz
from radbill.payments.links import create_pay_link
from tests.payments.gateway_helpers import parse_form
from tests.payments.helpers import add_gateway
from tests.portal.test_pay import get, wait_for


async def test_paying_through_sslcommerz_posts_back_and_the_ipn_adds_nothing(portal):
    p = portal
    fake = await FakeSSLCommerz().start()
    try:
        settings = fake.gateway_settings()
        gateway = await add_gateway(p.owner, p.w.gateway["operator_id"], settings["base_url"],
                                    settings["credentials"], kind="sslcommerz", label="Cards and wallets")
        token = await create_pay_link(p.owner, p.w.customer["id"], p.w.bill["id"])
        status, page, headers = await get(p, f"/pay/{token}")
        assert status == 200 and fake.url in headers["Content-Security-Policy"]
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        async with p.http.post(f"{p.url}/pay/{token}", data={"csrf": csrf, "gateway": str(gateway["id"])},
                               allow_redirects=False) as resp:
            assert resp.status == 303, await resp.text()
            checkout = resp.headers["Location"]
        sessionkey = re.search(r"SESSIONKEY=([^&]+)", checkout).group(1)
        async with p.http.post(fake.url + PAGE_PATH, data={"SESSIONKEY": sessionkey, "action": "pay"}) as resp:
            action, fields = parse_form(await resp.text())
        assert action == f"{p.url}/pay/return/{gateway['id']}"
        # the browser's auto-submitted POST: no cookie, no CSRF token, only the gateway's signed fields
        async with p.http.post(action, data=fields, allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"].startswith("/pay/receipt/")
            receipt_path = resp.headers["Location"]
        status, receipt, _ = await get(p, receipt_path)
        assert status == 200 and "500.00" in receipt

        async def ipn_seen():
            return await p.owner.fetchval("SELECT count(*) FROM payment_events WHERE source = 'ipn'") >= 1
        assert await wait_for(ipn_seen)
        await asyncio.sleep(0.2)
        payments = await p.owner.fetch("SELECT gateway_id, txn_id, amount_minor FROM payments")
        assert [(r["gateway_id"], r["amount_minor"]) for r in payments] == [(gateway["id"], 50000)]
        assert payments[0]["txn_id"] == fields["bank_tran_id"]
        assert await p.owner.fetchval("SELECT status FROM customers WHERE id = $1", p.w.customer["id"]) == "active"
        outcomes = sorted(r["outcome"] for r in await p.owner.fetch(
            "SELECT outcome FROM payment_events WHERE source IN ('callback', 'ipn')"))
        assert outcomes == ["credited", "duplicate"]
    finally:
        await fake.stop()
