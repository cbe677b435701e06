"""The fake gateways' pages in a real browser: what a newcomer clicks in the demo (SSLCommerz's page sends the
browser back with an auto-submitted POST, Nagad's with a redirect), and the adapters then verify the payment."""

from __future__ import annotations

import asyncio
import dataclasses
import threading

import aiohttp
import pytest

from radbill.payments.fakes.nagad import FakeNagad
from radbill.payments.fakes.sslcommerz import FakeSSLCommerz
from radbill.payments.gateway import PAID
from radbill.payments.nagad import NagadAdapter
from radbill.payments.sslcommerz import SSLCommerzAdapter
from tests.payments.gateway_helpers import Merchant, new_intent

pytestmark = pytest.mark.slow


@pytest.fixture
def gateways():
    """The fakes and the merchant endpoint on an event loop of their own (Playwright's sync API owns this one)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coro):
        return asyncio.run_coroutine_threadsafe(coro, loop).result(30)

    async def open_session():
        return aiohttp.ClientSession()

    merchant = Merchant()
    runner = run(merchant.start())
    ssl, nagad, http = run(FakeSSLCommerz().start()), run(FakeNagad().start()), run(open_session())
    yield run, merchant, ssl, nagad, http
    for closing in (http.close(), ssl.stop(), nagad.stop(), runner.cleanup()):
        run(closing)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_a_customer_pays_on_each_fake_gateway_page(browser, gateways):
    run, merchant, ssl, nagad, http = gateways
    page = browser.new_page()
    row = ssl.gateway_settings()
    sslcommerz = SSLCommerzAdapter(row["base_url"], row["credentials"], row["mode"], http)
    intent = new_intent(amount_minor=70000)
    started = run(sslcommerz.start(intent, merchant.urls()))
    page.goto(started.redirect_url)
    assert page.text_content("#amount") == "BDT 700.00"
    page.click("text=Pay")
    page.wait_for_selector("#back")  # the auto-submitted form brought the browser back to the ISP
    assert page.url == merchant.urls().success
    [(path, posted)] = [(p, f) for p, f in merchant.posts if p == "/return/success"]
    assert run(sslcommerz.verify(intent, posted)).status == PAID

    row = nagad.gateway_settings()
    nagad_adapter = NagadAdapter(row["base_url"], row["credentials"], row["mode"], http)
    intent = new_intent(amount_minor=30000)
    started = run(nagad_adapter.start(intent, merchant.urls()))
    page.goto(started.redirect_url)
    assert page.text_content("#amount") == "BDT 300.00"
    page.click("text=Pay")
    page.wait_for_selector("#back")
    assert page.url.startswith(merchant.urls().success + "?")
    callback = [f for p, f in merchant.posts if p == "/return/success"][-1]
    assert callback["status"] == "Success" and callback["order_id"] == intent.reference
    stored = dataclasses.replace(intent, gateway_payment_id=started.gateway_payment_id)
    verdict = run(nagad_adapter.verify(stored, callback))
    assert (verdict.status, verdict.amount_minor) == (PAID, 30000)
