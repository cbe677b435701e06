"""Reverse a payment and void a bill through the admin: form → preview (nothing written) → confirm; a double
submit acts once; foreign ids are 404; sub-operators and managers without billing.manage are refused."""

from tests.support.billing import form_key
from tests.support.db import connect


async def _collect(c, customer_id: int, amount: str) -> int:
    path = f"/customers/{customer_id}/collect"
    r = await c.post(path, {"kind": "cash", "amount": amount, "idempotency_key": await form_key(c, path)},
                     token_from=path)
    assert r.status == 303
    return int(r.headers["Location"].rsplit("/", 1)[1])


async def test_reverse_previews_then_confirms_once_and_the_receipt_says_reversed(make_client, tree, bills,
                                                                              fresh_db_url):
    c = await make_client("opa")
    payment_id = await _collect(c, tree.customers["a1"]["id"], "500")
    path = f"/payments/{payment_id}/reverse"
    key = await form_key(c, path)
    form = {"amount": "500.00", "reason": "cheque bounced", "idempotency_key": key}
    preview = await c.post(path, form, token_from=path)
    text = await preview.text()
    assert preview.status == 200 and "What reversing BDT 500.00 will do" in text and "suspended" in text
    async with connect(fresh_db_url) as conn:  # no confirmation: nothing happened
        assert await conn.fetchval("SELECT reversed_minor FROM payments WHERE id = $1", payment_id) == 0
        assert await conn.fetchval("SELECT count(*) FROM payment_reversals") == 0
        assert await conn.fetchval("SELECT status FROM bills WHERE id = $1", bills["a1"]["id"]) == "paid"
    confirmed = {**form, "confirmed": "yes"}
    first = await c.post(path, confirmed, token_from=path)
    second = await c.post(path, confirmed, token_from=path)
    assert first.status == second.status == 303 and first.headers["Location"] == f"/payments/{payment_id}"
    async with connect(fresh_db_url) as conn:
        assert await conn.fetchval("SELECT reversed_minor FROM payments WHERE id = $1", payment_id) == 50000
        assert await conn.fetchval("SELECT count(*) FROM payment_reversals") == 1
        assert await conn.fetchval("SELECT status FROM bills WHERE id = $1", bills["a1"]["id"]) == "unpaid"
        assert await conn.fetchval("SELECT status FROM customers WHERE id = $1", tree.customers["a1"]["id"]) \
            == "suspended"
    receipt = await (await c.get(f"/payments/{payment_id}/receipt")).text()
    assert "Reversed" in receipt and "cheque bounced" in receipt
    pdf = await c.get(f"/payments/{payment_id}/receipt.pdf")
    assert pdf.status == 200 and (await pdf.read()).startswith(b"%PDF")
    listing = await (await c.get("/payments")).text()
    assert "reversed BDT 500.00" in listing and "BDT 500.00 reversed" in listing  # the row and the totals
    invoice = await (await c.get(f"/bills/{bills['a1']['id']}/invoice")).text()
    assert "Reversed" in invoice and "BDT 500.00" in invoice


async def test_reverse_refuses_bad_input_with_a_sentence_and_more_than_is_left(make_client, tree, bills,
                                                                               fresh_db_url):
    c = await make_client("opa")
    payment_id = await _collect(c, tree.customers["a1"]["id"], "200")
    path = f"/payments/{payment_id}/reverse"
    for amount, reason, says in (("abc", "x", "is not an amount"), ("200.01", "x", "At most BDT 200.00"),
                                 ("100", "", "Say why")):
        form = {"amount": amount, "reason": reason, "idempotency_key": await form_key(c, path), "confirmed": "yes"}
        r = await c.post(path, form, token_from=path)
        assert r.status == 422 and says in await r.text(), amount
    async with connect(fresh_db_url) as conn:
        assert await conn.fetchval("SELECT count(*) FROM payment_reversals") == 0


async def test_corrections_are_scoped_and_permission_gated(make_client, tree, bills):
    opa = await make_client("opa")
    payment_id = await _collect(opa, tree.customers["a1"]["id"], "500")
    bill_b = bills["b"]["id"]
    for login, expected in (("opb", 404), ("suba1", 403), ("mgr_none", 403), ("mgr_all", 200), ("admin", 200)):
        c = await make_client(login)
        assert (await c.get(f"/payments/{payment_id}/reverse")).status == expected, login
        r = await c.post(f"/payments/{payment_id}/reverse", {"amount": "1", "reason": "x",
                                                              "idempotency_key": "k" * 20, "confirmed": "yes"})
        assert r.status == (expected if expected != 200 else 303), login
    assert (await opa.get(f"/bills/{bill_b}/void")).status == 404  # operator B's bill
    r = await opa.post(f"/bills/{bill_b}/void", {"reason": "x", "confirmed": "yes"})
    assert r.status == 404


async def test_void_previews_then_confirms_and_a_paid_bill_says_reverse_first(make_client, tree, bills,
                                                                              fresh_db_url):
    c = await make_client("opa")
    bill = bills["a2"]["id"]
    path = f"/bills/{bill}/void"
    assert (await c.get(path)).status == 200
    preview = await c.post(path, {"reason": "billed twice"}, token_from=path)
    assert preview.status == 200 and "What voiding this bill will do" in await preview.text()
    async with connect(fresh_db_url) as conn:
        assert await conn.fetchval("SELECT status FROM bills WHERE id = $1", bill) == "unpaid"
    done = await c.post(path, {"reason": "billed twice", "confirmed": "yes"}, token_from=path)
    assert done.status == 303
    again = await c.post(path, {"reason": "billed twice", "confirmed": "yes"}, token_from=path)
    assert again.status == 303
    async with connect(fresh_db_url) as conn:
        row = await conn.fetchrow("SELECT status, void_reason FROM bills WHERE id = $1", bill)
        assert (row["status"], row["void_reason"]) == ("void", "billed twice")
        assert await conn.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'bill_void'") > 0
    invoice = await (await c.get(f"/bills/{bill}/invoice")).text()
    assert "Void" in invoice and "billed twice" in invoice
    pdf = await c.get(f"/bills/{bill}/invoice.pdf")
    assert pdf.status == 200 and (await pdf.read()).startswith(b"%PDF")
    assert "billed twice" in await (await c.get("/bills")).text()

    await _collect(c, tree.customers["a1"]["id"], "500")
    paid = f"/bills/{bills['a1']['id']}/void"
    assert "Reverse its payment first" in await (await c.get(paid)).text()
    r = await c.post(paid, {"reason": "oops", "confirmed": "yes"}, token_from=paid)
    assert r.status == 422 and "Reverse its payment first" in await r.text()
