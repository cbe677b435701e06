"""Sessions, SMS and tickets over real HTTP (every response validated against the OpenAPI document): each
endpoint in scope and out of it (a foreign id is 404), through the admin's own services."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


async def _owner_do(world, sql: str, *args):
    owner = await world.owner()
    try:
        return await owner.fetchval(sql, *args)
    finally:
        await owner.close()


async def _session(world, name: str, start: datetime, open_: bool) -> int:
    return await _owner_do(
        world, "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctstoptime)"
               " VALUES (md5(random()::text), md5(random()::text), $1, '10.0.1.1', $2, $3) RETURNING radacctid",
        world.tree.customers[name]["username"], start, None if open_ else start + timedelta(hours=1))


async def test_sessions_of_the_scope_and_of_one_customer(api_world, api_as):
    mine = [await _session(api_world, "a1", T0 + timedelta(hours=i), open_=(i == 2)) for i in range(3)]
    foreign = await _session(api_world, "b", T0, open_=True)
    _, token = await api_world.make_client("op_a", permissions=["customers.view"])
    api = api_as(token)
    everything = await api.get("/api/v1/sessions")
    assert [s["id"] for s in everything.body["items"]] == mine[::-1]
    online = await api.get("/api/v1/sessions", params={"state": "open"})
    assert [s["id"] for s in online.body["items"]] == [mine[2]] and online.body["items"][0]["stopped_at"] is None
    a1 = api_world.tree.customers["a1"]["id"]
    first = await api.get(f"/api/v1/customers/{a1}/sessions", params={"limit": "2", "state": "closed"})
    assert [s["id"] for s in first.body["items"]] == [mine[1], mine[0]] and first.body["next_cursor"] is None
    paged = await api.get(f"/api/v1/customers/{a1}/sessions", params={"limit": "2"})
    rest = await api.get(f"/api/v1/customers/{a1}/sessions", params={"limit": "2",
                                                                      "cursor": paged.body["next_cursor"]})
    assert [s["id"] for s in paged.body["items"] + rest.body["items"]] == mine[::-1]
    b = api_world.tree.customers["b"]["id"]
    assert (await api.get(f"/api/v1/customers/{b}/sessions")).status == 404
    assert foreign not in {s["id"] for s in everything.body["items"]}
    forged = await api.get("/api/v1/sessions", params={"cursor": "bm9wZQ"})
    assert forged.status == 400 and forged.body["errors"][0]["field"] == "cursor"


async def test_an_sms_to_a_customer_is_queued_charged_and_in_the_history(api_world, api_as):
    tree = api_world.tree
    await _owner_do(api_world, "UPDATE customers SET mobile = '+8801711111111' WHERE id = $1", tree.customers["a1"]["id"])
    await _owner_do(api_world, "INSERT INTO sms_gateways (operator_id, name, kind, is_default) VALUES ($1, 'log', 'log',"
                               " true)", tree.ops["root"]["id"])
    await _owner_do(api_world, "UPDATE operators SET sms_balance = 10000, sms_segment_price_minor = 25 WHERE id = $1",
                    tree.ops["op_a"]["id"])
    _, token = await api_world.make_client("op_a", permissions=["sms.send"])
    api = api_as(token)
    a1 = tree.customers["a1"]["id"]
    key = str(uuid.uuid4())
    sent = await api.post(f"/api/v1/customers/{a1}/sms", {"text": "Hello {customer_name}"},
                          headers={"Idempotency-Key": key})
    assert sent.status == 202 and sent.body["status"] == "queued"
    again = await api.post(f"/api/v1/customers/{a1}/sms", {"text": "Hello {customer_name}"},
                           headers={"Idempotency-Key": key})
    assert again.body == sent.body and again.headers["Idempotent-Replayed"] == "true"
    history = await api.get("/api/v1/sms", params={"broadcast_id": str(sent.body["broadcast_id"])})
    assert [(m["to_number"], m["body"]) for m in history.body["items"]] == [("+8801711111111", "Hello Customer A1")]
    assert [(m["status"], m["cost_minor"]) for m in history.body["items"]] == [("queued", 25)]
    # queued for the outbox's SMS lane once (charged when the dispatcher sends it), the replay queued nothing
    assert await _owner_do(api_world, "SELECT count(*) FROM outbox WHERE kind = 'sms' AND payload->>'broadcast_id'"
                                      " = $1", str(sent.body["broadcast_id"])) == 1
    assert await _owner_do(api_world, "SELECT count(*) FROM sms_messages WHERE customer_id = $1", a1) == 1
    foreign = await api.post(f"/api/v1/customers/{tree.customers['b']['id']}/sms", {"text": "Hi"})
    assert foreign.status == 404
    no_mobile = await api.post(f"/api/v1/customers/{tree.customers['a2']['id']}/sms", {"text": "Hi"})
    assert no_mobile.status == 422 and no_mobile.body["errors"][0]["field"] == "customer_id"
    assert (await api.get("/api/v1/sms", params={"status": "lost"})).status == 400


async def test_the_message_history_lists_read_whatsapp_messages_and_filters_by_channel(api_world, api_as):
    tree = api_world.tree
    a1 = tree.customers["a1"]
    # a WhatsApp message the customer has read: a status only WhatsApp has, which the document must allow
    wa_id = await _owner_do(api_world, "INSERT INTO sms_messages (operator_id, customer_id, to_number, body, event,"
                                       " channel, status) VALUES ($1, $2, '+8801711111111', 'bill_v1 (bn): 500.00',"
                                       " 'bill_created', 'whatsapp', 'read') RETURNING id",
                            a1["operator_id"], a1["id"])
    _, token = await api_world.make_client("op_a", permissions=["sms.send"])
    api = api_as(token)
    read = await api.get("/api/v1/sms", params={"status": "read"})
    assert read.status == 200
    assert [(m["id"], m["channel"], m["status"]) for m in read.body["items"]] == [(wa_id, "whatsapp", "read")]
    assert [m["id"] for m in (await api.get("/api/v1/sms", params={"channel": "whatsapp"})).body["items"]] == [wa_id]
    assert wa_id not in [m["id"] for m in (await api.get("/api/v1/sms", params={"channel": "sms"})).body["items"]]
    assert (await api.get("/api/v1/sms", params={"channel": "pigeon"})).status == 400


async def test_tickets_list_get_reply_close_and_foreign_ids(api_world, api_as):
    tree = api_world.tree
    ticket_ids = {}
    for name in ("a1", "b"):
        customer = tree.customers[name]
        ticket_ids[name] = await _owner_do(
            api_world, "WITH t AS (INSERT INTO tickets (operator_id, customer_id, category, subject)"
                       " VALUES ($1, $2, 'slow', 'slow at night') RETURNING *)"
                       " INSERT INTO ticket_messages (ticket_id, operator_id, customer_id, body)"
                       " SELECT id, operator_id, customer_id, 'it is slow' FROM t RETURNING ticket_id",
            customer["operator_id"], customer["id"])
    _, token = await api_world.make_client("op_a", permissions=["customers.view", "customers.edit"])
    api = api_as(token)
    listed = await api.get("/api/v1/tickets")
    assert [t["id"] for t in listed.body["items"]] == [ticket_ids["a1"]]
    one = await api.get(f"/api/v1/tickets/{ticket_ids['a1']}")
    assert one.body["status"] == "open" and [m["by_staff"] for m in one.body["messages"]] == [False]
    replied = await api.post(f"/api/v1/tickets/{ticket_ids['a1']}/reply", {"text": "A technician is on the way."})
    assert replied.status == 200 and replied.body["status"] == "pending"
    assert [m["by_staff"] for m in replied.body["messages"]] == [False, True]
    closed = await api.post(f"/api/v1/tickets/{ticket_ids['a1']}/close")
    assert closed.body["status"] == "closed"
    assert (await api.get("/api/v1/tickets", params={"status": "closed"})).body["items"][0]["id"] == ticket_ids["a1"]
    empty = await api.post(f"/api/v1/tickets/{ticket_ids['a1']}/reply", {"text": "  "})
    assert empty.status == 422 and empty.body["errors"][0]["field"] == "text"
    for method, path in (("GET", ""), ("POST", "/reply"), ("POST", "/close")):
        body = {"text": "hi"} if path == "/reply" else None
        reply = await api.call(method, f"/api/v1/tickets/{ticket_ids['b']}{path}", json_body=body)
        assert reply.status == 404, (method, path)
    read_only = api_as((await api_world.make_client("op_a", permissions=["customers.view"]))[1])
    assert (await read_only.post(f"/api/v1/tickets/{ticket_ids['a1']}/close")).status == 403
