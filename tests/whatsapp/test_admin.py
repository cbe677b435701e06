"""The WhatsApp page over real HTTP: who may open it, secrets stored sealed and never shown back, choices
saved per event, bad input answered with the field named, the test send, and both channels in one history."""

from __future__ import annotations

import os
import re

from radbill import secretbox
from radbill.services import sealed
from tests.support.sms import settle
from tests.support.whatsapp import MOBILES, NUMBERS, settings_form


async def test_only_operators_and_the_group_admin_open_it(wa, make_client):
    for login, status in (("opa", 200), ("admin", 200), ("suba1", 403), ("mgr_all", 403)):
        response = await (await make_client(login)).get("/whatsapp")
        assert response.status == status, login


async def test_secrets_are_sealed_at_rest_and_never_shown_again(wa, make_client):
    c = await make_client("opa")
    form = settings_form(wa.cloud, "op_a", access_token="NEW-TOKEN-789", app_secret="NEW-APP-SECRET",
                         verify_token="NEW-VERIFY")
    response = await c.post("/whatsapp", form, token_from="/whatsapp")
    assert response.status == 303, await response.text()
    page = await (await c.get("/whatsapp")).text()
    for secret in ("NEW-TOKEN-789", "NEW-APP-SECRET", "NEW-VERIFY", "token-A-123", "app-secret-A"):
        assert secret not in page
    assert "A token is stored; leave empty to keep it" in page
    async with wa.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM whatsapp_settings WHERE operator_id = $1", wa.tree.ops["op_a"]["id"])
    assert secretbox.is_sealed(row["access_token"]) and "NEW-TOKEN-789" not in row["access_token"]
    assert sealed.open_for(sealed.WHATSAPP_TOKEN, row["operator_id"], row["access_token"]) == "NEW-TOKEN-789"
    assert secretbox.is_sealed(row["app_secret"]) and b"NEW-VERIFY" not in bytes(row["verify_token_hash"])
    # saving again with the secret fields empty keeps what is stored
    await c.post("/whatsapp", {**form, "access_token": "", "app_secret": "", "verify_token": ""},
                 token_from="/whatsapp")
    async with wa.pool.acquire() as conn:
        kept = await conn.fetchval("SELECT access_token FROM whatsapp_settings WHERE operator_id = $1",
                                   wa.tree.ops["op_a"]["id"])
    assert sealed.open_for(sealed.WHATSAPP_TOKEN, row["operator_id"], kept) == "NEW-TOKEN-789"


async def test_bad_input_names_the_field_and_keeps_the_stored_settings(wa, make_client):
    c = await make_client("opa")
    form = settings_form(wa.cloud, "op_a", phone_number_id="12ab", channel_bill_generated="whatsapp",
                         template_bill_generated="", access_token="")
    response = await c.post("/whatsapp", form, token_from="/whatsapp")
    page = await response.text()
    assert response.status == 422
    assert "Copy the phone number ID (digits only)" in page
    assert "Enter the approved template&#39;s name to send this by WhatsApp." in page
    taken = await c.post("/whatsapp", settings_form(wa.cloud, "op_a", phone_number_id=NUMBERS["op_b"][0]),
                         token_from="/whatsapp")
    assert taken.status == 422, await taken.text()
    assert "already used by another operator" in await taken.text()
    async with wa.pool.acquire() as conn:
        assert await conn.fetchval("SELECT phone_number_id FROM whatsapp_settings WHERE operator_id = $1",
                                   wa.tree.ops["op_a"]["id"]) == NUMBERS["op_a"][0]


async def test_send_test_reports_what_whatsapp_answered(wa, make_client):
    c = await make_client("opa")
    ok = await c.post("/whatsapp/test", {"to": "01711111111", "template": "hello_world", "language": "en"},
                      token_from="/whatsapp")
    assert ok.status == 303
    page = await (await c.get("/whatsapp")).text()
    assert "Test message accepted by WhatsApp (id wamid." in page
    [sent] = wa.cloud.accepted()
    assert (sent.phone_number_id, sent.template, sent.parameters) == (NUMBERS["op_a"][0], "hello_world", [])
    wa.cloud.not_on_whatsapp.add("8801799999999")
    await c.post("/whatsapp/test", {"to": "01799999999", "template": "hello_world", "language": "en"},
                 token_from="/whatsapp")
    assert "WhatsApp error 131026" in await (await c.get("/whatsapp")).text()


async def test_a_test_send_is_in_the_message_history_with_what_whatsapp_answered(wa, make_client):
    from radbill.services import api_clients
    from tests.support.scopes import scope_of

    c = await make_client("opa")
    await c.post("/whatsapp/test", {"to": "01711111111", "template": "hello_world", "language": "en"},
                 token_from="/whatsapp")
    wa.cloud.not_on_whatsapp.add("8801799999999")
    await c.post("/whatsapp/test", {"to": "01799999999", "template": "hello_world", "language": "en"},
                 token_from="/whatsapp")
    [accepted] = wa.cloud.accepted()
    page = await (await c.get("/sms/history?channel=whatsapp&event=test")).text()
    assert page.count("hello_world (en)") == 2 and page.count("<td>Test message") == 2
    assert "WhatsApp error 131026" in page
    # the API's history says the same: channel whatsapp, the fake's answer as the status
    op_a = wa.tree.ops["op_a"]
    account = wa.tree.accounts["opa"]
    async with wa.pool.acquire() as conn:
        _row, token = await api_clients.create_client(
            conn, scope_of(op_a, account["id"]),
            {"name": "erp", "permissions": ["sms.send"], "allowed_cidrs": "", "scope_operator_id": ""}, None)
    response = await c.client.get("/api/v1/sms", params={"event": "test"},
                                  headers={"Authorization": f"Bearer {token}"})
    items = (await response.json())["items"]
    assert response.status == 200, items
    assert sorted((m["channel"], m["to_number"], m["status"]) for m in items) == [
        ("whatsapp", "+8801711111111", "sent"), ("whatsapp", "+8801799999999", "failed")]
    # the platform's later status reaches the test message too (matched by its wamid)
    url = str(c.client.make_url("/whatsapp/webhook"))
    assert await wa.cloud.status(url, accepted.phone_number_id, accepted.wamid, "delivered") == 200
    async with wa.pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM sms_messages WHERE wamid = $1", accepted.wamid) == "delivered"


async def test_one_history_page_shows_both_channels(wa, make_client):
    from radbill.services import sms_events
    from tests.support.whatsapp import choose

    await choose(wa, "op_a", "whatsapp_then_sms")
    wa.cloud.not_on_whatsapp.add(MOBILES["a1"].lstrip("+"))
    async with wa.pool.acquire() as conn:
        await sms_events.queue_event(conn, wa.tree.ops["sub_a1"]["id"], wa.tree.customers["a1"]["id"],
                                     "account_activated")
    await settle(wa.pool)
    await settle(wa.pool)
    c = await make_client("opa")
    page = await (await c.get("/sms/history")).text()
    # titled for what it shows, in the page, the tab and the menu; a channel column says which is which
    assert "<h1>Message history</h1>" in page and "<title>Message history" in page and "SMS history" not in page
    assert re.search(r'<a href="/sms/history"[^>]*>Message history</a>', page)
    assert page.count('<td class="channel">WhatsApp</td>') == 1 and page.count('<td class="channel">SMS</td>') == 1
    assert "SMS after WhatsApp failed" in page and "account_activated_v1 (bn): Customer A1" in page
    whatsapp = await (await c.get("/sms/history?channel=whatsapp")).text()
    assert "account_activated_v1 (bn)" in whatsapp and "SMS after WhatsApp failed" not in whatsapp
    assert '<option value="whatsapp" selected' in whatsapp
    sms = await (await c.get("/sms/history?channel=sms")).text()
    assert "SMS after WhatsApp failed" in sms and "account_activated_v1 (bn)" not in sms
    assert "No messages match." in await (await c.get("/sms/history?channel=sms&status=read")).text()



async def test_plain_and_old_key_whatsapp_secrets_are_sealed_and_rotated(wa, monkeypatch):
    old, new = os.environ[secretbox.ENV], secretbox.new_key_entry("new")  # old: what the fixture sealed with
    op_b = wa.tree.ops["op_b"]["id"]
    async with wa.pool.acquire() as conn:
        await conn.execute("UPDATE whatsapp_settings SET access_token = $2, app_secret = 'plain-from-a-restore'"
                           " WHERE operator_id = $1", op_b, sealed.seal_for(sealed.WHATSAPP_TOKEN, op_b, "token-B-456"))
        assert await sealed.seal_plain_values(conn) == 1
        monkeypatch.setenv(secretbox.ENV, f"{new},{old}")
        assert await sealed.rotate(conn) >= 2
        row = await conn.fetchrow("SELECT * FROM whatsapp_settings WHERE operator_id = $1", op_b)
    monkeypatch.setenv(secretbox.ENV, new)  # the old key is gone: both open with the new one alone
    assert sealed.open_for(sealed.WHATSAPP_TOKEN, op_b, row["access_token"]) == "token-B-456"
    assert sealed.open_for(sealed.WHATSAPP_APP_SECRET, op_b, row["app_secret"]) == "plain-from-a-restore"
