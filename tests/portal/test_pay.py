"""The public pay page: what a link shows, CSRF without a session, paying through the fake bKash, receipts, and
50 simultaneous callbacks making one payment."""

import asyncio
import re
from datetime import timedelta

from radbill import clock
from tests.payments.bkash_steps import press


async def get(p, path, **kw):
    async with p.http.get(p.url + path, allow_redirects=False, **kw) as resp:
        return resp.status, await resp.text(), resp.headers


async def open_and_pay(p, mode=None):
    """Open the link, press Pay with bKash; returns the bKash callback params (the browser's next stop)."""
    status, page, _ = await get(p, f"/pay/{p.token}")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    async with p.http.post(f"{p.url}/pay/{p.token}", data={"csrf": csrf, "gateway": str(p.w.gateway["id"])},
                           allow_redirects=False) as resp:
        assert resp.status == 303, await resp.text()
        checkout = resp.headers["Location"]
    assert checkout.startswith(p.fake.base_url)
    return await press(p.http, checkout, mode=mode)


async def test_the_page_shows_only_isp_masked_username_and_amount(portal):
    p = portal
    status, page, headers = await get(p, f"/pay/{p.token}")
    username = p.w.customer["username"]
    assert status == 200 and "500.00" in page and f"{username[:2]}***{username[-2:]}" in page
    assert username not in page and p.w.customer["name"] not in page
    assert "Pay with bKash" in page and "form-action 'self'" in headers["Content-Security-Policy"]
    assert p.fake.base_url in headers["Content-Security-Policy"]


async def test_unknown_expired_and_revoked_links_say_so(portal):
    p = portal
    status, page, _ = await get(p, "/pay/" + "x" * 22)
    assert status == 404 and "not valid or has expired" in page
    await p.owner.execute("UPDATE pay_links SET expires_at = $2 WHERE token = $1", p.token,
                          clock.now() - timedelta(seconds=1))
    assert (await get(p, f"/pay/{p.token}"))[0] == 404
    await p.owner.execute("UPDATE pay_links SET expires_at = $2, revoked_at = now() WHERE token = $1", p.token,
                          clock.now() + timedelta(days=1))
    assert (await get(p, f"/pay/{p.token}"))[0] == 404


async def test_a_post_without_the_signed_token_starts_nothing(portal):
    p = portal
    async with p.http.post(f"{p.url}/pay/{p.token}", data={"csrf": "forged", "gateway": str(p.w.gateway["id"])},
                           allow_redirects=False) as resp:
        assert resp.status == 400 and "expired" in await resp.text()
    assert await p.owner.fetchval("SELECT count(*) FROM payment_intents") == 0


async def test_paying_through_bkash_pays_the_bill_and_shows_the_receipt(portal):
    p = portal
    params = await open_and_pay(p)
    status, _, headers = await get(p, f"/pay/return/{p.w.gateway['id']}", params=params)
    assert status == 303 and headers["Location"].startswith("/pay/receipt/")
    status, receipt, _ = await get(p, headers["Location"])
    assert status == 200 and "Paid. Thank you" in receipt and "500.00" in receipt
    assert await p.owner.fetchval("SELECT status FROM customers WHERE id = $1", p.w.customer["id"]) == "active"
    status, page, _ = await get(p, f"/pay/{p.token}")  # the link now has nothing to pay
    assert "already paid" in page and "Pay with" not in page


async def test_a_cancelled_payment_shows_not_completed(portal):
    p = portal
    params = await open_and_pay(p, mode="cancel")
    status, _, headers = await get(p, f"/pay/return/{p.w.gateway['id']}", params=params)
    status, receipt, _ = await get(p, headers["Location"])
    assert "not completed" in receipt
    assert await p.owner.fetchval("SELECT count(*) FROM payments") == 0


async def test_fifty_simultaneous_callbacks_make_one_payment(portal):
    p = portal
    params = await open_and_pay(p)
    answers = await asyncio.gather(*(get(p, f"/pay/return/{p.w.gateway['id']}", params=params) for _ in range(50)))
    assert {a[0] for a in answers} == {303}
    assert await p.owner.fetchval("SELECT count(*) FROM payments WHERE customer_id = $1", p.w.customer["id"]) == 1
    outcomes = await p.owner.fetch("SELECT outcome, count(*) FROM payment_events WHERE source = 'callback'"
                                   " GROUP BY outcome")
    # one credited, every other one a clean duplicate (the intent lock; the UNIQUE index is only the last net)
    assert dict(outcomes) == {"credited": 1, "duplicate": 49}


async def test_forged_notifications_and_unknown_receipts_reveal_nothing(portal):
    p = portal
    async with p.http.post(f"{p.url}/pay/notify/{p.w.gateway['id']}", data={"paymentID": "TR00FORGED"}) as resp:
        assert resp.status == 200
    assert (await get(p, "/pay/receipt/" + "r" * 24))[0] == 404
    assert (await get(p, "/pay/return/99999999999999999999999"))[0] == 404
    assert await p.owner.fetchval("SELECT count(*) FROM payments") == 0


async def wait_for(predicate, seconds=5.0):
    for _ in range(int(seconds / 0.05)):
        if await predicate():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_duplicate_and_late_callbacks_from_bkash_make_one_payment_each(portal):
    p = portal
    params = await open_and_pay(p, mode="duplicate")  # the browser comes back AND bKash calls twice more
    await get(p, f"/pay/return/{p.w.gateway['id']}", params=params)

    async def three_callbacks():
        return await p.owner.fetchval("SELECT count(*) FROM payment_events WHERE source = 'callback'") == 3
    assert await wait_for(three_callbacks)
    assert await p.owner.fetchval("SELECT count(*) FROM payments") == 1

    # a second bill paid with a late callback: the browser sees no redirect, the callback comes later
    await p.owner.execute("UPDATE bills SET status = 'unpaid', paid_minor = 0 WHERE id = $1", p.w.bill["id"])
    assert await open_and_pay(p, mode="late") == {}

    async def two_payments():
        return await p.owner.fetchval("SELECT count(*) FROM payments") == 2
    assert await wait_for(two_payments)


async def test_a_verification_that_timed_out_is_confirmed_from_the_receipt(portal, monkeypatch):
    from radbill.payments import bkash, flow

    p = portal
    monkeypatch.setattr(bkash, "DEFAULT_TIMEOUT", 0.3)  # the fake stalls 1 s in this mode
    monkeypatch.setattr(flow, "RECEIPT_RECHECK", timedelta(0))
    params = await open_and_pay(p, mode="timeout")
    status, _, headers = await get(p, f"/pay/return/{p.w.gateway['id']}", params=params)
    assert status == 303
    assert await p.owner.fetchval("SELECT count(*) FROM payments") == 0  # bKash did not answer in time
    events = await p.owner.fetch("SELECT outcome, reason FROM payment_events WHERE source = 'callback'")
    assert [e["outcome"] for e in events] == ["pending"] and "did not answer" in events[0]["reason"]
    await asyncio.sleep(1.0)  # bKash finished executing meanwhile
    status, receipt, _ = await get(p, headers["Location"])
    assert "Paid. Thank you" in receipt
    assert await p.owner.fetchval("SELECT count(*) FROM payments") == 1
