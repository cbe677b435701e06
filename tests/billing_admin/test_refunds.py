"""Refunding an online payment from the admin: permission-gated, confirmed on a server-side page, then done at the
(fake) bKash; shown on the refund page and the customer's timeline."""

from dataclasses import replace

import aiohttp
import pytest

from radbill import secretbox
from radbill.payments.bkash import BkashAdapter
from radbill.payments.fakes.bkash import start_fake
from radbill.payments.gateway import ReturnUrls
from radbill.payments.settle import create_intent, intent_view, settle
from radbill.tenancy import Scope
from tests.payments.bkash_steps import press
from tests.payments.helpers import add_gateway
from tests.support.billing import issue_bills
from tests.support.db import connect

URLS = ReturnUrls("http://127.0.0.1:1/r", "http://127.0.0.1:1/r", "http://127.0.0.1:1/r")


@pytest.fixture
async def online_payment(fresh_db_url, tree, monkeypatch):
    """Customer b (of operator B) paid its bill through operator B's bKash (the local fake)."""
    monkeypatch.setenv(secretbox.ENV, secretbox.new_key_entry("t"))
    fake, runner = await start_fake()
    bills = await issue_bills(fresh_db_url)
    async with connect(fresh_db_url) as conn, aiohttp.ClientSession() as http:
        op = tree.ops["op_b"]
        gateway = await add_gateway(conn, op["id"], fake.base_url, fake.credentials)
        scope = Scope.system(op["id"], str(op["path"]))
        intent = await create_intent(conn, scope, tree.customers["b"]["id"], bills["b"]["id"], None, gateway["id"])
        adapter = BkashAdapter(fake.base_url, fake.credentials, "sandbox", http)
        started = await adapter.start(await intent_view(conn, intent), URLS)
        await conn.execute("UPDATE payment_intents SET gateway_payment_id = $2 WHERE id = $1", intent["id"],
                           started.gateway_payment_id)
        view = replace(await intent_view(conn, intent), gateway_payment_id=started.gateway_payment_id)
        verification = await adapter.verify(view, await press(http, started.redirect_url))
        payment_id = (await settle(conn, intent["id"], verification, "callback")).payment_id
    yield payment_id, fake
    await runner.cleanup()


async def test_refund_needs_the_permission_and_a_confirmation(make_client, online_payment, fresh_db_url, tree):
    payment_id, fake = online_payment
    path = f"/payments/{payment_id}/refund"
    for login, status in (("suba1", 403), ("mgr_none", 403), ("opa", 404)):
        assert (await (await make_client(login)).get(path)).status == status, login
    admin = await make_client("opb")
    assert "Refund" in await (await admin.get(f"/payments/{payment_id}")).text()
    form = await admin.get(path)
    assert form.status == 200 and "Can still be refunded: BDT 500.00" in await form.text()
    bad = await admin.post(path, {"amount": "600", "reason": "x"}, token_from=path)
    assert bad.status == 422 and "At most BDT 500.00" in await bad.text()
    confirm = await admin.post(path, {"amount": "100", "reason": "double charge"}, token_from=path)
    assert confirm.status == 200 and "Refund BDT 100.00 now?" in await confirm.text()
    assert "Service until" in await confirm.text()  # the reversal's preview: what the refund takes back
    async with connect(fresh_db_url) as conn:
        assert await conn.fetchval("SELECT count(*) FROM payment_refunds") == 0  # nothing before confirming
    done = await admin.post(path, {"amount": "100", "reason": "double charge", "confirmed": "yes"}, token_from=path)
    assert done.status == 303
    page = await (await admin.get(path)).text()
    assert "Can still be refunded: BDT 400.00" in page and "double charge" in page
    async with connect(fresh_db_url) as conn:
        assert await conn.fetchval("SELECT status FROM payment_refunds") == "done"
    timeline = await (await admin.get(f"/customers/{tree.customers['b']['id']}")).text()
    assert "Online payment refunded by" in timeline
    assert len(next(iter(fake.payments.values())).refunds) == 1
