"""Every route with an id in its path, for every role, given another tenant's id: 404 (or the role's 403), and
nothing in the database changes. The routes come from the router, so a route added tomorrow is covered; a route
with a new kind of id fails here until `FOREIGN_KINDS` learns how to make one.
"""

from __future__ import annotations

import re

import asyncpg
import pytest
import pytest_asyncio

from admin.app import create_app  # noqa: F401  (registers every route)
from admin.routing import REGISTRY
from tests import factories as f
from tests.admin.test_access import ROLE_OF, expected_status

# route parameter -> what it names; each tenant below has one of each
FOREIGN_KINDS = {"account_id", "customer_id", "payment_id", "bill_id", "operator_id", "package_id", "profile_id",
                 "zone_id", "batch_id", "router_id", "gateway_id", "broadcast_id", "wallet_id", "transfer_id",
                 "payment_gateway_id", "alert_id", "ticket_id",
                 "attachment_id", "pool_id", "vat_profile_id", "pack_id", "api_client_id", "webhook_id", "delivery_id"}
# whose ids are foreign to whom: a sibling for the sub-operator, another branch for the operator and its managers,
# another group entirely for the group admin
FOREIGN_TO = {"admin": "op_z", "opa": "op_b", "mgr_none": "op_b", "mgr_all": "op_b", "suba1": "sub_a2"}
OWN = {"admin": "op_a", "opa": "op_a", "mgr_none": "op_a", "mgr_all": "op_a", "suba1": "sub_a1"}
# the ledger of denials and the sessions' last-seen times change by design
NOT_COMPARED = {"audit_log", "admin_sessions", "login_attempts", "schema_migrations"}
# fields the id routes' forms read, with values that would be accepted: the handler must refuse on the id,
# not on the form
PLAUSIBLE_FORM = {"action": "suspend", "reason": "test", "status": "disabled", "name": "x", "amount": "100",
                  "credit_limit": "100", "operator_id": "1", "wholesale_price": "1", "package_id": "1",
                  "text": "x", "subject": "x", "category": "slow", "pack_id": "1",
                  "size_gb": "1", "price": "1"}
_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")

ID_ROUTES = [r for r in REGISTRY if "{" in r.path and not r.access.public]


def params_of(path: str) -> list[str]:
    return _PARAM.findall(path)


def test_every_id_in_a_route_has_a_factory():
    unknown = {p for r in ID_ROUTES for p in params_of(r.path)} - FOREIGN_KINDS
    assert not unknown, f"teach FOREIGN_KINDS (and the ids fixture) to make a foreign {unknown}"
    assert len(ID_ROUTES) > 40  # the router is really being read


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ids(module_tree, module_db_url) -> dict[str, dict[str, int]]:
    """tenant -> route parameter -> the id of a row of that tenant's own. One world for the module: every test
    compares the database before and after each of its requests, so a write shows in the test that made it."""
    tree = module_tree
    conn = await asyncpg.connect(module_db_url)
    try:
        tree.ops["root_z"] = await f.operator(conn, "group_admin", name="Group Z")
        tree.ops["op_z"] = await f.operator(conn, "operator", tree.ops["root_z"]["id"], name="Operator Z")
        out = {}
        for name in ("op_a", "sub_a1", "sub_a2", "op_b", "op_z"):
            op = tree.ops[name]
            pkg = await f.package(conn, op["id"])
            profile = await f.billing_profile(conn, op["id"])
            customer = await f.customer(conn, op["id"], pkg["id"], profile["id"])
            account = await f.insert(conn, "accounts", {"operator_id": op["id"], "username": f"acct-{name}",
                                                        "password_hash": tree.accounts["suba2"]["password_hash"], "full_name": name,
                                                        "role": "operator" if op["kind"] != "sub_operator"
                                                        else "sub_operator"})
            # a logo, so /isp/logo/{operator_id} has something to leak
            await conn.execute("UPDATE operators SET logo = $2, logo_content_type = 'image/png' WHERE id = $1",
                               op["id"], b"\x89PNG\r\n\x1a\n")
            out[name] = {**await f.tenant_rows(conn, op, customer, account, pkg["id"], profile["id"]),
                         "account_id": account["id"], "customer_id": customer["id"], "operator_id": op["id"],
                         "package_id": pkg["id"], "profile_id": profile["id"]}
        return out
    finally:
        await conn.close()


async def fingerprint(url: str) -> dict[str, str]:
    """A digest of every table's rows, to show that a refused request changed nothing."""
    conn = await asyncpg.connect(url)
    try:
        tables = [r["relname"] for r in await conn.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1") if r["relname"] not in NOT_COMPARED]
        query = " UNION ALL ".join(
            f"SELECT '{t}', coalesce(md5(string_agg(md5(x::text), '' ORDER BY md5(x::text))), '') FROM {t} x"
            for t in tables)
        return dict(await conn.fetch(query))
    finally:
        await conn.close()


def variants(route, own: dict[str, int], foreign: dict[str, int]) -> list[str]:
    """The route's path with each id foreign in turn (the others the caller's own), and all of them foreign."""
    names = params_of(route.path)

    def fill(foreign_names: set[str]) -> str:
        values = iter([(foreign if n in foreign_names else own)[n] for n in names])
        return _PARAM.sub(lambda m: str(next(values)), route.path)

    paths = {fill({n}) for n in names} | {fill(set(names))}
    return sorted(paths)


@pytest.mark.asyncio(loop_scope="module")  # the world is the module's
@pytest.mark.parametrize("login", list(ROLE_OF))
async def test_another_tenants_id_is_404_on_every_route_and_changes_nothing(module_client, ids, module_db_url,
                                                                            login):
    c = await module_client(login)
    token = await c.csrf("/")
    own, foreign = ids[OWN[login]], ids[FOREIGN_TO[login]]
    wrong = []
    for route in ID_ROUTES:
        expected = 403 if expected_status(login, route) == 403 else 404
        for path in variants(route, own, foreign):
            if route.method == "GET":
                response = await c.get(path)
            else:
                before = await fingerprint(module_db_url)
                response = await c.post(path, PLAUSIBLE_FORM, token=token)
                after = await fingerprint(module_db_url)
                changed = [t for t in before if before[t] != after[t]]
                if changed:
                    wrong.append((route.method, path, f"changed {changed}"))
            if response.status != expected:
                wrong.append((route.method, path, f"{response.status} instead of {expected}"))
    assert not wrong, f"{login} ({ROLE_OF[login]}): {wrong}"
