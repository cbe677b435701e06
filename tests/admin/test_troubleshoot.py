"""The customer page's "Why can't this customer connect?" panel: the module's decision (agreeing with `radbill
explain`), the last login attempts, open sessions with Disconnect now (confirmed, through the outbox, on the
timeline) and usage against the cap, for every role that can see the customer."""

from __future__ import annotations

import asyncio
import html
import json
import re
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from radbill import diagnostics
from radbill.config import Config, DatabaseUrl, Secret
from radbill.db.pool import set_scope
from radbill.services import troubleshoot
from radbill.tenancy import Scope
from tests import factories as f
from tests.support.db import app_url, radius_url

MAC = "aa:bb:cc:00:00:01"
SEES_A1 = ["admin", "opa", "mgr_all", "suba1"]  # every login whose scope holds customer a1 and may view customers
_CHECK = re.compile(r'data-check="(\w+)" data-outcome="(\w+)"')
_REASON = re.compile(r'class="ts-verdict[^"]*" data-reason="(\w+)"')


async def owner(url):
    return await asyncpg.connect(url)


async def open_session(conn, username, nas_ip="10.0.1.1", n=1, **values):
    return await f.insert(conn, "radacct", {
        "acctsessionid": f"sess{n}", "acctuniqueid": f"uniq{n}-{username}", "username": username,
        "nasipaddress": nas_ip, "framedipaddress": f"100.64.0.{n + 1}", "callingstationid": MAC,
        "acctinputoctets": 3 * 1048576, "acctoutputoctets": 50 * 1048576,
        "acctstarttime": datetime.now(UTC) - timedelta(minutes=5), **values})


async def login_attempt(conn, username, reply, reason, nas_ip="10.0.1.1", mac=MAC, ago=60):
    await f.insert(conn, "radpostauth", {"username": username, "reply": reply, "reason": reason,
                                         "nasipaddress": nas_ip, "callingstationid": mac,
                                         "authdate": datetime.now(UTC) - timedelta(seconds=ago)})


async def panel_html(client, customer_id) -> str:
    response = await client.get(f"/customers/{customer_id}")
    assert response.status == 200, await response.text()
    page = await response.text()
    start = page.index('id="troubleshoot"')
    return page[start:page.index("</section>", start)]


@pytest.mark.parametrize("login", SEES_A1)
async def test_every_role_that_sees_the_customer_gets_the_whole_panel(make_client, tree, fresh_db_url, login):
    a1 = tree.customers["a1"]
    conn = await owner(fresh_db_url)
    try:
        await conn.execute("UPDATE packages SET data_cap_bytes = $2 WHERE id = $1", a1["package_id"], 100 * 1048576)
        await conn.execute("UPDATE customers SET status = 'suspended', status_reason = 'unpaid' WHERE id = $1", a1["id"])
        await open_session(conn, "cust-a1")
        for i in range(25):  # more than the 20 shown
            await login_attempt(conn, "cust-a1", "Access-Accept", "ok", ago=3600 + i)
        await login_attempt(conn, "cust-a1", "Access-Reject", "suspended", ago=5)
    finally:
        await conn.close()
    client = await make_client(login)
    panel = html.unescape(await panel_html(client, a1["id"]))
    # the live decision and its checks, as sentences
    assert _REASON.search(panel).group(1) == "suspended"
    assert "A login now would be refused" in panel
    assert "The customer is suspended. Collect the payment or activate the customer" in panel
    # usage this period against the cap: 53 MiB of the open session against 100 MiB
    assert "53.0 MiB used of 100.0 MiB (53%)" in panel
    # open session: since, router, framed IP, device, octets; and the button for a role that may edit
    # (the router is named when the login may read the nas table's row, its address otherwise: operator A owns it)
    router = "10.0.1.1" if login == "suba1" else "nas-a1"
    assert f"Router {router}" in panel and "IP 100.64.0.2" in panel and f"Device {MAC}" in panel
    assert "Down 50.0 MiB · up 3.0 MiB" in panel
    assert ("Disconnect now" in panel) == (login != "mgr_none")
    # the last 20 login attempts, newest first, with the reason and the router
    attempts = panel[panel.index("ts-attempts"):]
    assert attempts.count("<li") == 20
    assert attempts.index("Refused: customer suspended") < attempts.index("Accepted")


@pytest.mark.parametrize("login", ["suba2", "opb"])
async def test_a_customer_outside_the_scope_shows_no_panel(make_client, tree, login):
    client = await make_client(login)
    response = await client.get(f"/customers/{tree.customers['a1']['id']}")
    assert response.status == 404
    assert "troubleshoot" not in await response.text()


async def test_an_offline_customer_without_cap_or_attempts_says_so(make_client, tree):
    client = await make_client("suba1")
    panel = await panel_html(client, tree.customers["a1"]["id"])
    assert _REASON.search(panel).group(1) == "ok"
    assert "A login now would be accepted" in panel
    assert "the customer is offline" in panel
    assert "This package has no data cap" in panel
    assert "No login attempt recorded yet" in panel


STATES = {
    "ok": ({}, 0),
    "suspended": ({"status": "suspended"}, 0),
    "disabled": ({"status": "disabled"}, 0),
    "expired": ({"expires_at": datetime.now(UTC) - timedelta(hours=1)}, 0),
    "simultaneous_use": ({"simultaneous_use": 1}, 1),
    "mac_mismatch": ({"mac_address": "aa:bb:cc:00:00:99"}, 0),
    "over_cap": ({}, 1),  # accepted at the throttled rate: the data_cap check fails (53 MiB of a 10 MiB cap)
}


@pytest.mark.parametrize("state", list(STATES))
async def test_the_panel_decides_as_radbill_explain(make_client, tree, fresh_db_url, state):
    values, sessions = STATES[state]
    a1 = tree.customers["a1"]
    conn = await owner(fresh_db_url)
    try:
        for column, value in values.items():
            await conn.execute(f"UPDATE customers SET {column} = $2 WHERE id = $1", a1["id"], value)
        if state == "over_cap":
            await conn.execute("UPDATE packages SET data_cap_bytes = $2, throttled_download_kbps = 512,"
                               " throttled_upload_kbps = 512 WHERE id = $1", a1["package_id"], 10 * 1048576)
        for n in range(sessions):
            await open_session(conn, "cust-a1", n=n)
        await login_attempt(conn, "cust-a1", "Access-Reject", state)  # the device the panel checks a binding with
    finally:
        await conn.close()
    config = Config(database_url=DatabaseUrl(fresh_db_url), radius_database_url=DatabaseUrl(radius_url(fresh_db_url)),
                    secret_key=Secret("x" * 32))
    decision, _ = await asyncio.to_thread(diagnostics.explain, config, "cust-a1", MAC)
    panel = await panel_html(await make_client("suba1"), a1["id"])
    assert decision.reason == ("ok" if state == "over_cap" else state)
    assert _REASON.search(panel).group(1) == decision.reason
    assert _CHECK.findall(panel) == [(c.name, c.outcome) for c in decision.checks if c.name != "reply"]
    if state == "over_cap":
        assert ("data_cap", "fail") in _CHECK.findall(panel)
        assert "the speed is reduced until" in panel


async def _outbox_and_audit(url, customer_id):
    conn = await owner(url)
    try:
        outbox = await conn.fetch("SELECT kind, payload FROM outbox WHERE payload->>'customer_id' = $1",
                                  str(customer_id))
        audit = await conn.fetch("SELECT detail FROM audit_log WHERE object_kind = 'customer' AND object_id = $1"
                                 " AND action = 'customer.disconnect'", customer_id)
        return [(r["kind"], json.loads(r["payload"])) for r in outbox], audit
    finally:
        await conn.close()


@pytest.mark.parametrize("login", ["suba1", "mgr_all"])
async def test_disconnect_now_asks_first_then_queues_through_the_outbox(make_client, tree, fresh_db_url, login):
    a1 = tree.customers["a1"]
    conn = await owner(fresh_db_url)
    try:
        session = await open_session(conn, "cust-a1")
    finally:
        await conn.close()
    client = await make_client(login)
    page = f"/customers/{a1['id']}"
    form = {"acct_unique_id": session["acctuniqueid"]}
    asked = await client.post(f"{page}/disconnect", form, token_from=page)
    assert asked.status == 200 and "Yes, disconnect now" in await asked.text()
    assert await _outbox_and_audit(fresh_db_url, a1["id"]) == ([], [])  # nothing happens before the yes

    done = await client.post(f"{page}/disconnect", {**form, "confirm": "yes"}, token_from=page)
    assert done.status == 303
    outbox, audit = await _outbox_and_audit(fresh_db_url, a1["id"])
    assert [(kind, p["acct_unique_id"], p["nas_ip"], p["reason"]) for kind, p in outbox] == \
        [("disconnect", session["acctuniqueid"], "10.0.1.1", "staff")]
    assert len(audit) == 1
    timeline = await (await client.get(page)).text()
    assert (f"Disconnect of session {session['acctsessionid']} on router 10.0.1.1 requested by {login}."
            in timeline[timeline.index("<h2>Timeline"):])


async def test_disconnecting_an_ended_session_says_so_and_queues_nothing(make_client, tree, fresh_db_url):
    a1 = tree.customers["a1"]
    conn = await owner(fresh_db_url)
    try:
        session = await open_session(conn, "cust-a1", acctstoptime=datetime.now(UTC))
    finally:
        await conn.close()
    client = await make_client("suba1")
    page = f"/customers/{a1['id']}"
    response = await client.post(f"{page}/disconnect", {"acct_unique_id": session["acctuniqueid"],
                                                        "confirm": "yes"}, token_from=page)
    assert response.status == 303
    after = await (await client.get(response.headers["Location"])).text()
    assert "That session has already ended" in html.unescape(after)
    assert await _outbox_and_audit(fresh_db_url, a1["id"]) == ([], [])


async def test_a_manager_without_edit_sees_the_panel_but_cannot_disconnect(make_client, tree, fresh_db_url,
                                                                        admin_config):
    conn = await owner(fresh_db_url)
    try:
        session = await open_session(conn, "cust-a1")
        await conn.execute("UPDATE accounts SET permissions = '{customers.view}' WHERE username = 'mgr_none'")
    finally:
        await conn.close()
    client = await make_client("mgr_none")
    page = f"/customers/{tree.customers['a1']['id']}"
    panel = await panel_html(client, tree.customers["a1"]["id"])
    assert "IP 100.64.0.2" in panel and "Disconnect now" not in panel
    response = await client.post(f"{page}/disconnect", {"acct_unique_id": session["acctuniqueid"],
                                                        "confirm": "yes"}, token_from=page)
    assert response.status == 403
    assert await _outbox_and_audit(fresh_db_url, tree.customers["a1"]["id"]) == ([], [])


async def test_the_policy_function_answers_only_for_a_customer_the_scope_sees(tree, fresh_db_url):
    # the admin role may not read radius_policy; radbill_customer_policy is its one row, scope-checked inside
    conn = await asyncpg.connect(app_url(fresh_db_url))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM radius_policy")
        seen = {}
        for login in ("sub_a1", "sub_a2", "op_a", "op_b"):
            await set_scope(conn, tree.ops[login]["path"])
            rows = await conn.fetch("SELECT username FROM radbill_customer_policy($1)", tree.customers["a1"]["id"])
            seen[login] = [r["username"] for r in rows]
    finally:
        await conn.close()
    assert seen == {"sub_a1": ["cust-a1"], "sub_a2": [], "op_a": ["cust-a1"], "op_b": []}


async def test_the_panel_decides_at_the_tier_reached_as_the_customers_router_type(make_client, tree, fresh_db_url):
    """Usage past the second slow-down is shown against it with its speed, and the decision is the one the
    customer's router (the open session's, a Cisco here) gets: decide()'s tier rule, not tier 1 on a MikroTik."""
    a1 = tree.customers["a1"]
    conn = await owner(fresh_db_url)
    try:
        pkg = await conn.fetchrow("UPDATE packages SET data_cap_bytes = $2, throttled_download_kbps = 2000,"
                                  " throttled_upload_kbps = 2000 WHERE id = $1 RETURNING *", a1["package_id"],
                                  10 * 1048576)
        await f.insert(conn, "package_cap_tiers", {"package_id": pkg["id"], "operator_id": pkg["operator_id"],
                                                   "after_bytes": 40 * 1048576, "download_kbps": 512,
                                                   "upload_kbps": 256})
        await conn.execute("UPDATE nas SET type = 'cisco' WHERE nasname = '10.0.1.1'")
        await open_session(conn, "cust-a1")  # 53 MiB, on the Cisco
    finally:
        await conn.close()
    conn = await asyncpg.connect(app_url(fresh_db_url))  # as the admin app reads it: op A's scope
    try:
        op_a = tree.ops["op_a"]
        await set_scope(conn, op_a["path"])
        trouble = await troubleshoot.panel(conn, Scope.system(op_a["id"], str(op_a["path"])), a1["id"], 300)
    finally:
        await conn.close()
    decision = trouble["decision"]
    assert decision.accept and ("data_cap", "fail") in [(c.name, c.outcome) for c in decision.checks]
    assert ("Cisco-Account-Info", "QU;256000;D;512000") in trouble["decision"].reply  # tier 2, Cisco's words
    assert not any(name.startswith("Mikrotik") for name, _ in trouble["decision"].reply)
    panel = html.unescape(await panel_html(await make_client("opa"), a1["id"]))
    assert "53.0 MiB used of 40.0 MiB (100%)" in panel
    assert 'data-tier="2"' in panel and "Slow-down 2 of 2: 512kbit/s down, 256kbit/s up." in panel
    assert "the customer's router (Cisco" in panel
