"""may() against the real middleware for every route and role, and every menu link opens, for each role. These
tests only read: one world (database, ISP tree with a cashier, admin app) serves the whole module."""

from __future__ import annotations

import re

import asyncpg
import pytest
import pytest_asyncio

from admin.routing import REGISTRY, may
from radbill.passwords import hash_password
from radbill.tenancy import Scope
from tests import factories as f
from tests.admin.test_may import concrete
from tests.support.admin import PASSWORD

pytestmark = pytest.mark.asyncio(loop_scope="module")

# every role, and managers holding nothing, everything (tests/support/admin.py), and one permission
LOGINS = {"admin": "group_admin", "opa": "operator", "suba1": "sub_operator", "mgr_none": "manager",
          "mgr_all": "manager", "mgr_cash": "manager"}
PERMISSIONS = {"mgr_all": frozenset({"customers.view", "customers.edit", "billing.collect", "billing.manage",
                                     "packages.manage", "routers.manage", "sms.send", "reports.view", "audit.view"}),
               "mgr_cash": frozenset({"billing.collect"})}
MENU = re.compile(r'<nav class="sidebar">(.*?)</nav>', re.S)
HREF = re.compile(r'href="([^"]+)"')


def staff_routes():
    """Routes a signed-in caller with a full session can reach (logins and machine callbacks decide otherwise)."""
    return [r for r in REGISTRY if not r.access.public and "full" in r.access.stages]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cashier(module_tree, module_db_url):
    """A manager of op_a allowed to collect payments and nothing else."""
    conn = await asyncpg.connect(module_db_url)
    try:
        await f.insert(conn, "accounts", {
            "operator_id": module_tree.ops["op_a"]["id"], "role": "manager", "username": "mgr_cash",
            "password_hash": hash_password(PASSWORD), "must_change_password": False,
            "permissions": ["billing.collect"], "full_name": "Cashier"})
    finally:
        await conn.close()


@pytest.mark.parametrize("login", list(LOGINS))
async def test_may_agrees_with_the_middleware_for_every_route(module_client, cashier, login):
    """The real middleware's answer (403 or not) for every route, against may() for the same session's scope.
    A POST without an id in its path would run its action when allowed, so those are compared only where may()
    refuses (the middleware must refuse too); POSTs with an id get a missing id and answer 404 when allowed."""
    c = await module_client(login)
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
async def test_every_menu_and_dashboard_link_opens_for_every_role(module_client, cashier, login):
    c = await module_client(login)
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
