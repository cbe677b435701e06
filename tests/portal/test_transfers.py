"""A customer reports a "Send Money" transfer from the portal: recorded unverified for staff to check (the same
service as staff entry), with bad input answered by sentences and nothing recorded (real HTTP, real Postgres)."""

from tests import factories as f
from tests.portal.customer_http import get, log_in, post


async def test_a_reported_transfer_waits_for_staff(portal):
    p, c = portal, portal.w.customer
    wallet = await f.insert(p.owner, "operator_wallets", {"operator_id": p.w.operator["id"], "kind": "bkash",
                                                          "number": "+8801811223344", "label": "Office"})
    csrf = await log_in(p, c["username"], c["radius_password"])
    status, page, _ = await get(p, "/bills")
    assert status == 200 and "+8801811223344" in page.decode() and 'id="transfer-form"' in page.decode()
    form = {"csrf_token": csrf, "wallet_id": str(wallet["id"]), "sender_number": "01712345678", "amount": "500",
            "trxid": "8n7a6d5ee7"}
    status, page, _ = await post(p, "/transfers", form)
    assert status == 200 and 'id="notice"' in page and "8N7A6D5EE7" in page and "Waiting for checking" in page
    row = await p.owner.fetchrow("SELECT * FROM wallet_transfers WHERE customer_id = $1", c["id"])
    assert (row["status"], row["origin"], row["submitted_by"], row["amount_minor"], row["trxid"]) == (
        "unverified", "customer", None, 50000, "8N7A6D5EE7")
    assert await p.owner.fetchval("SELECT count(*) FROM audit_log WHERE action = 'transfer.submit'") == 1
    assert await p.owner.fetchval("SELECT count(*) FROM payments") == 0  # nothing is credited before staff check
    status, page, _ = await post(p, "/transfers", form)  # the same TrxID again
    assert status == 400 and "already reported" in page
    for bad in ({"wallet_id": "999999"}, {"wallet_id": "x"}, {"sender_number": "123"}, {"amount": "-1"},
                {"amount": "abc"}, {"trxid": "!!"}, {"trxid": "A" * 40}):
        status, page, _ = await post(p, "/transfers", {**form, "trxid": "NEWTRX0001", **bad})
        assert status == 400 and 'id="error"' in page, bad
    assert await p.owner.fetchval("SELECT count(*) FROM wallet_transfers") == 1


async def test_another_operators_wallet_is_not_offered_or_accepted(portal):
    p, c = portal, portal.w.customer
    other = await f.operator(p.owner, "operator", p.w.root["id"])
    foreign = await f.insert(p.owner, "operator_wallets", {"operator_id": other["id"], "kind": "nagad",
                                                           "number": "+8801911223344"})
    csrf = await log_in(p, c["username"], c["radius_password"])
    status, page, _ = await get(p, "/bills")
    assert "+8801911223344" not in page.decode()
    status, page, _ = await post(p, "/transfers", {"csrf_token": csrf, "wallet_id": str(foreign["id"]),
                                                   "sender_number": "01712345678", "amount": "500",
                                                   "trxid": "ABCDEF123"})
    assert status == 400 and "Choose the wallet number" in page
    assert await p.owner.fetchval("SELECT count(*) FROM wallet_transfers") == 0
