"""The Webhooks pages over real HTTP: add (secret shown once), the list's health, edit, rotate and redeliver behind
a confirmation, a test event that arrives signed with the current secret, and tenant isolation."""

from __future__ import annotations

import asyncio
import re

import asyncpg

from tests.support.webhooks import settle

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")


async def _add(client, url: str, events=("customer.created", "payment.received")):
    response = await client.post("/webhooks/new", {"url": url, "description": "billing system",
                                                   "events": list(events)}, token_from="/webhooks/new")
    return response, await response.text()


async def test_an_operator_adds_an_endpoint_sees_the_secret_once_and_a_test_event_arrives_signed(
        make_client, fresh_db_url, tree, receiver):
    opa = await make_client("opa")
    response, page = await _add(opa, receiver.url("crm"))
    assert response.status == 200 and "Shown once." in page
    secret = SECRET.search(page).group(0)
    async with asyncpg.create_pool(fresh_db_url, min_size=1, max_size=4) as pool:
        async with pool.acquire() as conn:
            endpoint_id, sealed = await conn.fetchrow("SELECT id, secret_sealed FROM webhook_endpoints")
        assert secret not in sealed  # sealed at rest
        listing = await (await opa.get("/webhooks")).text()
        assert receiver.url("crm") in listing and "Working" in listing
        detail = await (await opa.get(f"/webhooks/{endpoint_id}")).text()
        assert secret not in detail and secret not in listing  # never shown again

        # rotating asks first; only the confirmed POST replaces the secret
        asked = await opa.post(f"/webhooks/{endpoint_id}/rotate", {}, token_from=f"/webhooks/{endpoint_id}")
        assert "Replace the secret" in await asked.text()
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT secret_sealed FROM webhook_endpoints") == sealed
        rotated = await opa.post(f"/webhooks/{endpoint_id}/rotate", {"confirm": "yes"},
                                 token_from=f"/webhooks/{endpoint_id}")
        new_secret = SECRET.search(await rotated.text()).group(0)
        assert new_secret != secret

        receiver.secrets["/crm"] = new_secret
        sent = await opa.post(f"/webhooks/{endpoint_id}/test", {}, token_from=f"/webhooks/{endpoint_id}")
        assert sent.status == 303
        await settle(pool)
        [got] = receiver.at("crm")
        assert got.verified is not None and got.verified["type"] == "webhook.test"

        log = await (await opa.get(f"/webhooks/{endpoint_id}")).text()
        assert "webhook.test" in log and "204" in log
        async with pool.acquire() as conn:
            delivery_id = await conn.fetchval("SELECT id FROM webhook_deliveries")
        asked = await opa.post(f"/webhooks/deliveries/{delivery_id}/redeliver", {},
                               token_from=f"/webhooks/{endpoint_id}")
        assert "Send again" in await asked.text()
        await opa.post(f"/webhooks/deliveries/{delivery_id}/redeliver", {"confirm": "yes"},
                       token_from=f"/webhooks/{endpoint_id}")
        await settle(pool)
        assert len(receiver.at("crm")) == 2


async def test_bad_addresses_are_refused_with_a_sentence_and_nothing_is_saved(make_client, fresh_db_url, tree):
    opa = await make_client("opa")
    for url, says in (("http://hooks.example.com/x", "Use an https:// address"),
                      ("https://user:pw@hooks.example.com/x", "Do not put a user name or password"),
                      ("hooks.example.com", "starting with https://"),
                      ("https://h.example/" + "x" * 600, "too long")):
        response, page = await _add(opa, url)
        assert response.status == 422 and says in page, url
    response, page = await _add(opa, "https://hooks.example.com/x", events=())
    assert response.status == 422 and "Choose at least one event" in page
    conn = await asyncpg.connect(fresh_db_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM webhook_endpoints") == 0
    finally:
        await conn.close()


async def test_another_operators_endpoint_is_not_found_and_a_reseller_is_sent_to_its_parent(make_client, tree):
    opa = await make_client("opa")
    await _add(opa, "https://hooks.example.com/a")
    opb = await make_client("opb")
    assert "hooks.example.com/a" not in await (await opb.get("/webhooks")).text()
    assert (await opb.get("/webhooks/1")).status == 404
    admin = await make_client("admin")
    assert "hooks.example.com/a" in await (await admin.get("/webhooks")).text()  # the group admin sees all
    sub = await make_client("suba1")
    assert (await sub.get("/webhooks")).status == 403


async def test_a_double_submitted_redeliver_queues_one_send_while_one_is_waiting(make_client, fresh_db_url, tree,
                                                                                  receiver):
    opa = await make_client("opa")
    _response, added = await _add(opa, receiver.url("twice"))
    receiver.secrets["/twice"] = SECRET.search(added).group(0)
    async with asyncpg.create_pool(fresh_db_url, min_size=1, max_size=4) as pool:
        async with pool.acquire() as conn:
            endpoint_id = await conn.fetchval("SELECT id FROM webhook_endpoints")
        page = f"/webhooks/{endpoint_id}"
        await opa.post(f"{page}/test", {}, token_from=page)
        await settle(pool)
        async with pool.acquire() as conn:
            delivery_id = await conn.fetchval("SELECT id FROM webhook_deliveries")
        token = await opa.csrf(page)
        again = f"/webhooks/deliveries/{delivery_id}/redeliver"
        # two POSTs racing (a double click), then a reload of the answer: one send is queued, each is told so
        answers = await asyncio.gather(*(opa.post(again, {"confirm": "yes"}, token=token) for _ in range(2)))
        answers.append(await opa.post(again, {"confirm": "yes"}, token=token))
        assert [a.status for a in answers] == [303, 303, 303]
        async with pool.acquire() as conn:
            waiting = await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'webhook' AND done_at IS NULL"
                                          " AND failed_at IS NULL AND (payload->>'delivery_id')::bigint = $1",
                                          delivery_id)
            audited = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'webhook.redeliver'")
        assert waiting == 1 and audited == 1
        await settle(pool)
        assert len(receiver.at("twice")) == 2  # the test event and one repeat
        # once that send is done, sending again by hand is possible again
        await opa.post(again, {"confirm": "yes"}, token=token)
        await settle(pool)
        assert len(receiver.at("twice")) == 3
