"""The API clients page: the token is shown once and works; scope and permissions are the creator's at most;
revoking asks first and stops the token at once; sub-operators are sent to their parent."""

from __future__ import annotations

import re

import asyncpg

_TOKEN = re.compile(r"rbk_[a-z0-9]{10}_[A-Za-z0-9_-]+")


async def _create(c, tree, **form):
    data = {"name": "billing website", "permissions": "customers.view", "allowed_cidrs": "",
            "scope_operator_id": str(tree.ops["op_a"]["id"]), **form}
    return await c.post("/api-clients", data, token_from="/api-clients")


async def test_the_token_is_shown_once_works_and_is_stored_only_hashed(make_client, tree, fresh_db_url):
    c = await make_client("opa")
    created = await _create(c, tree)
    page = await created.text()
    assert created.status == 200, page
    token = _TOKEN.search(page).group(0)
    api = await c.client.get(f"/api/v1/customers/{tree.customers['a1']['id']}",
                             headers={"Authorization": f"Bearer {token}"})
    assert api.status == 200 and (await api.json())["username"] == "cust-a1"
    listing = await (await c.get("/api-clients")).text()
    assert "billing website" in listing and token not in listing and token.split("_")[1] in listing
    conn = await asyncpg.connect(fresh_db_url)
    try:
        row = await conn.fetchrow("SELECT * FROM api_clients")
        audit = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'api_client.create'")
    finally:
        await conn.close()
    assert all(token not in str(v) for v in dict(row).values())
    assert audit == 1


async def test_scope_and_permissions_are_at_most_the_creators(make_client, tree):
    c = await make_client("opa")
    foreign = await _create(c, tree, scope_operator_id=str(tree.ops["op_b"]["id"]))
    assert foreign.status == 422 and "one of your sub-operators" in await foreign.text()
    made_up = await _create(c, tree, permissions="everything")
    assert made_up.status == 422 and "permissions your own login has" in await made_up.text()
    bad_cidr = await _create(c, tree, allowed_cidrs="10.0.0.0/33")
    assert bad_cidr.status == 422 and "is not an address or network" in await bad_cidr.text()
    sub = await _create(c, tree, scope_operator_id=str(tree.ops["sub_a1"]["id"]))
    token = _TOKEN.search(await sub.text()).group(0)
    parent_customer = await c.client.get(f"/api/v1/customers/{tree.customers['a2']['id']}",
                                         headers={"Authorization": f"Bearer {token}"})
    assert parent_customer.status == 404


async def test_revoking_asks_first_then_stops_the_token(make_client, tree):
    c = await make_client("opa")
    token = _TOKEN.search(await (await _create(c, tree)).text()).group(0)
    listing = await (await c.get("/api-clients")).text()
    client_id = re.search(r'/api-clients/(\d+)/revoke', listing).group(1)
    asked = await c.post(f"/api-clients/{client_id}/revoke", {}, token_from="/api-clients")
    assert asked.status == 200 and "Yes, revoke" in await asked.text()
    path = f"/api/v1/customers/{tree.customers['a1']['id']}"
    assert (await c.client.get(path, headers={"Authorization": f"Bearer {token}"})).status == 200
    done = await c.post(f"/api-clients/{client_id}/revoke", {"confirm": "yes"}, token_from="/api-clients")
    assert done.status == 303
    assert (await c.client.get(path, headers={"Authorization": f"Bearer {token}"})).status == 401
    other = await make_client("opb")
    assert (await other.post(f"/api-clients/{client_id}/revoke", {"confirm": "yes"},
                             token_from="/api-clients")).status == 404


async def test_sub_operators_and_managers_cannot_manage_clients(make_client):
    sub = await make_client("suba1")
    response = await sub.get("/api-clients")
    assert response.status == 403 and "Ask your parent operator" in await response.text()
    manager = await make_client("mgr_all")
    assert (await manager.get("/api-clients")).status == 403
