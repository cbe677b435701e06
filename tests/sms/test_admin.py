"""SMS pages: gateway secret never shown again, templates refuse unknown placeholders, broadcast count and cost,
top-ups by the parent only, and the role matrix for the new pages."""

from __future__ import annotations

import html

import asyncpg

from radbill.services.outbox import drain
from tests.support.sms import FAST


async def test_gateway_secret_is_never_shown_and_the_callback_address_once(make_client, fresh_db_url):
    c = await make_client("opa")
    form = {"name": "SSL Wireless", "kind": "http", "url": "https://sms.example.com/api", "method": "POST",
            "body_format": "form", "params": "msisdn={to}\nsms={message}\napi_token={secret}", "headers": "",
            "secret": "TOPSECRET-123", "number_format": "digits", "is_default": "on"}
    response = await c.post("/sms/gateways/new", form, token_from="/sms/gateways/new")
    page = await response.text()
    assert response.status == 200 and "/sms/dlr/" in page and "TOPSECRET-123" not in page
    listing = await (await c.get("/sms/gateways")).text()
    assert "SSL Wireless" in listing and "TOPSECRET-123" not in listing and "stored" in listing
    conn = await asyncpg.connect(fresh_db_url)
    try:
        gateway_id = await conn.fetchval("SELECT id FROM sms_gateways")
    finally:
        await conn.close()
    edit = await (await c.get(f"/sms/gateways/{gateway_id}")).text()
    assert "TOPSECRET-123" not in edit and "/sms/dlr/" not in edit
    bad = await c.post("/sms/gateways/new", {**form, "name": "Other", "params": "to={to}\ntext={msg}"},
                       token_from="/sms/gateways/new")
    assert bad.status == 422 and "{msg}" in await bad.text()
    assert (await (await make_client("suba1")).get("/sms/gateways")).status == 403
    assert (await (await make_client("opb")).get(f"/sms/gateways/{gateway_id}")).status == 404


async def test_templates_refuse_unknown_placeholders_and_preview_bangla(make_client, fresh_db_url):
    c = await make_client("suba1")
    bad = await c.post("/sms/templates", {"event": "due_reminder", "body": "Pay {amout} now", "enabled": "on"},
                       token_from="/sms/templates")
    assert bad.status == 422 and "Unknown placeholder {amout}" in await bad.text()
    preview = await c.post("/sms/templates", {"event": "due_reminder", "action": "preview",
                                              "body": "প্রিয় {customer_name}, বিল {amount} বাকি।"},
                           token_from="/sms/templates")
    text = await preview.text()
    assert "প্রিয় Rahim Uddin, বিল BDT 1,050.00 বাকি।" in text and "Unicode (Bangla)" in text
    ok = await c.post("/sms/templates", {"event": "due_reminder", "body": "বিল {amount}", "enabled": "on",
                                         "action": "save"}, token_from="/sms/templates")
    assert ok.status == 303
    conn = await asyncpg.connect(fresh_db_url)
    try:
        row = await conn.fetchrow("SELECT t.*, o.name FROM sms_templates t JOIN operators o ON o.id = t.operator_id")
    finally:
        await conn.close()
    assert (row["body"], row["enabled"], row["name"]) == ("বিল {amount}", True, "Reseller A1")


async def _broadcast_count(url) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT count(*) FROM sms_broadcasts") + await conn.fetchval(
            "SELECT count(*) FROM sms_messages")
    finally:
        await conn.close()


async def test_broadcast_shows_count_and_cost_then_sends_in_the_background(make_client, fresh_db_url, tree):
    conn = await asyncpg.connect(fresh_db_url)
    try:
        await conn.execute("UPDATE customers SET mobile = '+88017000000' || id")
        await conn.execute("INSERT INTO sms_gateways (operator_id, name, kind, is_default) VALUES ($1, 'log', 'log',"
                           " true)", tree.ops["op_a"]["id"])
        await conn.execute("UPDATE operators SET sms_balance = 100 WHERE id = $1", tree.ops["op_a"]["id"])
    finally:
        await conn.close()
    c = await make_client("opa")
    form = {"body": "Network maintenance tonight, {customer_name}.", "status": "active"}
    page = await (await c.post("/sms/broadcast", {**form, "action": "preview"}, token_from="/sms/broadcast")).text()
    assert "<strong>2</strong> recipients" in page and "BDT 0.50" in page and "cust-b" not in page
    asked = await c.post("/sms/broadcast", {**form, "action": "send"}, token_from="/sms/broadcast")
    text = html.unescape(await asked.text())
    assert asked.status == 200 and 'name="confirm" value="yes"' in text
    assert "2 customers get this message." in text and "That is 2 SMS parts at BDT 0.25 each." in text
    assert "It costs BDT 0.50 from your SMS balance of BDT 1.00, leaving BDT 0.50." in text
    assert await _broadcast_count(fresh_db_url) == 0  # nothing is sent or charged before the yes
    sent = await c.post("/sms/broadcast", {**form, "action": "send", "confirm": "yes"}, token_from="/sms/broadcast")
    assert sent.status == 303 and sent.headers["Location"].startswith("/sms/broadcasts/")
    progress = await c.get(sent.headers["Location"])
    assert "0 of 2 done" in await progress.text() and progress.headers.get("Refresh") == "3"
    pool = await asyncpg.create_pool(fresh_db_url, min_size=1, max_size=4)
    try:
        await drain(pool, FAST)
    finally:
        await pool.close()
    assert "2 of 2 done" in await (await c.get(sent.headers["Location"])).text()
    history = await (await c.get("/sms/history?status=sent")).text()
    assert history.count("Network maintenance tonight") == 2
    balance = await (await c.get("/sms/balance")).text()
    assert "BDT 0.50" in balance and "SMS sent" in balance


async def test_only_the_parent_tops_up(make_client, tree, fresh_db_url):
    sub = tree.ops["sub_a1"]["id"]
    opb = await make_client("opb")
    assert (await opb.post("/sms/balance/topup", {"operator_id": sub, "amount": "100"},
                           token_from="/sms/balance")).status == 404
    suba = await make_client("suba1")
    assert (await suba.post("/sms/balance/topup", {"operator_id": sub, "amount": "100"},
                            token_from="/sms/balance")).status == 403
    opa = await make_client("opa")
    done = await opa.post("/sms/balance/topup", {"operator_id": sub, "amount": "150.50", "price": "0.30"},
                          token_from="/sms/balance")
    assert done.status == 303
    page = await (await suba.get("/sms/balance")).text()
    assert "BDT 150.50" in page and "BDT 0.30" in page and "Top-up" in page
    # the sub-operator sees who topped up by role, never the parent's login name
    statement = page.split("<h2>Statement</h2>")[1]
    assert "your operator" in statement and "opa" not in statement
