"""The cheaper row-level security of sql/migrations/0021 keeps the net where 0017 put it.

0021 adds two short cuts: a scope that reaches the whole tree passes every owned row on one boolean, and the customer
search finds candidates with a SECURITY DEFINER function (radbill_customer_matches) that applies the scope itself.
Each is a place where a mistake would widen what a tenant sees, so each is pinned here.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from radbill.db.pool import SYSTEM, set_scope
from radbill.services import customer_records, dashboard
from radbill.tenancy import Scope
from tests import factories as f
from tests.db import test_rls
from tests.db.test_rls import OWNER, _connect_app
from tests.support.db import radius_url


@pytest.fixture
async def world(fresh_db_url):
    """The same three tenants as test_rls, with a system row where the owner may be NULL; a database of its own
    (these tests add tenants)."""
    return await test_rls.build_world(fresh_db_url)


def _scope(tree, name: str, role: str) -> Scope:
    return Scope(None, tree.ops[name]["id"], tree.ops[name]["path"], role)


async def test_the_whole_tree_sees_every_owned_row_and_none_of_the_systems(world, fresh_db_url):
    """The group admin of the only group reaches every operator (the short cut applies), yet the system's own rows
    (outbox and audit entries with no operator) stay the system's."""
    owner = await asyncpg.connect(fresh_db_url)
    app = await _connect_app(fresh_db_url, world.ops["root"]["path"])
    try:
        assert await app.fetchval("SELECT radbill_scope_whole()") is True
        for table, expr in OWNER.items():
            owned = await owner.fetchval(f"SELECT count(*) FROM {table} WHERE {expr} IS NOT NULL")
            assert owned, f"{table}: the test needs rows"
            assert await app.fetchval(f"SELECT count(*) FROM {table}") == owned, table
        assert await owner.fetchval("SELECT count(*) FROM outbox WHERE operator_id IS NULL") == 1
    finally:
        await owner.close()
        await app.close()


async def test_a_second_group_means_no_group_admin_is_the_whole_tree(world, fresh_db_url):
    owner = await asyncpg.connect(fresh_db_url)
    try:
        other = await f.operator(owner, "group_admin", name="Another group")
        pkg = await f.package(owner, other["id"])
        theirs = await f.customer(owner, other["id"], pkg["id"], (await f.billing_profile(owner, other["id"]))["id"],
                                  username="cust-other", name="Customer Other")
    finally:
        await owner.close()
    app = await _connect_app(fresh_db_url, world.ops["root"]["path"])
    try:
        assert await app.fetchval("SELECT radbill_scope_whole()") is False
        seen = {r["id"] for r in await app.fetch("SELECT id FROM customers")}
        assert theirs["id"] not in seen and len(seen) == 3
        assert await app.fetchval("SELECT count(*) FROM operators WHERE id = $1", other["id"]) == 0
        await app.execute("SELECT set_config('radbill.scope_path', $1, false)", SYSTEM)
        assert await app.fetchval("SELECT radbill_scope_whole()") is True
        assert theirs["id"] in {r["id"] for r in await app.fetch("SELECT id FROM customers")}
    finally:
        await app.close()


@pytest.mark.parametrize(("scope_path", "expected"), [
    ("sub_a1", {"a1"}), ("op_a", {"a1", "a2"}), ("root", {"a1", "a2", "b"}), (None, set()), ("", set())])
async def test_customer_matches_come_only_from_the_callers_scope(world, fresh_db_url, scope_path, expected):
    path = world.ops[scope_path]["path"] if scope_path in world.ops else scope_path
    app = await _connect_app(fresh_db_url, path)
    try:
        found = set(await app.fetchval("SELECT radbill_customer_matches('%Customer%')"))
    finally:
        await app.close()
    assert found == {world.customers[name]["id"] for name in expected}


async def test_only_the_app_may_call_customer_matches(world, fresh_db_url):
    conn = await asyncpg.connect(radius_url(fresh_db_url))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetchval("SELECT radbill_customer_matches('%')")
    finally:
        await conn.close()


@pytest.mark.parametrize(("scope_op", "role"), [("sub_a1", "sub_operator"), ("op_a", "operator"),
                                                ("root", "group_admin")])
async def test_search_and_dashboard_under_row_level_security_match_the_owners_view(world, fresh_db_url, scope_op,
                                                                                    role):
    """The services now filter by operator ids (for the planner's sake); as the app they must find exactly what
    the schema owner, who bypasses every policy, finds with the same scope. (The text search reads the
    connection's scope, as the policies do: the system's, for the owner.)"""
    scope = _scope(world, scope_op, role)
    owner = await asyncpg.connect(fresh_db_url)
    await set_scope(owner, SYSTEM)
    app = await _connect_app(fresh_db_url, scope.path)
    try:
        for query in ("Customer", "cust-a", "ustomer A1", "nobody"):
            mine, _ = await customer_records.search(app, scope, query=query)
            truth, _ = await customer_records.search(owner, scope, query=query)
            assert [r["id"] for r in mine] == [r["id"] for r in truth], query
        everyone, _ = await customer_records.search(app, scope, query="Customer")
        assert len(everyone) == {"sub_a1": 1, "op_a": 2, "root": 3}[scope_op]
        now = datetime.now(UTC)
        assert await dashboard.load(app, scope, now, "Asia/Dhaka") == await dashboard.load(owner, scope, now,
                                                                                            "Asia/Dhaka")
    finally:
        await owner.close()
        await app.close()
