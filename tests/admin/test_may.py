"""One place for each permission rule: `may()` (menus, action links and buttons) answers exactly what the access
middleware enforces, for every route and every role (test_may_matrix.py), and no menu entry leads to a refusal."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import make_mocked_request

from admin.app import create_app
from admin.routing import REGISTRY, may, route_for
from radbill.passwords import hash_password
from radbill.tenancy import Scope
from tests import factories as f
from tests.support.admin import PASSWORD

PARAM = re.compile(r"\{(\w+)(?::[^{}]*)?\}")
MISSING_ID = "999999"  # the middleware refuses before the handler looks anything up; an allowed caller gets 404


def concrete(path: str) -> str:
    return PARAM.sub(MISSING_ID, path)


async def test_route_for_resolves_like_the_router(admin_config):
    """may() finds a path's route itself (templates have no request for it): the same route aiohttp dispatches to."""
    app = create_app(admin_config)
    for r in REGISTRY:
        for path in {concrete(r.path), PARAM.sub("7", r.path)}:
            dispatched = await app.router.resolve(make_mocked_request(r.method, path, app=app))
            assert route_for(r.method, path).handler is dispatched.handler, f"{r.method} {path}"
    assert route_for("GET", "/customers/new").name == "customer_new"  # not /customers/{customer_id:\d+}
    assert route_for("GET", "/customers?status=expired").path == "/customers"
    with pytest.raises(LookupError):
        route_for("GET", "/no-such-page")


def test_may_follows_the_declared_roles_and_the_manager_permission():
    manager = Scope(1, 1, "1", "manager", frozenset({"customers.view"}))
    assert may(manager, "/customers") and not may(manager, "/customers/new")
    assert not may(Scope(1, 1, "1", "sub_operator"), "/routers")
    assert may(Scope(1, 1, "1", "operator"), "/routers") and not may(Scope(1, 1, "1", "operator"), "/balance")
    assert not may(None, "/") and may(None, "/login")


async def test_a_receipt_link_shows_only_to_who_may_open_receipts(make_client, fresh_db_url, tree):
    """A manager who may see payment reports but not collect gets the list without Receipt links (403s)."""
    import asyncpg

    conn = await asyncpg.connect(fresh_db_url)
    try:
        customer = tree.customers["a1"]
        await f.insert(conn, "payments", {"customer_id": customer["id"], "operator_id": customer["operator_id"],
                                          "amount_minor": 100, "currency": "BDT", "method": "cash"})
        await f.insert(conn, "accounts", {
            "operator_id": tree.ops["op_a"]["id"], "role": "manager", "username": "mgr_reports",
            "password_hash": hash_password(PASSWORD), "must_change_password": False,
            "permissions": ["reports.view"], "full_name": "Accountant"})
    finally:
        await conn.close()
    reports, cashier = await make_client("mgr_reports"), await make_client("opa")
    assert "/receipt" not in await (await reports.get("/payments")).text()
    assert "/receipt" in await (await cashier.get("/payments")).text()
