"""The portal's one-customer scope (sql/migrations/0030): connected as the app with a customer's scope, a query
that forgets its predicate sees that customer's rows only — not a neighbour's bills, payments or tickets, not
the operator's staff or messages — and cannot write for anyone else. Staff scopes are untouched."""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg
import pytest

from radbill.db.pool import NOTHING, create_pool, customer_scoped, scoped, set_scope
from radbill.services import portal_auth, tickets
from tests import factories as f
from tests.db.test_rls import OWNER
from tests.support.admin import build_tree
from tests.support.db import app_url

CATALOGUE = {"packages", "billing_profiles", "zones", "vat_profiles", "payment_gateways", "package_assignments",
             "operator_wallets", "package_cap_tiers", "data_topup_packs",
             "billing_profile_assignments"}


@pytest.fixture
async def world(fresh_db_url):
    conn = await asyncpg.connect(fresh_db_url)
    try:
        tree = await build_tree(conn)
        for name, login, cust in (("sub_a1", "suba1", "a1"), ("op_b", "opb", "b")):
            c = tree.customers[cust]
            await f.tenant_rows(conn, tree.ops[name], c, tree.accounts[login], c["package_id"], c["billing_profile_id"])
        # a neighbour: the same reseller's other customer, with rows of its own
        a1 = tree.customers["a1"]
        tree.customers["a1_neighbour"] = neighbour = await f.customer(
            conn, tree.ops["sub_a1"]["id"], a1["package_id"], a1["billing_profile_id"], username="neighbour")
        o, n = tree.ops["sub_a1"]["id"], neighbour["id"]
        await f.insert(conn, "bills", {"customer_id": n, "operator_id": o, "period_start": date(2026, 1, 1),
                                       "period_end": date(2026, 2, 1), "currency": "BDT", "amount_minor": 100,
                                       "total_minor": 100, "due_at": datetime.now(UTC)})
        await f.insert(conn, "payments", {"customer_id": n, "operator_id": o, "amount_minor": 100, "currency": "BDT",
                                          "method": "cash"})
        await f.insert(conn, "tickets", {"operator_id": o, "customer_id": n, "category": "billing", "subject": "x"})
        return tree
    finally:
        await conn.close()


async def test_a_customer_scope_reads_its_own_rows_only(world, fresh_db_url):
    me, op = world.customers["a1"], world.ops["sub_a1"]
    lineage = {world.ops[n]["id"] for n in ("root", "op_a", "sub_a1")}
    owner = await asyncpg.connect(fresh_db_url)
    app = await asyncpg.connect(app_url(fresh_db_url))
    try:
        await set_scope(app, NOTHING, me["id"])
        for table in OWNER:  # every tenant table, including any added later
            columns = {r["attname"] for r in await owner.fetch(
                "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0", table)}
            if table in ("customers", "operators") or "customer_id" in columns:
                key, allowed = ("id", {me["id"]}) if table == "customers" else \
                    ("id", lineage) if table == "operators" else ("customer_id", {me["id"]})
            elif table in CATALOGUE:
                key, allowed = "operator_id", lineage
            else:
                key, allowed = "1", set()
            seen = {r[0] for r in await app.fetch(f"SELECT {key} FROM {table}")}
            assert seen <= allowed, f"{table}: the customer sees rows beyond their own: {seen - allowed}"
            if table in ("customers", "bills", "payments", "tickets", "ticket_messages", "packages", "operators"):
                assert seen, f"{table}: the customer's own rows must stay visible"
        assert await app.fetchval("SELECT count(*) FROM accounts") == 0

        # the same connection as the reseller's staff sees both customers again
        await set_scope(app, op["path"])
        assert await app.fetchval("SELECT count(*) FROM customers") == 2
    finally:
        await app.close()
        await owner.close()


async def test_a_customer_scope_writes_for_itself_only(world, fresh_db_url):
    me, neighbour, op = world.customers["a1"], world.customers["a1_neighbour"], world.ops["sub_a1"]
    pool = await create_pool(app_url(fresh_db_url), max_size=1)
    try:
        with customer_scoped(me["id"]):
            async with pool.acquire() as app:
                insert = ("INSERT INTO tickets (operator_id, customer_id, category, subject) VALUES ($1, $2, 'slow', 'x')"
                          " RETURNING id")
                assert await app.fetchval(insert, op["id"], me["id"])
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await app.fetchval(insert, op["id"], neighbour["id"])
                assert await app.execute("UPDATE customers SET name = 'mine'") == "UPDATE 0"  # read only
                assert await app.execute("UPDATE tickets SET status = 'closed', closed_at = now()") == "UPDATE 2"
                assert await app.execute("UPDATE packages SET name = name") == "UPDATE 0"  # read, never write
                assert await app.execute("DELETE FROM bills WHERE customer_id = $1", neighbour["id"]) == "DELETE 0"
        # the pool's next checkout without the customer is a staff scope again (RESET on release)
        with scoped(op["path"]):
            async with pool.acquire() as app:
                assert await app.fetchval("SELECT count(*) FROM customers") == 2
                assert await app.fetchval("SELECT current_setting('radbill.scope_customer', true)") == ""
    finally:
        await pool.close()
    owner = await asyncpg.connect(fresh_db_url)
    try:
        assert await owner.fetchval("SELECT name FROM customers WHERE id = $1", neighbour["id"]) != "mine"
        assert await owner.fetchval("SELECT status FROM tickets WHERE customer_id = $1", neighbour["id"]) == "open"
    finally:
        await owner.close()


async def test_the_ticket_service_works_under_the_customer_scope(world, fresh_db_url):
    """What the portal will do: a logged-in customer opens a ticket, answers it and lists theirs, as radbill_app."""
    me = world.customers["a1"]
    pool = await create_pool(app_url(fresh_db_url), max_size=1)
    try:
        with customer_scoped(me["id"]):
            async with pool.acquire() as conn:
                scope = await portal_auth.customer_scope(conn, me["id"])
                ticket = await tickets.open_ticket(conn, scope, me["id"], "no_internet", "Down", "Since 9 am")
                await tickets.reply(conn, scope, ticket["id"], "Still down")
                mine = await tickets.customer_tickets(conn, scope)
                assert ticket["id"] in [t["id"] for t in mine] and len(mine) == 2  # with the one tenant_rows made
                assert [m["body"] for m in await tickets.thread(conn, scope, ticket["id"])] == ["Since 9 am",
                                                                                               "Still down"]
                neighbours = await conn.fetchval("SELECT id FROM tickets WHERE customer_id <> $1", me["id"])
                assert neighbours is None
    finally:
        await pool.close()
