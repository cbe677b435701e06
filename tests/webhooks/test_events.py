"""Events fire from the real services, inside their transactions, and arrive signed at the right endpoints only."""

from __future__ import annotations

import pytest

from radbill.services import customer_records, customers, payments, webhooks
from tests.support.scopes import scope_of
from tests.support.webhooks import register, settle


def _form(tree, username: str) -> dict:
    a1 = tree.customers["a1"]
    return {"name": "New Person", "username": username, "connection_type": "pppoe", "mobile": "01711111111",
            "radius_password": "s3cret-pass-1", "package_id": str(a1["package_id"]),
            "billing_profile_id": str(a1["billing_profile_id"])}


async def test_a_customer_created_through_the_service_arrives_signed_with_its_fields(pool, tree, receiver):
    await register(pool, receiver, tree.ops["op_a"], "a")
    async with pool.acquire() as conn:
        a1 = tree.customers["a1"]
        await conn.execute("INSERT INTO package_assignments (operator_id, package_id, wholesale_price_minor)"
                           " VALUES ($1, $2, 1)", tree.ops["sub_a1"]["id"], a1["package_id"])
        await conn.execute("INSERT INTO billing_profile_assignments (operator_id, billing_profile_id) VALUES ($1, $2)",
                           tree.ops["sub_a1"]["id"], a1["billing_profile_id"])
        customer = await customer_records.create_customer(conn, scope_of(tree.ops["sub_a1"]), _form(tree, "newbie"),
                                                          bill=False)
    await settle(pool)
    [got] = receiver.at("a")
    assert got.verified is not None, "the signature must verify with the endpoint's secret"
    assert got.verified["type"] == "customer.created"
    data = got.verified["data"]
    assert data["customer_id"] == customer["id"] and data["username"] == "newbie"
    assert data["operator_id"] == tree.ops["sub_a1"]["id"] and data["mobile"] == customer["mobile"]
    assert "radius_password" not in data and "s3cret-pass-1" not in got.body.decode()
    assert got.headers["webhook-id"].startswith("msg_")


async def test_operator_b_never_hears_operator_a_and_a_reseller_hears_only_its_subtree(pool, tree, receiver):
    await register(pool, receiver, tree.ops["op_b"], "b")
    await register(pool, receiver, tree.ops["sub_a1"], "a1")
    await register(pool, receiver, tree.ops["sub_a2"], "a2")
    await register(pool, receiver, tree.ops["root"], "root")
    async with pool.acquire() as conn:
        await customers.suspend_customer(conn, scope_of(tree.ops["op_a"]), tree.customers["a1"]["id"], "unpaid")
        await customers.suspend_customer(conn, scope_of(tree.ops["op_b"]), tree.customers["b"]["id"], "unpaid")
    await settle(pool)
    heard = {name: sorted(r.verified["data"]["customer_id"] for r in receiver.at(name))
             for name in ("b", "a1", "a2", "root")}
    a1, b = tree.customers["a1"]["id"], tree.customers["b"]["id"]
    assert heard == {"b": [b], "a1": [a1], "a2": [], "root": sorted([a1, b])}
    status = receiver.at("a1")[0].verified["data"]["status"]
    assert status == ["active", "suspended"]


async def test_a_parent_operators_event_never_reaches_a_resellers_endpoint(pool, tree, receiver):
    await register(pool, receiver, tree.ops["sub_a1"], "a1")
    async with pool.acquire() as conn:
        assert await webhooks.emit(conn, "customer.updated", tree.ops["op_a"]["id"], {"customer_id": 1}) == 0
        assert await webhooks.emit(conn, "customer.updated", tree.ops["sub_a1"]["id"], {"customer_id": 1}) == 1


async def test_only_subscribed_events_are_sent(pool, tree, receiver):
    await register(pool, receiver, tree.ops["op_a"], "pay", events=["payment.received"])
    async with pool.acquire() as conn:
        scope = scope_of(tree.ops["op_a"])
        await customers.suspend_customer(conn, scope, tree.customers["a1"]["id"], "unpaid")  # not subscribed
        outcome = await payments.add_advance_payment(conn, scope, tree.customers["a1"]["id"], 25000)
    await settle(pool)
    [got] = receiver.at("pay")
    assert got.verified["type"] == "payment.received"
    assert got.verified["data"]["payment_id"] == outcome.payment["id"]
    assert got.verified["data"]["amount_minor"] == 25000 and got.verified["data"]["method"] == "advance"


async def test_nothing_is_sent_when_the_change_rolls_back(pool, tree, receiver):
    await register(pool, receiver, tree.ops["op_a"], "a")
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await customers.suspend_customer(conn, scope_of(tree.ops["op_a"]), tree.customers["a1"]["id"], "x")
                raise RuntimeError("the caller's transaction fails after the change")
    await settle(pool)
    assert receiver.at("a") == []


async def test_a_bill_run_emits_bill_created_set_based_only_to_listeners(pool, tree, receiver):
    from radbill import clock
    from radbill.services import billing

    await register(pool, receiver, tree.ops["op_a"], "bills", events=["bill.created"])
    await register(pool, receiver, tree.ops["op_b"], "b", events=["customer.created"])
    async with pool.acquire() as conn:
        created = await billing.generate_bills(conn, clock.now(), customer_ids=[tree.customers["a1"]["id"],
                                                                              tree.customers["b"]["id"]])
        bills = {r["customer_id"]: r["id"] for r in await conn.fetch("SELECT id, customer_id FROM bills")}
    assert created >= 2
    await settle(pool)
    got = [r.verified["data"] for r in receiver.at("bills")]
    assert {g["customer_id"] for g in got} == {tree.customers["a1"]["id"]}  # op_b's bill is not op_a's business
    assert got[0]["bill_id"] == bills[tree.customers["a1"]["id"]] and got[0]["total_minor"] > 0
    assert receiver.at("b") == []


async def test_edits_package_changes_reversals_and_tickets_each_say_what_changed(pool, tree, receiver):
    from radbill.services import corrections, tickets
    from tests import factories as f

    await register(pool, receiver, tree.ops["op_b"], "b")
    b = tree.customers["b"]
    scope = scope_of(tree.ops["op_b"])
    async with pool.acquire() as conn:
        form = {"name": "Renamed B", "username": b["username"], "connection_type": "pppoe",
                "billing_profile_id": str(b["billing_profile_id"]), "radius_password": "n3w-pass-word"}
        await customer_records.update_customer(conn, scope, b["id"], form)
        bigger = await f.package(conn, tree.ops["op_b"]["id"])
        await customers.change_package(conn, scope, b["id"], bigger["id"])
        paid = await payments.add_advance_payment(conn, scope, b["id"], 10000)
        await corrections.reverse_payment(conn, scope, paid.payment["id"], 4000, "cheque bounced")
        ticket = await tickets.open_ticket(conn, scope, b["id"], "slow", "Slow at night", "Since Monday")
        await tickets.close(conn, scope, ticket["id"])
    await settle(pool)
    got = {}
    # a lane sends several rows at once, so arrival order is not event order: the event's timestamp is
    for r in sorted(receiver.at("b"), key=lambda r: r.verified["timestamp"]):
        got.setdefault(r.verified["type"], []).append(r.verified["data"])
    [updated] = got["customer.updated"]
    assert updated["changes"]["name"] == ["Customer B", "Renamed B"] and updated["password_changed"] is True
    assert "n3w-pass-word" not in str(got)
    assert got["customer.package_changed"][0]["package_id"] == [b["package_id"], bigger["id"]]
    [reversed_] = got["payment.reversed"]
    assert (reversed_["payment_id"], reversed_["amount_minor"]) == (paid.payment["id"], 4000)
    assert [t["change"] for t in got["ticket.updated"]] == ["opened", "closed"]
