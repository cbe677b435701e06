"""Wallet numbers and mobile-wallet transfers in the admin: report, queue, confirm after a confirmation page, reject;
who may decide; bad input is a form error, never a 500."""

from __future__ import annotations

import re

import asyncpg


async def _fetch(url: str, sql: str, *args):
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def add_wallet(client, number="01811000000", kind="bkash") -> int:
    response = await client.post("/wallets", {"kind": kind, "number": number, "label": "Office", "enabled": "on"})
    assert response.status == 303, await response.text()
    page = await (await client.get("/wallets")).text()
    return int(re.findall(r'/wallets/(\d+)/edit', page)[-1])


def claim(wallet_id: int, **over) -> dict:
    return {"wallet_id": str(wallet_id), "sender_number": "01711111111", "amount": "500.00", "trxid": "8N7A6D5EE7",
            **over}


async def test_report_queue_confirm_with_a_confirmation_step(make_client, tree, fresh_db_url):
    opa, sub = await make_client("opa"), await make_client("suba1")
    wallet_id = await add_wallet(opa)
    a1 = tree.customers["a1"]["id"]
    profile = (await (await sub.get(f"/customers/{a1}")).text()).split('class="report-transfer"')[1]
    assert "bKash +8801811000000" in profile.split("</form>")[0]  # the operator's wallet, on the customer page
    response = await sub.post(f"/customers/{a1}/transfer", claim(wallet_id))
    assert response.status == 303 and response.headers["Location"] == "/transfers?status=unverified"
    (t,) = await _fetch(fresh_db_url, "SELECT * FROM wallet_transfers")
    # the sub-operator cannot see its parent's statement: no Check link, and the decision routes refuse
    queue = await (await sub.get("/transfers")).text()
    assert "8N7A6D5EE7" in queue and f'/transfers/{t["id"]}"' not in queue and "Waiting for Operator A" in queue
    refused = await sub.post(f"/transfers/{t['id']}/confirm", {"confirmed": "yes"})
    assert refused.status == 403
    # the operator: the first POST without the confirmation only shows the confirmation page
    assert f'/transfers/{t["id"]}"' in await (await opa.get("/transfers")).text()
    step = await opa.post(f"/transfers/{t['id']}/confirm", {})
    assert step.status == 200 and "Yes, the money arrived" in await step.text()
    assert not await _fetch(fresh_db_url, "SELECT 1 FROM payments")
    done = await opa.post(f"/transfers/{t['id']}/confirm", {"confirmed": "yes"})
    assert done.status == 303 and done.headers["Location"].startswith("/payments/")
    again = await opa.post(f"/transfers/{t['id']}/confirm", {"confirmed": "yes"})
    assert again.status == 303 and again.headers["Location"] == "/transfers"
    payments = await _fetch(fresh_db_url, "SELECT method, txn_id, amount_minor FROM payments")
    assert [tuple(p) for p in payments] == [("mobile_wallet", "8N7A6D5EE7", 50000)]


async def test_reject_needs_a_reason_and_bad_claims_are_form_errors(make_client, tree, fresh_db_url):
    opa = await make_client("opa")
    wallet_id = await add_wallet(opa)
    a1 = tree.customers["a1"]["id"]
    for field, value in (("amount", "abc"), ("amount", "9" * 40), ("trxid", "<script>"), ("sender_number", "x"),
                         ("wallet_id", "9" * 30)):
        response = await opa.post(f"/customers/{a1}/transfer", {**claim(wallet_id), field: value})
        assert response.status == 422, (field, value, response.status)
        assert 'aria-invalid="true"' in await response.text() or "has-error" in await response.text()
    assert (await opa.post(f"/customers/{a1}/transfer", claim(wallet_id))).status == 303
    duplicate = await opa.post(f"/customers/{a1}/transfer", claim(wallet_id, trxid="8n7a6d5ee7"))
    assert duplicate.status == 422 and "already reported" in await duplicate.text()
    (t,) = await _fetch(fresh_db_url, "SELECT id FROM wallet_transfers")
    empty = await opa.post(f"/transfers/{t['id']}/reject", {"reason": " "})
    assert empty.status == 422
    rejected = await opa.post(f"/transfers/{t['id']}/reject", {"reason": "not on the statement"})
    assert rejected.status == 303
    queue = await (await opa.get("/transfers?status=rejected")).text()
    assert "Rejected: not on the statement" in queue
    assert not await _fetch(fresh_db_url, "SELECT 1 FROM payments")


async def test_wallet_numbers_need_the_payments_permission_and_validate(make_client, tree):
    opa = await make_client("opa")
    bad = await opa.post("/wallets", {"kind": "bkash", "number": "+447700900123", "enabled": "on"})
    assert bad.status == 422 and "Bangladesh" in await bad.text()
    wallet_id = await add_wallet(opa)
    dup = await opa.post("/wallets", {"kind": "bkash", "number": "+8801811000000", "enabled": "on"})
    assert dup.status == 422 and "already listed" in await dup.text()
    edit = await opa.post(f"/wallets/{wallet_id}/edit", {"kind": "nagad", "number": "01811000000", "label": "N"})
    assert edit.status == 303
    assert "not offered" in await (await opa.get("/wallets")).text()
    manager = await make_client("mgr_all")  # every permission but payments.manage
    assert (await manager.get("/wallets")).status == 403
    assert (await manager.get("/transfers")).status == 200
