"""The alerts page and Acknowledge through the admin: collapsed groups with a count and what to do, a POST with
CSRF, scoped (a foreign alert, or one the login cannot act on, is 404), and the rule of who can act on a kind
agrees with the route of the page that fixes it."""

import html
import re

import asyncpg
import pytest

import admin.views  # noqa: F401  (registers the routes)
from admin.routing import REGISTRY
from radbill.services import alerts


async def _raise(url, tree, kind, operator, cause="", n=1, **subject):
    conn = await asyncpg.connect(url)
    try:
        for _ in range(n):
            alert_id = await alerts.raise_alert(conn, tree.ops[operator]["id"], kind, cause, f"{kind} happened.",
                                                subject, "customer", tree.customers["a1"]["id"])
        return alert_id
    finally:
        await conn.close()


async def _acknowledged(url, alert_id):
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchrow("SELECT acknowledged_at, acknowledged_by FROM alerts WHERE id = $1", alert_id)
    finally:
        await conn.close()


@pytest.mark.parametrize("kind", sorted(alerts.KINDS))
def test_who_can_act_on_a_kind_is_who_may_open_the_page_that_fixes_it(kind):
    rule = alerts.KINDS[kind]
    [fix] = [r for r in REGISTRY if r.method == "GET" and r.path == rule.fix_route]
    assert (fix.access.roles, fix.access.permission) == (rule.roles, rule.permission)


async def test_the_page_lists_collapsed_groups_and_acknowledge_moves_one(make_client, tree, fresh_db_url):
    router = await _raise(fresh_db_url, tree, "router_unreachable", "op_a", "10.0.1.1", n=4, nas_ip="10.0.1.1")
    await _raise(fresh_db_url, tree, "sms_no_balance", "sub_a1", n=2)
    opa = await make_client("opa")
    page = html.unescape(await (await opa.get("/alerts")).text())
    assert "Router 10.0.1.1 does not answer" in page and "4 times" in page and "Open (2)" in page
    assert "What to do: Check that the router is up" in page and 'href="/routers"' in page
    assert page.count("router_unreachable happened.") == 1  # one line for the four
    dashboard = html.unescape(await (await opa.get("/")).text())
    assert "4 times" in dashboard and 'href="/alerts"' in dashboard

    no_csrf = await opa.post(f"/alerts/{router}/acknowledge", token="wrong")
    assert no_csrf.status == 403 and (await _acknowledged(fresh_db_url, router))["acknowledged_at"] is None
    done = await opa.post(f"/alerts/{router}/acknowledge", token_from="/alerts")
    assert done.status == 303 and done.headers["Location"] == "/alerts"
    row = await _acknowledged(fresh_db_url, router)
    assert row["acknowledged_at"] is not None and row["acknowledged_by"] == tree.accounts["opa"]["id"]
    page = html.unescape(await (await opa.get("/alerts")).text())
    assert "Alert acknowledged: Router 10.0.1.1 does not answer." in page  # the flash
    assert f'id="alert-{router}"' not in page and "Open (1)" in page
    acked = html.unescape(await (await opa.get("/alerts?show=acknowledged")).text())
    assert "Router 10.0.1.1 does not answer" in acked and "Acknowledged by opa at" in acked


async def test_a_sub_operator_sees_only_what_it_can_act_on_and_foreign_alerts_are_404(make_client, tree,
                                                                                    fresh_db_url):
    router = await _raise(fresh_db_url, tree, "router_unreachable", "op_a", "10.0.1.1", nas_ip="10.0.1.1")
    gateway = await _raise(fresh_db_url, tree, "sms_no_gateway", "sub_a1")
    balance = await _raise(fresh_db_url, tree, "sms_no_balance", "sub_a1")
    refused = await _raise(fresh_db_url, tree, "sms_refused", "sub_a1", "Invalid mobile number",
                           customer_id=tree.customers["a1"]["id"])
    suba1 = await make_client("suba1")
    page = html.unescape(await (await suba1.get("/alerts")).text())
    assert "SMS balance is used up" in page and "SMS refused by the provider" in page
    assert f'href="/customers/{tree.customers["a1"]["id"]}/edit"' in page
    assert "Router 10.0.1.1" not in page and "no SMS gateway" not in page
    for alert_id in (router, gateway):  # above it, or in its subtree but not its to act on
        response = await suba1.post(f"/alerts/{alert_id}/acknowledge", token_from="/alerts")
        assert response.status == 404 and (await _acknowledged(fresh_db_url, alert_id))["acknowledged_at"] is None
    opb = await make_client("opb")
    assert (await opb.post(f"/alerts/{balance}/acknowledge", token_from="/alerts")).status == 404
    assert "SMS balance" not in await (await opb.get("/alerts")).text()
    assert (await suba1.post(f"/alerts/{refused}/acknowledge?from=dashboard", token_from="/alerts")).headers[
        "Location"] == "/"
    opa = await make_client("opa")  # a parent acknowledges: the sub-operator cannot see who, only that it was
    assert (await opa.post(f"/alerts/{balance}/acknowledge", token_from="/alerts")).status == 303
    acked = html.unescape(await (await suba1.get("/alerts?show=acknowledged")).text())
    assert "Acknowledged by staff of a parent operator at" in acked and "SMS balance is used up" in acked


async def test_the_pages_are_numbered(make_client, tree, fresh_db_url):
    for n in range(27):
        await _raise(fresh_db_url, tree, "router_refused", "op_a", f"10.8.0.{n}", nas_ip=f"10.8.0.{n}")
    opa = await make_client("opa")
    first = await (await opa.get("/alerts")).text()
    assert len(re.findall(r'class="alert-group"', first)) == 25 and "page=2" in first
    second = await (await opa.get("/alerts?page=2")).text()
    assert len(re.findall(r'class="alert-group"', second)) == 2
