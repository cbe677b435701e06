"""Status webhooks from the (local) Cloud API into the running admin app: the handshake, signed statuses into
the history, forged ones refused with nothing changed, and a failed status falling back to one SMS."""

from __future__ import annotations

from aiohttp import ClientSession

from radbill.services import sms_events
from tests.support.sms import settle
from tests.support.whatsapp import MOBILES, NUMBERS, choose


async def sent_message(wa, customer="a1", operator="sub_a1"):
    async with wa.pool.acquire() as conn:
        await sms_events.queue_event(conn, wa.tree.ops[operator]["id"], wa.tree.customers[customer]["id"],
                                     "account_activated")
    await settle(wa.pool)
    return wa.cloud.accepted()[-1].wamid


async def row(wa, wamid):
    async with wa.pool.acquire() as conn:
        return await conn.fetchrow("SELECT * FROM sms_messages WHERE wamid = $1", wamid)


async def test_the_subscription_handshake_echoes_the_challenge_only_for_our_verify_token(wa, make_client):
    c = await make_client()
    ok = await c.get("/whatsapp/webhook?hub.mode=subscribe&hub.verify_token=verify-op_a&hub.challenge=1158201444")
    assert ok.status == 200 and await ok.text() == "1158201444"
    bad = await c.get("/whatsapp/webhook?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1")
    assert bad.status == 403 and "1" != await bad.text()


async def test_signed_statuses_move_the_history_forward_never_back(wa, make_client):
    url = str((await make_client()).client.make_url("/whatsapp/webhook"))
    wamid = await sent_message(wa)
    phone = NUMBERS["op_a"][0]
    assert await wa.cloud.status(url, phone, wamid, "delivered") == 200
    assert (await row(wa, wamid))["status"] == "delivered" and (await row(wa, wamid))["delivered_at"]
    assert await wa.cloud.status(url, phone, wamid, "read") == 200
    assert await wa.cloud.status(url, phone, wamid, "sent") == 200  # late and out of order: ignored
    m = await row(wa, wamid)
    assert (m["status"], m["read_at"] is not None) == ("read", True)


async def test_a_forged_or_foreign_signature_is_refused_and_changes_nothing(wa, make_client):
    url = str((await make_client()).client.make_url("/whatsapp/webhook"))
    wamid = await sent_message(wa)
    phone_a = NUMBERS["op_a"][0]
    assert await wa.cloud.status(url, phone_a, wamid, "failed", 131026, secret="not-the-secret") == 401
    # operator B's own (valid) secret cannot speak for operator A's number
    assert await wa.cloud.status(url, phone_a, wamid, "failed", 131026, secret=NUMBERS["op_b"][2]) == 401
    body = wa.cloud.status_body(phone_a, wamid, "failed", error_code=131026)
    async with ClientSession() as s, s.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
        assert r.status == 401  # unsigned
    # B's number naming A's message: signed correctly by B, yet A's message is not B's to change
    assert await wa.cloud.status(url, NUMBERS["op_b"][0], wamid, "failed", 131026) == 200
    assert (await row(wa, wamid))["status"] == "sent"
    assert wa.provider.received == []


async def test_a_failed_status_falls_back_to_one_sms_when_chosen(wa, make_client):
    url = str((await make_client()).client.make_url("/whatsapp/webhook"))
    await choose(wa, "op_a", "whatsapp_then_sms")
    wamid = await sent_message(wa)
    phone = NUMBERS["op_a"][0]
    for _ in range(2):  # the platform repeats a webhook it thinks we missed
        assert await wa.cloud.status(url, phone, wamid, "failed", 131026) == 200
    await settle(wa.pool)
    m = await row(wa, wamid)
    assert m["status"] == "failed" and m["error"] == "WhatsApp error 131026: Message undeliverable."
    [sms] = wa.provider.accepted()
    assert sms.to == MOBILES["a1"].lstrip("+")
    async with wa.pool.acquire() as conn:
        assert await conn.fetchval("SELECT fallback_of FROM sms_messages WHERE channel = 'sms'") == m["id"]
