"""customer.updated and customer.created from every service that writes customers, not only the edit form: the
custom price, and the import's set-based creation. One event per changed customer, carrying what changed."""

from __future__ import annotations

from radbill.services import customer_bulk, customers
from tests.support.scopes import scope_of
from tests.support.webhooks import register, settle


def _events(receiver, name: str) -> dict[str, list[dict]]:
    got: dict[str, list[dict]] = {}
    for r in receiver.at(name):
        assert r.verified is not None
        got.setdefault(r.verified["type"], []).append(r.verified["data"])
    return got


async def test_a_custom_price_change_is_one_customer_updated_with_the_price(pool, tree, receiver):
    await register(pool, receiver, tree.ops["op_a"], "a", events=["customer.updated"])
    a1, a2 = tree.customers["a1"], tree.customers["a2"]
    scope = scope_of(tree.ops["op_a"])
    async with pool.acquire() as conn:
        await customers.set_custom_price(conn, scope, a1["id"], 45000)
        await customers.set_custom_price(conn, scope, a1["id"], 45000)  # no change: no event
        await customers.set_custom_price(conn, scope, a2["id"], 30000)
        await customers.set_custom_price(conn, scope, a2["id"], None)  # back to the package price
    await settle(pool)
    got = _events(receiver, "a")["customer.updated"]
    # a lane sends several rows at once: the arrival order is not the order of the changes (receivers order by
    # the event's timestamp)
    assert sorted(((g["customer_id"], g["changes"]) for g in got), key=repr) == sorted([
        (a1["id"], {"custom_price_minor": [None, 45000]}), (a2["id"], {"custom_price_minor": [None, 30000]}),
        (a2["id"], {"custom_price_minor": [30000, None]})], key=repr)
    assert all(g["password_changed"] is False for g in got)


async def test_customers_created_by_the_import_are_each_one_customer_created(pool, tree, receiver):
    await register(pool, receiver, tree.ops["op_b"], "b", events=["customer.created"])
    await register(pool, receiver, tree.ops["op_a"], "a", events=["customer.created"])
    b = tree.customers["b"]
    forms = [{"name": f"Imported {i}", "username": f"imported-{i}", "connection_type": "pppoe",
              "mobile": f"0171111111{i}", "radius_password": f"pass-word-{i}", "package_id": str(b["package_id"]),
              "billing_profile_id": str(b["billing_profile_id"])} for i in range(3)]
    forms.append({**forms[0], "username": "imported-0"})  # a duplicate: refused, so no event
    async with pool.acquire() as conn:
        results = await customer_bulk.create_customers(conn, scope_of(tree.ops["op_b"]), forms, bill=False)
    created = {r["id"]: r for r in results[:3]}
    assert len(created) == 3 and not hasattr(results[3], "keys")
    await settle(pool)
    got = _events(receiver, "b")["customer.created"]
    assert sorted(g["customer_id"] for g in got) == sorted(created)
    for g in got:
        row = created[g["customer_id"]]
        assert (g["username"], g["name"], g["mobile"], g["operator_id"]) == (
            row["username"], row["name"], row["mobile"], tree.ops["op_b"]["id"])
        assert g["package_id"] == b["package_id"] and "radius_password" not in g
    assert receiver.at("a") == []  # another operator's endpoint hears nothing


async def test_a_package_change_waiting_for_the_next_period_is_one_customer_updated(pool, tree, receiver):
    from radbill import clock
    from radbill.services import billing, package_change
    from tests import factories as f

    await register(pool, receiver, tree.ops["op_b"], "b", events=["customer.updated", "customer.package_changed"])
    b = tree.customers["b"]
    async with pool.acquire() as conn:
        await conn.execute("UPDATE billing_profiles SET change_billing = 'next_period' WHERE id = $1",
                           b["billing_profile_id"])
        bigger = await f.package(conn, tree.ops["op_b"]["id"], price_minor=80000)
        await billing.generate_bills(conn, clock.now(), customer_ids=[b["id"]])  # the current period
        plan = await package_change.change_package_billed(conn, scope_of(tree.ops["op_b"]), b["id"], bigger["id"])
    assert plan.terms.applies == "next_period"
    await settle(pool)
    got = _events(receiver, "b")
    assert "customer.package_changed" not in got  # not yet: it waits for the next period
    [updated] = got["customer.updated"]
    assert updated["customer_id"] == b["id"] and updated["changes"]["next_package_id"] == [None, bigger["id"]]
    assert updated["changes"]["next_package_at"][0] is None and updated["changes"]["next_package_at"][1]


async def test_a_payment_that_extends_the_expiry_and_its_reversal_each_send_the_new_expiry(pool, tree, receiver):
    from datetime import datetime

    from radbill import clock
    from radbill.services import billing, corrections, payments

    await register(pool, receiver, tree.ops["op_b"], "b", events=["customer.updated"])
    b = tree.customers["b"]
    scope = scope_of(tree.ops["op_b"])
    async with pool.acquire() as conn:
        await billing.generate_bills(conn, clock.now(), customer_ids=[b["id"]])
        bill = await conn.fetchrow("SELECT id, total_minor FROM bills WHERE customer_id = $1", b["id"])
        before = await conn.fetchval("SELECT expires_at FROM customers WHERE id = $1", b["id"])
        paid = await payments.record_cash_payment(conn, scope, b["id"], bill["total_minor"])
        paid_until = await conn.fetchval("SELECT expires_at FROM customers WHERE id = $1", b["id"])
        await corrections.reverse_payment(conn, scope, paid.payment["id"], bill["total_minor"], "cheque bounced")
        after = await conn.fetchval("SELECT expires_at FROM customers WHERE id = $1", b["id"])
    assert paid_until != before and after != paid_until
    await settle(pool)
    got = sorted((r.verified for r in receiver.at("b")), key=lambda e: e["timestamp"])
    changes = [e["data"]["changes"]["expires_at"] for e in got if e["data"]["customer_id"] == b["id"]]

    def moment(value):
        return None if value is None else datetime.fromisoformat(value)

    assert [[moment(old), moment(new)] for old, new in changes] == [[before, paid_until], [paid_until, after]]


async def test_an_import_rollback_is_one_customer_deleted_per_removed_customer(pool, tree, receiver):
    import csv
    import io

    from radbill import importing
    from radbill.services import imports

    await register(pool, receiver, tree.ops["op_b"], "b", events=["customer.deleted"])
    await register(pool, receiver, tree.ops["op_a"], "a", events=["customer.deleted"])
    scope = scope_of(tree.ops["op_b"])
    out = io.StringIO()
    labels = {fld.key: fld.label for fld in importing.FIELDS}
    csv.writer(out).writerows([[labels[k] for k in ("name", "username", "mobile", "radius_password")]] + [
        [f"Rolled {i}", f"rolled-{i}", f"0171222222{i}", f"pass-word-{i}"] for i in range(3)])
    async with pool.acquire() as conn:
        batch_id = await imports.create_batch(conn, scope, importing.read_table(out.getvalue().encode(), "r.csv"),
                                              filename="r.csv")
        mapping, defaults = imports.batch_mapping(await imports.get_batch(conn, scope, batch_id))
        assert await imports.save_mapping(conn, scope, batch_id, mapping, defaults) == []
        await imports.start_import(conn, scope, batch_id, bill=False)
    await imports.run_import(pool, scope, batch_id)
    async with pool.acquire() as conn:
        made = {r["username"]: r for r in await conn.fetch(
            "SELECT c.* FROM customers c JOIN import_batch_items i ON i.customer_id = c.id WHERE i.batch_id = $1",
            batch_id)}
        assert sorted(made) == ["rolled-0", "rolled-1", "rolled-2"]
        await customers.set_custom_price(conn, scope, made["rolled-2"]["id"], 45000)  # edited since: it stays
        result = await imports.rollback_batch(conn, scope, batch_id)
    assert result.removed == 2 and [u for u, _why in result.kept] == ["rolled-2"]
    await settle(pool)
    got = _events(receiver, "b")["customer.deleted"]
    assert sorted(g["customer_id"] for g in got) == sorted(made[u]["id"] for u in ("rolled-0", "rolled-1"))
    for g in got:
        assert (g["username"], g["operator_id"], g["reason"], g["import_batch_id"]) == (
            made[g["username"]]["username"], tree.ops["op_b"]["id"], "import_rollback", batch_id)
        assert g["mobile"] == made[g["username"]]["mobile"] and "radius_password" not in g
    assert receiver.at("a") == []  # another operator's endpoint hears nothing
