"""One place for each permission rule: `may()` (menus, action links and buttons) answers exactly what the access
middleware enforces, for every route and every role, and no menu entry leads to a refusal."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import make_mocked_request

from admin.app import create_app
from admin.routing import REGISTRY, may, route_for
from radbill.passwords import hash_password
from radbill.tenancy import Scope
from tests import factories as f
from tests.admin.conftest import PASSWORD

# every role, and managers holding nothing, everything (tests/admin/conftest.py), and one permission
LOGINS = {"admin": "group_admin", "opa": "operator", "suba1": "sub_operator", "mgr_none": "manager",
          "mgr_all": "manager", "mgr_cash": "manager"}
PERMISSIONS = {"mgr_all": frozenset({"customers.view", "customers.edit", "billing.collect", "billing.manage",
                                     "packages.manage", "routers.manage", "sms.send", "reports.view", "audit.view"}),
               "mgr_cash": frozenset({"billing.collect"})}
PARAM = re.compile(r"\{(\w+)(?::[^{}]*)?\}")
MISSING_ID = "999999"  # the middleware refuses before the handler looks anything up; an allowed caller gets 404
MENU = re.compile(r'<nav class="sidebar">(.*?)</nav>', re.S)
HREF = re.compile(r'href="([^"]+)"')


def staff_routes():
    """Routes a signed-in caller with a full session can reach (logins and machine callbacks decide otherwise)."""
    return [r for r in REGISTRY if not r.access.public and "full" in r.access.stages]


def concrete(path: str) -> str:
    return PARAM.sub(MISSING_ID, path)


@pytest.fixture
async def cashier(tree, fresh_db_url):
    """A manager of op_a allowed to collect payments and nothing else."""
    import asyncpg

    conn = await asyncpg.connect(fresh_db_url)
    try:
        await f.insert(conn, "accounts", {
            "operator_id": tree.ops["op_a"]["id"], "role": "manager", "username": "mgr_cash",
            "password_hash": hash_password(PASSWORD), "must_change_password": False,
            "permissions": ["billing.collect"], "full_name": "Cashier"})
    finally:
        await conn.close()


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


@pytest.mark.parametrize("login", list(LOGINS))
async def test_may_agrees_with_the_middleware_for_every_route(make_client, cashier, login):
    """The real middleware's answer (403 or not) for every route, against may() for the same session's scope.
    A POST without an id in its path would run its action when allowed, so those are compared only where may()
    refuses (the middleware must refuse too); POSTs with an id get a missing id and answer 404 when allowed."""
    c = await make_client(login)
    token = await c.csrf("/profile")
    scope = Scope(1, 1, "1", LOGINS[login], PERMISSIONS.get(login, frozenset()))
    disagree, compared = [], 0
    for r in staff_routes():
        path = concrete(r.path)
        allowed = may(scope, path, r.method)
        if r.method == "POST" and allowed and "{" not in r.path:
            continue
        response = await (c.get(path) if r.method == "GET" else c.post(path, {}, token=token))
        compared += 1
        if (response.status != 403) != allowed:
            disagree.append(f"{r.method} {r.path}: middleware {response.status}, may() {allowed}")
    assert compared > 60
    assert not disagree, f"{login}:\n" + "\n".join(disagree)


@pytest.mark.parametrize("login", list(LOGINS))
async def test_every_menu_and_dashboard_link_opens_for_every_role(make_client, cashier, login):
    c = await make_client(login)
    page = await (await c.get("/")).text()
    menu = HREF.findall(MENU.search(page).group(1))
    assert "/" in menu and "/profile" in menu
    refused = {}
    for link in set(HREF.findall(page)) - {"/static/admin.css"}:
        response = await c.get(link)
        if response.status != 200:
            refused[link] = response.status
    assert not refused, f"{login}'s menu or dashboard offers pages that refuse: {refused}"
    # and the menu is not merely empty: what the role may open is offered
    expected = {"admin": "/settings", "opa": "/routers", "suba1": "/balance", "mgr_all": "/audit",
                "mgr_cash": "/bills", "mgr_none": "/profile"}[login]
    assert expected in menu


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
