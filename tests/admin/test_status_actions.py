"""Status actions on the customer page: the buttons come from the service's transition table, the reason rule
is the service's, and disable (or suspend with a live session) asks on a server-side confirmation page first."""

import html
import re
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from radbill.services import customers
from tests import factories as f

BUTTON = re.compile(r'<button[^>]*name="action" value="([a-z]+)"')


async def _db(url):
    return await asyncpg.connect(url)


async def _status_and_actions(url, customer_id):
    conn = await _db(url)
    try:
        status = await conn.fetchval("SELECT status FROM customers WHERE id = $1", customer_id)
        actions = [r[0] for r in await conn.fetch(
            "SELECT action FROM audit_log WHERE object_kind = 'customer' AND object_id = $1 AND action LIKE"
            " 'customer.%' ORDER BY id", customer_id)]
        return status, actions
    finally:
        await conn.close()


async def _set_status(url, customer_id, status):
    conn = await _db(url)
    try:
        await conn.execute("UPDATE customers SET status = $2 WHERE id = $1", customer_id, status)
    finally:
        await conn.close()


async def _flash(client, response) -> str:
    page = await (await client.get(response.headers["Location"])).text()
    match = re.search(r'<p class="flash (\w+)" role="status">([^<]*)</p>', page)
    return f"{match.group(1)}: {html.unescape(match.group(2))}" if match else ""


@pytest.mark.parametrize("status", ["active", "suspended", "disabled"])
async def test_every_button_shown_is_accepted_and_every_allowed_transition_has_a_button(make_client, tree,
                                                                                        fresh_db_url, status):
    customer_id = tree.customers["a1"]["id"]
    c = await make_client("suba1")
    page = f"/customers/{customer_id}"
    await _set_status(fresh_db_url, customer_id, status)
    shown = BUTTON.findall(await (await c.get(page)).text())
    allowed = {action for action, t in customers.TRANSITIONS.items()
               if status in customers.ALLOWED_FROM[t.status]}
    assert set(shown) == allowed and len(shown) == len(allowed) and shown
    for action in shown:
        await _set_status(fresh_db_url, customer_id, status)
        done = await c.post(f"{page}/status", {"action": action, "reason": "checking the buttons", "confirm": "yes"},
                            token_from=page)
        assert done.status == 303 and (await _flash(c, done)).startswith("ok:"), action
        assert (await _status_and_actions(fresh_db_url, customer_id))[0] == customers.TRANSITIONS[action].status


async def test_the_reason_rule_is_the_services_and_its_message_is_shown(make_client, tree, fresh_db_url):
    customer_id = tree.customers["a1"]["id"]
    c = await make_client("suba1")
    page = f"/customers/{customer_id}"
    for action in ("suspend", "disable"):
        refused = await c.post(f"{page}/status", {"action": action, "reason": "  ", "confirm": "yes"},
                               token_from=page)
        assert refused.status == 303
        status = {"suspend": "suspended", "disable": "disabled"}[action]
        assert (await _flash(c, refused)).startswith(f"error: Say why the customer is {status}")
    unknown = await c.post(f"{page}/status", {"action": "delete", "reason": "x"}, token_from=page)
    assert await _flash(c, unknown) == "error: Choose suspend, disable or activate."
    assert await _status_and_actions(fresh_db_url, customer_id) == ("active", [])


async def test_disable_happens_only_after_the_confirmation_page(make_client, tree, fresh_db_url):
    customer_id = tree.customers["a1"]["id"]
    c = await make_client("suba1")
    page = f"/customers/{customer_id}"
    form = {"action": "disable", "reason": "moved away"}
    asked = await c.post(f"{page}/status", form, token_from=page)
    text = html.unescape(await asked.text())
    assert asked.status == 200 and "Disable cust-a1?" in text and "paying a bill does not undo a disable" in text
    assert 'name="confirm" value="yes"' in text and 'name="reason" value="moved away"' in text
    assert "Reason kept on the timeline: moved away" in text
    for not_yes in ({}, {"confirm": "no"}, {"confirm": ""}):
        assert (await c.post(f"{page}/status", {**form, **not_yes}, token_from=page)).status == 200
    assert await _status_and_actions(fresh_db_url, customer_id) == ("active", [])
    done = await c.post(f"{page}/status", {**form, "confirm": "yes"}, token_from=page)
    assert done.status == 303
    assert await _status_and_actions(fresh_db_url, customer_id) == ("disabled", ["customer.disable"])


async def test_a_foreign_customer_is_404_before_any_confirmation(make_client, tree):
    c = await make_client("suba1")
    foreign = tree.customers["b"]["id"]
    response = await c.post(f"/customers/{foreign}/status", {"action": "disable", "reason": "x"},
                            token_from="/customers")
    assert response.status == 404


async def test_suspend_asks_first_only_while_a_session_would_be_dropped(make_client, tree, fresh_db_url):
    a1, a2 = tree.customers["a1"], tree.customers["a2"]
    conn = await _db(fresh_db_url)
    try:
        await f.insert(conn, "radacct", {"acctsessionid": "s1", "acctuniqueid": "u1", "username": "cust-a1",
                                         "nasipaddress": "10.0.1.1",
                                         "acctstarttime": datetime.now(UTC) - timedelta(minutes=5)})
    finally:
        await conn.close()
    c = await make_client("opa")
    online = await c.post(f"/customers/{a1['id']}/status", {"action": "suspend", "reason": "unpaid"},
                          token_from="/customers")
    text = html.unescape(await online.text())
    assert online.status == 200 and "Their 1 open session is disconnected now." in text
    assert (await _status_and_actions(fresh_db_url, a1["id"]))[0] == "active"
    offline = await c.post(f"/customers/{a2['id']}/status", {"action": "suspend", "reason": "unpaid"},
                           token_from="/customers")
    assert offline.status == 303
    assert (await _status_and_actions(fresh_db_url, a2["id"]))[0] == "suspended"
