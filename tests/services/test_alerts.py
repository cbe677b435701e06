"""radbill.services.alerts: identical alerts collapse with a count, acknowledge (who, when, audited), a new
occurrence reopens, and who sees and acknowledges which kind is one rule (can_act) scoped to the subtree."""

from __future__ import annotations

import json

import pytest

from radbill.errors import NotFound
from radbill.services import alerts
from radbill.tenancy import Scope
from tests.support.admin import build_tree


def scope_for(tree, login: str) -> Scope:
    account = tree.accounts[login]
    op = next(o for o in tree.ops.values() if o["id"] == account["operator_id"])
    return Scope(account["id"], op["id"], op["path"], account["role"], frozenset(account["permissions"] or ()))


async def no_gateway(conn, operator, customer, n=1):
    for _ in range(n):
        await alerts.raise_alert(conn, operator["id"], "sms_no_gateway", "", "No SMS gateway is configured.",
                                 {"customer_id": customer["id"]}, "customer", customer["id"])


async def router_down(conn, tree, nas_ip="10.0.1.1"):
    return await alerts.raise_alert(conn, tree.ops["op_a"]["id"], "router_unreachable", nas_ip,
                                    f"Could not disconnect on router {nas_ip}.", {"nas_ip": nas_ip}, "customer",
                                    tree.customers["a1"]["id"], audit_operator_id=tree.ops["sub_a1"]["id"])


@pytest.fixture
async def tree(db):
    return await build_tree(db)


async def test_identical_alerts_collapse_into_one_group_with_a_count(db, tree):
    await no_gateway(db, tree.ops["sub_a1"], tree.customers["a1"], n=3)
    await router_down(db, tree)
    await router_down(db, tree, "10.0.2.1")
    await router_down(db, tree)
    shown, more = await alerts.list_alerts(db, scope_for(tree, "admin"))
    counts = sorted((a["kind"], a["cause"], a["occurrences"]) for a in shown)
    assert counts == [("router_unreachable", "10.0.1.1", 2), ("router_unreachable", "10.0.2.1", 1),
                      ("sms_no_gateway", "", 3)] and not more
    every = await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'alert'")
    assert every == 6  # each occurrence stays on its timeline
    gateway = next(a for a in shown if a["kind"] == "sms_no_gateway")
    assert gateway["todo"].startswith("Add an SMS gateway under SMS → Gateways")
    assert gateway["fix_url"] == "/sms/gateways" and gateway["first_at"] <= gateway["last_at"]
    router = next(a for a in shown if a["cause"] == "10.0.1.1")
    assert router["title"] == "Router 10.0.1.1 does not answer" and router["fix_url"] == "/routers"


async def test_acknowledge_records_who_and_when_and_a_new_occurrence_reopens(db, tree):
    await no_gateway(db, tree.ops["sub_a1"], tree.customers["a1"], n=2)
    opa = scope_for(tree, "opa")
    [group], _ = await alerts.list_alerts(db, opa)
    done = await alerts.acknowledge(db, opa, group["id"], ip="192.0.2.7")
    assert done["acknowledged_by"] == tree.accounts["opa"]["id"] and done["acknowledged_at"] is not None
    assert (await alerts.list_alerts(db, opa))[0] == [] and await alerts.count_open(db, opa) == 0
    [acked], _ = await alerts.list_alerts(db, opa, acknowledged=True)
    assert acked["id"] == group["id"] and acked["acknowledged_by_name"] == "opa" and acked["occurrences"] == 2
    audit = await db.fetchrow("SELECT * FROM audit_log WHERE action = 'alert.acknowledge'")
    assert (audit["account_id"], audit["object_kind"], audit["object_id"]) == (opa.account_id, "alert", group["id"])
    assert json.loads(audit["detail"])["occurrences"] == 2
    await alerts.acknowledge(db, opa, group["id"])  # twice: nothing more happens
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'alert.acknowledge'") == 1

    await no_gateway(db, tree.ops["sub_a1"], tree.customers["a1"])
    [reopened], _ = await alerts.list_alerts(db, opa)
    assert reopened["id"] == group["id"] and reopened["occurrences"] == 1 and reopened["acknowledged_at"] is None
    assert (await alerts.list_alerts(db, opa, acknowledged=True))[0] == []


@pytest.mark.parametrize(("login", "sees_router", "sees_gateway"), [
    ("admin", True, True), ("opa", True, True), ("mgr_all", True, True), ("mgr_none", False, False),
    ("suba1", False, False), ("opb", False, False), ("suba2", False, False)])
async def test_each_login_sees_and_acknowledges_only_what_it_can_act_on(db, tree, login, sees_router,
                                                                       sees_gateway):
    router_id = await router_down(db, tree)
    await no_gateway(db, tree.ops["sub_a1"], tree.customers["a1"])
    balance_id = await alerts.raise_alert(db, tree.ops["sub_a1"]["id"], "sms_no_balance", "", "Balance used up.",
                                          {}, "customer", tree.customers["a1"]["id"])
    scope = scope_for(tree, login)
    kinds = {a["kind"] for a in (await alerts.list_alerts(db, scope))[0]}
    in_subtree = login in ("admin", "opa", "mgr_all", "suba1", "mgr_none")
    expected = ({"router_unreachable"} if sees_router else set()) | ({"sms_no_gateway"} if sees_gateway else set())
    if in_subtree and login != "mgr_none":  # the SMS balance: every role with sms.send in the subtree
        expected.add("sms_no_balance")
    assert kinds == expected
    assert await alerts.count_open(db, scope) == len(expected)
    for alert_id, kind in ((router_id, "router_unreachable"), (balance_id, "sms_no_balance")):
        if kind in expected:
            assert (await alerts.acknowledge(db, scope, alert_id))["acknowledged_at"] is not None
        else:
            with pytest.raises(NotFound):
                await alerts.acknowledge(db, scope, alert_id)


async def test_the_listing_is_paginated(db, tree):
    for n in range(7):
        await router_down(db, tree, f"10.9.0.{n}")
    scope = scope_for(tree, "opa")
    first, more = await alerts.list_alerts(db, scope, per_page=5)
    second, more_again = await alerts.list_alerts(db, scope, page=2, per_page=5)
    assert len(first) == 5 and more and len(second) == 2 and not more_again
    assert not {a["id"] for a in first} & {a["id"] for a in second}


def test_a_failed_job_is_classified_by_what_fixes_it():
    assert alerts.classify("sms", "error", "sms_no_gateway", "No gateway", {}) == ("sms_no_gateway", "")
    assert alerts.classify("sms", "nak", None, "Invalid mobile number", {}) == ("sms_refused", "Invalid mobile number")
    assert alerts.classify("sms", "timeout", None, "HTTP 503", {}) == ("sms_failed", "HTTP 503")
    assert alerts.classify("disconnect", "timeout", None, "no answer", {"nas_ip": "10.0.0.1"}) == \
        ("router_unreachable", "10.0.0.1")
    assert alerts.classify("coa", "nak", None, "refused", {"nas_ip": "10.0.0.1"}) == ("router_refused", "10.0.0.1")
    assert alerts.classify("webhook", "error", None, "boom", {}) == ("delivery_failed", "webhook: boom")
