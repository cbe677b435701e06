"""Collecting cash and advance from the customer profile: idempotent forms, partial and over-payment, the
reseller's balance guard, scope."""

import re

from tests.support.billing import form_key
from tests.support.db import connect


async def _payments(url, customer_id):
    async with connect(url) as conn:
        return await conn.fetch("SELECT * FROM payments WHERE customer_id = $1 ORDER BY id", customer_id)


async def test_the_profile_card_collects_cash_and_a_double_submit_records_one_payment(make_client, tree, bills,
                                                                                       fresh_db_url):
    customer = tree.customers["a1"]
    c = await make_client("suba1")
    profile = f"/customers/{customer['id']}"
    key = await form_key(c, profile, "collect-cash")
    token = await c.csrf(profile)
    form = {"kind": "cash", "bill_id": str(bills["a1"]["id"]), "amount": "500.00", "idempotency_key": key}
    first = await c.post(f"{profile}/collect", form, token=token)
    second = await c.post(f"{profile}/collect", form, token=token)
    assert first.status == second.status == 303
    assert first.headers["Location"] == second.headers["Location"]
    rows = await _payments(fresh_db_url, customer["id"])
    assert len(rows) == 1 and rows[0]["amount_minor"] == 50000
    assert rows[0]["collected_by"] == tree.accounts["suba1"]["id"]

    done = await (await c.get(second.headers["Location"])).text()
    assert "already recorded" in done and f"/payments/{rows[0]['id']}/receipt" in done
    async with connect(fresh_db_url) as conn:
        assert await conn.fetchval("SELECT status FROM bills WHERE id = $1", bills["a1"]["id"]) == "paid"
    assert f"/payments/{rows[0]['id']}/receipt" in await (await c.get(profile)).text()  # receipt link on the card


async def test_each_render_of_the_form_gets_a_new_key(make_client, tree, bills):
    c = await make_client("opa")
    path = f"/customers/{tree.customers['a1']['id']}"
    assert await form_key(c, path, "collect-cash") != await form_key(c, path, "collect-cash")
    collect = f"{path}/collect"
    assert await form_key(c, collect) != await form_key(c, collect)


async def test_partial_payment_then_overpayment_becomes_advance(make_client, tree, bills, fresh_db_url):
    customer = tree.customers["a1"]
    c = await make_client("opa")
    path = f"/customers/{customer['id']}/collect"
    r = await c.post(path, {"kind": "cash", "amount": "200", "idempotency_key": await form_key(c, path)},
                     token_from=path)
    assert r.status == 303
    async with connect(fresh_db_url) as conn:
        assert await conn.fetchval("SELECT status FROM bills WHERE id = $1", bills["a1"]["id"]) == "partial"
    r = await c.post(path, {"kind": "cash", "amount": "1,000.50", "idempotency_key": await form_key(c, path)},
                     token_from=path)
    receipt = await (await c.get(r.headers["Location"] + "/receipt")).text()
    assert "Advance credit" in receipt and "BDT 700.50" in receipt and "BDT 300.00" in receipt
    async with connect(fresh_db_url) as conn:
        bill = await conn.fetchrow("SELECT status, paid_minor FROM bills WHERE id = $1", bills["a1"]["id"])
    assert (bill["status"], bill["paid_minor"]) == ("paid", 50000)


async def test_balance_insufficient_is_said_plainly_and_nothing_is_recorded(make_client, tree, bills, fresh_db_url):
    customer = tree.customers["a1"]
    async with connect(fresh_db_url) as conn:
        await conn.execute("INSERT INTO package_assignments (operator_id, package_id, wholesale_price_minor)"
                           " VALUES ($1, $2, 35000)", tree.ops["sub_a1"]["id"], customer["package_id"])
        # the bill as issued under that price (a bill's wholesale is fixed when it is issued, migration 0066)
        await conn.execute("UPDATE bills SET wholesale_minor = 35000 WHERE id = $1", bills["a1"]["id"])
    c = await make_client("suba1")
    path = f"/customers/{customer['id']}/collect"
    r = await c.post(path, {"kind": "cash", "amount": "500", "idempotency_key": await form_key(c, path)},
                     token_from=path)
    page = await r.text()
    assert r.status == 422
    assert 'role="alert">balance insufficient, contact your parent operator<' in page
    assert await _payments(fresh_db_url, customer["id"]) == []
    # a partial payment pays no period, so it debits nothing and goes through
    r = await c.post(path, {"kind": "cash", "amount": "100", "idempotency_key": await form_key(c, path)},
                     token_from=path)
    assert r.status == 303


async def test_advance_payment_and_a_bad_amount(make_client, tree, fresh_db_url):
    customer = tree.customers["b"]
    c = await make_client("opb")
    path = f"/customers/{customer['id']}/collect"
    bad = await c.post(path, {"kind": "advance", "amount": "12.345", "idempotency_key": await form_key(c, path)},
                       token_from=path)
    assert bad.status == 422 and "at most 2 decimals" in await bad.text()
    no_key = await c.post(path, {"kind": "advance", "amount": "10"}, token_from=path)
    assert no_key.status == 422 and "reload the page" in await no_key.text()
    ok = await c.post(path, {"kind": "advance", "amount": "300", "idempotency_key": await form_key(c, path)},
                      token_from=path)
    assert ok.status == 303
    rows = await _payments(fresh_db_url, customer["id"])
    assert [(r["method"], r["amount_minor"]) for r in rows] == [("advance", 30000)]
    page = await (await c.get(ok.headers["Location"])).text()
    assert "Advance payment recorded" in page and "Print receipt" in page


async def test_foreign_customers_bills_and_payments_are_404(make_client, tree, bills, fresh_db_url):
    own = await make_client("suba1")
    path = f"/customers/{tree.customers['a1']['id']}/collect"
    r = await own.post(path, {"kind": "cash", "amount": "500", "idempotency_key": await form_key(own, path)},
                       token_from=path)
    payment = r.headers["Location"].rsplit("/", 1)[1]
    other = await make_client("suba2")
    for url in (path, f"/payments/{payment}", f"/payments/{payment}/receipt", f"/payments/{payment}/receipt.pdf",
                f"/bills/{bills['a1']['id']}/invoice", f"/bills/{bills['a1']['id']}/invoice.pdf",
                "/payments/999999/receipt", "/bills/999999/invoice"):
        assert (await other.get(url)).status == 404, url
    r = await other.post(path, {"kind": "cash", "amount": "1", "idempotency_key": "x" * 20}, token_from="/profile")
    assert r.status == 404
    # a foreign bill id on one's own customer is a 404 too
    mine = f"/customers/{tree.customers['a2']['id']}/collect"
    r = await other.post(mine, {"kind": "cash", "amount": "1", "bill_id": str(bills["a1"]["id"]),
                                "idempotency_key": "y" * 20}, token_from="/profile")
    assert r.status == 404
    assert len(await _payments(fresh_db_url, tree.customers["a2"]["id"])) == 0


async def test_back_then_resubmit_asks_before_recording_a_second_payment(make_client, tree, bills, fresh_db_url):
    """A fresh form (going Back re-renders it with a new key) with the same amount minutes later is not recorded
    until the collector confirms, on a page that shows the first payment."""
    customer = tree.customers["a1"]
    c = await make_client("suba1")
    path = f"/customers/{customer['id']}/collect"
    form = {"kind": "cash", "amount": "200", "note": "cash"}
    first = await c.post(path, {**form, "idempotency_key": await form_key(c, path)}, token_from=path)
    assert first.status == 303
    [paid] = await _payments(fresh_db_url, customer["id"])

    again = await c.post(path, {**form, "idempotency_key": await form_key(c, path)}, token_from=path)
    page = await again.text()
    assert again.status == 409 and "Already recorded a few minutes ago" in page
    assert "BDT 200.00" in page and f'href="/payments/{paid["id"]}/receipt"' in page
    assert "Yes, record a second payment" in page and 'name="confirm_repeat" value="yes"' in page
    assert len(await _payments(fresh_db_url, customer["id"])) == 1

    confirm_key = re.search(r'confirm-repeat.*?name="idempotency_key" value="([^"]+)"', page, re.S).group(1)
    confirmed = await c.post(path, {**form, "idempotency_key": confirm_key, "confirm_repeat": "yes"},
                             token_from=path)
    assert confirmed.status == 303
    assert [r["amount_minor"] for r in await _payments(fresh_db_url, customer["id"])] == [20000, 20000]

    # another amount, or another collector, is an ordinary payment
    other = await c.post(path, {**form, "amount": "50", "idempotency_key": await form_key(c, path)}, token_from=path)
    assert other.status == 303
    opa = await make_client("opa")
    theirs = await opa.post(path, {**form, "idempotency_key": await form_key(opa, path)}, token_from=path)
    assert theirs.status == 303
    assert len(await _payments(fresh_db_url, customer["id"])) == 4
