"""Event messages by WhatsApp through the outbox to a local Cloud API: the template and its parameters, the
sender's own credentials, retries, and the SMS fallback exactly once."""

from __future__ import annotations

import json

from radbill.services import sms_events
from radbill.services.payments import record_cash_payment
from tests.support.scopes import scope_of
from tests.support.sms import settle
from tests.support.whatsapp import MOBILES, NUMBERS, choose


async def history(pool):
    async with pool.acquire() as conn:
        return await conn.fetch("SELECT * FROM sms_messages ORDER BY id")


async def test_a_payment_sends_the_approved_template_with_the_sms_values_in_order(wa):
    await choose(wa, "op_a", "whatsapp", "en")
    customer = wa.tree.customers["a1"]
    async with wa.pool.acquire() as conn:
        await record_cash_payment(conn, scope_of(wa.tree.ops["sub_a1"]), customer["id"], 50000)
        package = await conn.fetchval("SELECT name FROM packages WHERE id = $1", customer["package_id"])
    await settle(wa.pool)
    [sent] = wa.cloud.accepted()
    assert (sent.phone_number_id, sent.to, sent.template, sent.language) == (
        NUMBERS["op_a"][0], MOBILES["a1"].lstrip("+"), "payment_received_v1", "en")
    name, amount, package_sent, expiry, isp = sent.parameters
    assert (name, amount, package_sent, isp) == ("Customer A1", "BDT 500.00", package, "Reseller A1")
    assert expiry == "-"  # the customer has no expiry date: the platform refuses an empty parameter
    assert wa.provider.received == []  # no SMS for an event that goes by WhatsApp
    [m] = await history(wa.pool)
    assert (m["channel"], m["status"], m["wamid"], m["event"], m["cost_minor"]) == (
        "whatsapp", "sent", sent.wamid, "payment_received", 0)
    assert [p or "-" for p in json.loads(m["wa_template"])["parameters"]] == sent.parameters


async def test_sms_stays_sms_when_the_event_chose_sms(wa):
    await choose(wa, "op_a", "sms")
    async with wa.pool.acquire() as conn:
        await sms_events.queue_event(conn, wa.tree.ops["sub_a1"]["id"], wa.tree.customers["a1"]["id"],
                                     "account_activated")
        await conn.execute("INSERT INTO sms_templates (operator_id, event, body) VALUES ($1, 'account_activated',"
                           " 'Hi {customer_name}')", wa.tree.ops["op_a"]["id"])
    await settle(wa.pool)
    assert wa.cloud.received == [] and [r.message for r in wa.provider.accepted()] == ["Hi Customer A1"]
    assert [m["channel"] for m in await history(wa.pool)] == ["sms"]


async def test_each_operator_sends_with_its_own_number_and_token_only(wa):
    async with wa.pool.acquire() as conn:
        for name, op in (("a1", "sub_a1"), ("b", "op_b")):
            await sms_events.queue_event(conn, wa.tree.ops[op]["id"], wa.tree.customers[name]["id"],
                                         "account_suspended")
    await settle(wa.pool)
    by_number = {s.to: s.phone_number_id for s in wa.cloud.accepted()}
    assert by_number == {MOBILES["a1"].lstrip("+"): "1001", MOBILES["b"].lstrip("+"): "2002"}
    assert all(s.answered == 200 for s in wa.cloud.received)  # the fake refuses a token not of that number


async def test_not_on_whatsapp_falls_back_to_one_sms(wa):
    await choose(wa, "op_a", "whatsapp_then_sms")
    wa.cloud.not_on_whatsapp.add(MOBILES["a1"].lstrip("+"))
    async with wa.pool.acquire() as conn:
        for _ in range(2):  # the same occurrence queued twice is still one message
            await sms_events.queue_event(conn, wa.tree.ops["sub_a1"]["id"], wa.tree.customers["a1"]["id"],
                                         "account_suspended", dedupe_key="suspend-1")
    await settle(wa.pool)
    await settle(wa.pool)
    assert [s.answered for s in wa.cloud.received] == [400]
    [sms] = wa.provider.accepted()
    assert sms.to == "8801711111111" and "Customer A1" in sms.message  # the suggested text: no template saved
    wa_row, sms_row = await history(wa.pool)
    assert (wa_row["channel"], wa_row["status"]) == ("whatsapp", "failed") and "131026" in wa_row["error"]
    assert (sms_row["channel"], sms_row["status"], sms_row["fallback_of"]) == ("sms", "sent", wa_row["id"])


async def test_whatsapp_only_does_not_fall_back(wa):
    wa.cloud.not_on_whatsapp.add(MOBILES["a1"].lstrip("+"))
    async with wa.pool.acquire() as conn:
        await sms_events.queue_event(conn, wa.tree.ops["sub_a1"]["id"], wa.tree.customers["a1"]["id"],
                                     "account_activated")
    await settle(wa.pool)
    assert wa.provider.received == []
    [m] = await history(wa.pool)
    assert m["status"] == "failed"


async def test_server_errors_and_timeouts_are_retried_and_sent_once(wa):
    wa.cloud.timeout_next(1)
    wa.cloud.fail_next(1)
    async with wa.pool.acquire() as conn:
        await sms_events.queue_event(conn, wa.tree.ops["op_b"]["id"], wa.tree.customers["b"]["id"],
                                     "account_activated")
    await settle(wa.pool)
    answered = [s.answered for s in wa.cloud.received]
    assert answered[0] == 0 and 500 in answered and answered.count(200) == 1 and answered[-1] == 200
    [m] = await history(wa.pool)
    assert (m["status"], m["attempts"], m["wamid"]) == ("sent", len(answered), wa.cloud.accepted()[0].wamid)
