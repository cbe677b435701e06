"""A provider's delivery report becomes an sms.delivered webhook for the endpoints of the message's tree."""

from __future__ import annotations

import json

from radbill.services import sms_events, webhook_endpoints
from tests.support.scopes import scope_of
from tests.support.sms import settle


async def test_a_delivery_report_queues_sms_delivered_with_the_outcome(isp, conn, pool, make_client):
    client = await make_client()
    operator = await conn.fetchrow("SELECT * FROM operators WHERE id = (SELECT parent_id FROM operators"
                                   " WHERE id = $1)", isp.sub["id"])
    await webhook_endpoints.create_endpoint(conn, scope_of(operator), "http://127.0.0.1:9/sms", "",
                                            ["sms.delivered"])
    await sms_events.queue_event(conn, isp.sub["id"], isp.customer["id"], "account_activated")
    await sms_events.queue_event(conn, isp.sub["id"], isp.customer["id"], "account_activated")
    await settle(pool)
    first, second = isp.provider.accepted()
    callback = f"{client.origin}/sms/dlr/{isp.gateway['id']}/{isp.token}"
    assert await isp.provider.report(callback, first.message_id, "DELIVERED") == 200
    assert await isp.provider.report(callback, second.message_id, "UNDELIVERED", "Handset unreachable") == 200
    assert await isp.provider.report(callback, first.message_id, "DELIVERED") == 200  # a repeat changes nothing
    rows = await conn.fetch("SELECT event_type, payload FROM webhook_deliveries ORDER BY id")
    data = [json.loads(r["payload"])["data"] for r in rows]
    assert [r["event_type"] for r in rows] == ["sms.delivered", "sms.delivered"]
    assert [(d["status"], d["error"]) for d in data] == [("delivered", None), ("failed", "Handset unreachable")]
    assert all(d["customer_id"] == isp.customer["id"] for d in data)
