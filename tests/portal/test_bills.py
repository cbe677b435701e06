"""Bills and payments in the portal: the list, invoice and receipt as HTML and PDF, Pay now through the fake
bKash, an advance top-up, and bad input answered with a sentence (real HTTP, real Postgres)."""

import re

from tests.payments.bkash_steps import press
from tests.payments.helpers import unbalanced_ledger_txns
from tests.portal.customer_http import get, log_in, post


async def _pay(p, path: str, data: dict) -> str:
    """Press a pay button on a portal page, pay on the fake bKash; returns the portal receipt page's HTML."""
    status, body, headers = await post(p, path, data)
    assert status == 303, body
    params = await press(p.http, headers["Location"])
    status, _, headers = await get(p, f"/pay/return/{p.w.gateway['id']}", params=params)
    assert status == 303 and headers["Location"].startswith("/pay/receipt/")
    status, receipt, _ = await get(p, headers["Location"])
    assert status == 200
    return receipt.decode()


async def test_pay_now_pays_the_open_bill_and_shows_the_receipt(portal):
    p, c, bill = portal, portal.w.customer, portal.w.bill
    csrf = await log_in(p, c["username"], c["radius_password"])
    status, page, _ = await get(p, "/bills")
    page = page.decode()
    assert status == 200 and f'id="bill-{bill["id"]}"' in page and "BDT 500.00 open" in page
    assert f'action="/bills/{bill["id"]}/pay"' in page and 'action="/topup"' in page
    receipt = await _pay(p, f"/bills/{bill['id']}/pay", {"csrf_token": csrf, "gateway": str(p.w.gateway["id"])})
    assert "Paid. Thank you" in receipt and 'id="full-receipt"' in receipt
    intent = await p.owner.fetchrow("SELECT * FROM payment_intents WHERE customer_id = $1", c["id"])
    assert intent["origin"] == "portal" and intent["bill_id"] == bill["id"] and intent["amount_minor"] == 50000
    assert await p.owner.fetchval("SELECT status FROM bills WHERE id = $1", bill["id"]) == "paid"
    assert await p.owner.fetchval("SELECT status FROM customers WHERE id = $1", c["id"]) == "active"
    payment_id = intent["payment_id"]
    status, html, _ = await get(p, f"/payments/{payment_id}/receipt")
    html = html.decode()
    assert status == 200 and "BDT 500.00" in html and f"Bill #{bill['id']}" in html and "Paid. Thank you" in html
    status, pdf, headers = await get(p, f"/payments/{payment_id}/receipt.pdf")
    assert status == 200 and headers["Content-Type"] == "application/pdf" and pdf.startswith(b"%PDF")
    status, html, _ = await get(p, f"/bills/{bill['id']}/invoice")
    assert status == 200 and 'id="outstanding">BDT 0.00' in html.decode()
    status, pdf, headers = await get(p, f"/bills/{bill['id']}/invoice.pdf")
    assert status == 200 and headers["Content-Type"] == "application/pdf" and pdf.startswith(b"%PDF")
    status, page, _ = await get(p, "/bills")
    assert f'action="/bills/{bill["id"]}/pay"' not in page.decode()  # nothing left to pay
    assert await unbalanced_ledger_txns(p.owner) == []


async def test_an_advance_top_up_goes_to_the_wallet(portal):
    p, c = portal, portal.w.customer
    await p.owner.execute("UPDATE bills SET status = 'void', voided_at = now(), void_reason = 'test' WHERE id = $1",
                          p.w.bill["id"])  # nothing open: the whole amount is kept as credit
    csrf = await log_in(p, c["username"], c["radius_password"])
    receipt = await _pay(p, "/topup", {"csrf_token": csrf, "amount": "250.50", "gateway": str(p.w.gateway["id"])})
    assert "Paid. Thank you" in receipt and "250.50" in receipt
    intent = await p.owner.fetchrow("SELECT * FROM payment_intents WHERE customer_id = $1", c["id"])
    assert intent["bill_id"] is None and intent["amount_minor"] == 25050 and intent["status"] == "paid"
    status, html, _ = await get(p, f"/payments/{intent['payment_id']}/receipt")
    html = html.decode()
    assert status == 200 and re.search(r'id="advance">[^<]*250\.50', html)
    assert await unbalanced_ledger_txns(p.owner) == []


async def test_bad_amounts_and_gateways_get_a_sentence_and_start_nothing(portal):
    p, c = portal, portal.w.customer
    csrf = await log_in(p, c["username"], c["radius_password"])
    gateway = str(p.w.gateway["id"])
    for amount in ("", "abc", "-5", "0", "1.234", "9" * 40):
        status, page, _ = await post(p, "/topup", {"csrf_token": csrf, "amount": amount, "gateway": gateway})
        assert status == 400 and 'id="error"' in page, amount
    for gateway_value in ("", "x", "0", "999999", str(2**70)):
        status, page, _ = await post(p, "/topup", {"csrf_token": csrf, "amount": "100", "gateway": gateway_value})
        assert status == 400 and "Choose how you want to pay" in page, gateway_value
        status, page, _ = await post(p, f"/bills/{p.w.bill['id']}/pay", {"csrf_token": csrf,
                                                                         "gateway": gateway_value})
        assert status == 400 and "Choose how you want to pay" in page, gateway_value
    status, page, _ = await post(p, "/topup", {"csrf_token": "forged", "amount": "100", "gateway": gateway})
    assert status == 403
    assert await p.owner.fetchval("SELECT count(*) FROM payment_intents") == 0


async def test_a_paid_bill_cannot_be_paid_again(portal):
    p, c, bill = portal, portal.w.customer, portal.w.bill
    csrf = await log_in(p, c["username"], c["radius_password"])
    await _pay(p, f"/bills/{bill['id']}/pay", {"csrf_token": csrf, "gateway": str(p.w.gateway["id"])})
    status, page, _ = await post(p, f"/bills/{bill['id']}/pay", {"csrf_token": csrf, "gateway": str(p.w.gateway["id"])})
    assert status == 400 and "already paid" in page
    assert await p.owner.fetchval("SELECT count(*) FROM payment_intents") == 1
