"""Row-level security (sql/migrations/0017): the net under the services' scope predicates.

Every tenant table gets rows of three tenants; then, connected as the app's role with one tenant's scope, a query
that forgets its predicate (`SELECT * FROM t`) must return nothing of the others.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import asyncpg
import pytest
import pytest_asyncio

from radbill.db.pool import SYSTEM, create_pool, scoped, set_scope
from tests import factories as f
from tests.support.admin import build_tree
from tests.support.db import app_url, radius_url

# table -> how a row names its owning operator (one column, or a join through its parent)
OWNER = {
    "operators": "id",
    "accounts": "operator_id", "admin_sessions": "(SELECT operator_id FROM accounts a WHERE a.id = account_id)",
    "audit_log": "operator_id", "billing_profile_assignments": "operator_id", "billing_profiles": "operator_id",
    "bills": "operator_id", "customers": "operator_id", "import_batches": "operator_id",
    "import_batch_items": "(SELECT operator_id FROM import_batches b WHERE b.id = batch_id)",
    "ledger_accounts": "operator_id",
    "ledger_entries": "(SELECT operator_id FROM ledger_accounts a WHERE a.id = account_id)",
    "nas": "operator_id", "outbox": "operator_id", "package_assignments": "operator_id", "packages": "operator_id",
    "payments": "operator_id", "sms_balance_entries": "operator_id", "sms_broadcasts": "operator_id",
    "sms_gateways": "operator_id", "sms_messages": "operator_id", "sms_settings": "operator_id",
    "sms_templates": "operator_id", "vat_profiles": "operator_id", "zones": "operator_id",
    "payment_gateways": "operator_id", "payment_intents": "operator_id", "payment_events": "operator_id",
    "payment_refunds": "operator_id", "pay_links": "operator_id",
    "operator_wallets": "operator_id", "wallet_transfers": "operator_id", "alerts": "operator_id",
    "tickets": "operator_id", "ticket_messages": "operator_id", "ticket_attachments": "operator_id",
    "portal_sessions": "operator_id", "portal_otps": "operator_id",
    "payment_reversals": "operator_id", "cash_closes": "operator_id",
    "ip_pools": "operator_id", "router_import_grants": "operator_id",
    "package_cap_tiers": "operator_id", "data_topup_packs": "operator_id", "data_topups": "operator_id",
    "api_clients": "operator_id", "api_idempotency": "operator_id",
    "whatsapp_settings": "operator_id", "whatsapp_events": "operator_id",
    "webhook_endpoints": "operator_id", "webhook_deliveries": "operator_id", "webhook_attempts": "operator_id",
    "dashboard_customer_counts": "operator_id", "dashboard_bill_counts": "operator_id",
    "dashboard_payment_sums": "operator_id", "dashboard_online": "operator_id",
}
# rows of these an operator lends down the tree (or posts to, for a reseller's wholesale side): the scope's
# ancestors' rows are visible too. Everything else is the subtree only.
LINEAGE_READ = {"operators", "packages", "billing_profiles", "zones", "vat_profiles", "sms_gateways", "sms_templates",
                "sms_settings", "ledger_accounts", "payment_gateways", "operator_wallets", "ip_pools",
                "package_cap_tiers", "data_topup_packs"}
TENANTS = ("sub_a1", "sub_a2", "op_b")

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def build_world(url: str):
    """Rows of three tenants in every tenant table, and system rows; returns the tree."""
    conn = await asyncpg.connect(url)
    try:
        tree = await build_tree(conn)
        parent_pkg = {"sub_a1": "a1", "sub_a2": "a2", "op_b": "b"}
        for name, login in (("sub_a1", "suba1"), ("sub_a2", "suba2"), ("op_b", "opb")):
            cust = tree.customers[parent_pkg[name]]
            await f.tenant_rows(conn, tree.ops[name], cust, tree.accounts[login], cust["package_id"],
                            cust["billing_profile_id"])
        # a system row (no owner) where the owner may be NULL
        await conn.execute("INSERT INTO outbox (kind, payload) VALUES ('webhook', '{}')")
        await conn.execute("INSERT INTO audit_log (action, object_kind) VALUES ('system', 'test')")
        return tree
    finally:
        await conn.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(module_db_url):
    # one world for the module: its tests only read, and what they try to write is refused or rolled back
    return await build_world(module_db_url)


async def _connect_app(url: str, scope_path: str | None) -> asyncpg.Connection:
    conn = await asyncpg.connect(app_url(url))
    if scope_path is not None:
        await set_scope(conn, scope_path)
    return conn


def _reachable(tree, table: str, scope_op: str) -> set[int]:
    """The operator ids whose rows `scope_op` may see in `table`, by the rule the policies implement."""
    me = tree.ops[scope_op]["path"]
    ids = set()
    for op in tree.ops.values():
        below = op["path"] == me or op["path"].startswith(me + ".")
        above = me == op["path"] or me.startswith(op["path"] + ".")
        if below or (table in LINEAGE_READ and above):
            ids.add(op["id"])
    return ids


async def test_every_table_with_an_operator_is_under_row_level_security(module_db_url):
    """A new table that names an operator must be registered here and given a policy (radbill_tenant_table)."""
    conn = await asyncpg.connect(module_db_url)
    try:
        tables = await conn.fetch(
            "SELECT c.relname, c.relrowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind = 'r'"
            "   AND (EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'operator_id')"
            "        OR c.relrowsecurity)")
    finally:
        await conn.close()
    names = {t["relname"] for t in tables}
    assert names == set(OWNER), f"register these in OWNER and give them a policy: {names ^ set(OWNER)}"
    assert all(t["relrowsecurity"] for t in tables), [t["relname"] for t in tables if not t["relrowsecurity"]]


@pytest.mark.parametrize("scope_op", TENANTS)
async def test_a_query_without_its_predicate_sees_nothing_foreign(world, module_db_url, scope_op):
    owner = await asyncpg.connect(module_db_url)
    app = await _connect_app(module_db_url, world.ops[scope_op]["path"])
    try:
        for table, expr in OWNER.items():
            everyone = [r["o"] for r in await owner.fetch(f"SELECT {expr} AS o FROM {table}")]
            allowed = _reachable(world, table, scope_op)
            assert set(everyone) - allowed, f"{table}: the test needs foreign rows to be meaningful"
            seen = [r["o"] for r in await app.fetch(f"SELECT {expr} AS o FROM {table}")]
            assert seen, f"{table}: the scope's own rows must stay visible"
            assert set(seen) <= allowed, f"{table}: rows of operators {set(seen) - allowed} leaked to {scope_op}"
            assert len(seen) == sum(1 for o in everyone if o in allowed), table
    finally:
        await owner.close()
        await app.close()


async def test_an_unscoped_connection_sees_no_tenant_row(world, module_db_url):
    for scope_path in (None, ""):
        app = await _connect_app(module_db_url, scope_path)
        try:
            for table in OWNER:
                assert await app.fetchval(f"SELECT count(*) FROM {table}") == 0, (table, scope_path)
        finally:
            await app.close()


async def test_a_pooled_connection_forgets_its_last_scope(world, module_db_url):
    """The pool does not re-send an empty scope on checkout (radbill.db.pool.apply_scope): the release's reset
    must leave nothing behind. One connection, used by the system scope, a customer scope and an API-style
    session setting in turn, then checked out with no scope: no tenant row."""
    pool = await create_pool(app_url(module_db_url), min_size=1, max_size=1)
    try:
        customer_id = await pool.fetchval("SELECT 1")  # warm: the one connection exists
        with scoped(SYSTEM):
            async with pool.acquire() as conn:
                assert await conn.fetchval("SELECT count(*) FROM customers") > 0
                customer_id = await conn.fetchval("SELECT min(id) FROM customers")
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM customers") == 0
        with scoped("", customer_id):
            async with pool.acquire() as conn:
                assert await conn.fetchval("SELECT count(*) FROM customers") == 1
        async with pool.acquire() as conn:  # as admin.api.guard's lookup leaves it: set_config on the checkout
            await conn.execute("SELECT set_config('radbill.scope_path', '*', false),"
                               " set_config('plan_cache_mode', 'auto', false)")
            assert await conn.fetchval("SELECT count(*) FROM customers") > 1
        async with pool.acquire() as conn:
            # the admin's per-call planning comes back too (a by-id API read may have allowed cached plans)
            assert await conn.fetchval("SHOW plan_cache_mode") == "force_custom_plan"
            for table in OWNER:
                assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    finally:
        await pool.close()


async def test_the_system_scope_sees_every_row(world, module_db_url):
    owner = await asyncpg.connect(module_db_url)
    app = await _connect_app(module_db_url, SYSTEM)
    try:
        for table in OWNER:
            assert await app.fetchval(f"SELECT count(*) FROM {table}") == await owner.fetchval(
                f"SELECT count(*) FROM {table}"), table
    finally:
        await owner.close()
        await app.close()


async def test_foreign_rows_cannot_be_written(world, module_db_url):
    """UPDATE/DELETE without a predicate touch only the scope's rows; an INSERT for another tenant is refused."""
    app = await _connect_app(module_db_url, world.ops["sub_a1"]["path"])
    try:
        async with app.transaction():
            updated = await app.execute("UPDATE customers SET name = 'mine'")
            assert updated == "UPDATE 1"
            assert await app.execute("DELETE FROM sms_templates") == "DELETE 1"
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app.execute("INSERT INTO zones (operator_id, name) VALUES ($1, 'theirs')",
                                  world.ops["op_b"]["id"])
            raise _Rollback
    except _Rollback:
        pass


class _Rollback(Exception):
    pass


@asynccontextmanager
async def rolled_back(conn: asyncpg.Connection):
    """A statement that must be refused runs in a transaction rolled back after it: were it ever allowed, it
    would fail its test without changing the world the module's other tests read."""
    tx = conn.transaction()
    await tx.start()
    try:
        yield
    finally:
        await tx.rollback()


@pytest.mark.parametrize("statement", [
    "DROP TABLE customers", "ALTER TABLE customers ADD COLUMN x int", "TRUNCATE outbox",
    "UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log",
    "UPDATE ledger_entries SET amount_minor = 1", "DELETE FROM ledger_entries",
    "DELETE FROM sms_balance_entries", "CREATE TABLE mine (id int)", "ALTER TABLE customers DISABLE ROW LEVEL SECURITY",
    "DROP POLICY tenant_read ON customers", "DROP TRIGGER audit_log_append_only ON audit_log",
])
async def test_the_app_role_cannot_change_the_schema_or_history(world, module_db_url, statement):
    app = await _connect_app(module_db_url, SYSTEM)
    try:
        async with rolled_back(app):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app.execute(statement)
    finally:
        await app.close()


@pytest.mark.parametrize("statement", [
    "SELECT count(*) FROM accounts", "SELECT count(*) FROM payments", "SELECT name FROM customers",
    "UPDATE customers SET status = 'active'", "DELETE FROM radacct", "SELECT count(*) FROM audit_log",
])
async def test_the_radius_role_has_only_what_it_uses(world, module_db_url, statement):
    conn = await asyncpg.connect(radius_url(module_db_url))
    try:
        async with rolled_back(conn):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(statement)
        # ... and sees every customer through the policy view it answers from, with no scope at all
        assert await conn.fetchval("SELECT count(*) FROM radius_policy") == 3
    finally:
        await conn.close()
