"""The API's front door: tokens, scope, permissions, allow-list, rate limit, problem documents, the document."""

from __future__ import annotations

import pytest

from tests.support.admin import PASSWORD

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_the_document_and_the_reference_page_are_generated_from_the_declarations(api_world, api_as):
    doc = api_world.document
    assert doc["openapi"] == "3.1.0"
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "An API client token (rbk_...)."}
    get = doc["paths"]["/api/v1/customers/{customer_id}"]["get"]
    assert get["x-permission"] == "customers.view" and {"401", "403", "404", "429"} <= set(get["responses"])
    listed = doc["paths"]["/api/v1/customers"]["get"]
    assert {p["name"] for p in listed["parameters"]} >= {"q", "status", "limit", "cursor", "package_id"}
    page = await api_as(None).get("/api/v1/docs")
    assert page.status == 200 and "text/html" in page.headers["Content-Type"]
    assert "GET /api/v1/customers/{customer_id}" in page.body and "problem-unauthorized" in page.body
    assert "<script" not in page.body


async def test_a_client_reads_its_own_customer_and_a_foreign_one_looks_missing(api_world, api_as):
    _, token = await api_world.make_client("op_a")
    api = api_as(token)
    own = await api.get(f"/api/v1/customers/{api_world.tree.customers['a1']['id']}")
    assert own.status == 200 and own.body["username"] == "cust-a1" and own.body["state"] == "active"
    foreign = await api.get(f"/api/v1/customers/{api_world.tree.customers['b']['id']}")
    missing = await api.get("/api/v1/customers/999999999")
    assert foreign.status == missing.status == 404
    assert foreign.body == missing.body  # nothing tells a foreign id from a missing one
    assert (await api.get("/api/v1/customers/abc")).status == 404


async def test_a_sub_operator_scoped_client_sees_only_its_subtree(api_world, api_as):
    _, token = await api_world.make_client("op_a", scope_op="sub_a1")
    api = api_as(token)
    customers = api_world.tree.customers
    assert (await api.get(f"/api/v1/customers/{customers['a1']['id']}")).status == 200
    assert (await api.get(f"/api/v1/customers/{customers['a2']['id']}")).status == 404  # a sibling's
    listed = await api.get("/api/v1/customers")
    assert [c["username"] for c in listed.body["items"]] == ["cust-a1"]


async def test_the_list_uses_the_admin_search_filters_and_cursor_pages(api_world, api_as):
    _, token = await api_world.make_client("root", permissions=["customers.view"])
    api = api_as(token)
    everyone = await api.get("/api/v1/customers")
    assert {c["username"] for c in everyone.body["items"]} == {"cust-a1", "cust-a2", "cust-b"}
    assert everyone.body["next_cursor"] is None
    seen, cursor = [], None
    while True:
        page = await api.get("/api/v1/customers", params={"limit": "1", **({"cursor": cursor} if cursor else {})})
        seen += [c["username"] for c in page.body["items"]]
        cursor = page.body["next_cursor"]
        if cursor is None:
            break
    assert seen == [c["username"] for c in everyone.body["items"]]  # every customer once, in the list's order
    found = await api.get("/api/v1/customers", params={"q": "cust-b"})
    assert [c["username"] for c in found.body["items"]] == ["cust-b"]
    suspended = await api.get("/api/v1/customers", params={"status": "suspended"})
    assert suspended.body["items"] == []


@pytest.mark.parametrize("params, field", [({"limit": "0"}, "limit"), ({"limit": "201"}, "limit"),
                                           ({"limit": "many"}, "limit"), ({"status": "sleeping"}, "status"),
                                           ({"cursor": "not-a-cursor"}, "cursor"), ({"colour": "red"}, "colour"),
                                           ({"package_id": "99999999999999999999"}, "package_id"),
                                           ({"online": "maybe"}, "online")])
async def test_bad_query_values_are_a_problem_naming_the_parameter(api_world, api_as, params, field):
    _, token = await api_world.make_client("op_a")
    reply = await api_as(token).get("/api/v1/customers", params=params)
    assert reply.status == 400, reply.body
    assert reply.headers["Content-Type"].startswith("application/problem+json")
    assert [e["field"] for e in reply.body["errors"]] == [field]


async def test_a_client_without_the_permission_gets_403(api_world, api_as):
    _, token = await api_world.make_client("op_a", permissions=["sms.send"])
    reply = await api_as(token).get(f"/api/v1/customers/{api_world.tree.customers['a1']['id']}")
    assert reply.status == 403 and "customers.view" in reply.body["detail"]


async def test_bad_missing_and_revoked_tokens_get_the_same_401(api_world, api_as):
    client_id, token = await api_world.make_client("op_a")
    path = f"/api/v1/customers/{api_world.tree.customers['a1']['id']}"
    assert (await api_as(token).get(path)).status == 200
    conn = await api_world.owner()
    try:
        await conn.execute("UPDATE api_clients SET revoked_at = now() WHERE id = $1", client_id)
    finally:
        await conn.close()
    replies = [await api_as(t).get(path) for t in (token, None, token[:-2] + "xx", "rbk_", "garbage")]
    assert {r.status for r in replies} == {401}
    assert all(r.body == replies[0].body for r in replies)  # nothing hints which part was wrong
    assert replies[0].headers["WWW-Authenticate"].startswith("Bearer")


async def test_the_admin_cookie_is_never_accepted(api_world, api_as):
    client = api_world.client
    page = await client.get("/login")
    csrf = (await page.text()).split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    origin = str(client.make_url("/")).rstrip("/")
    login = await client.post("/login", data={"username": "opa", "password": PASSWORD, "csrf_token": csrf},
                              headers={"Origin": origin}, allow_redirects=False)
    assert login.status == 303  # logged in: the cookie jar now holds the admin session
    reply = await api_as(None).get(f"/api/v1/customers/{api_world.tree.customers['a1']['id']}")
    assert reply.status == 401
    client.session.cookie_jar.clear()


async def test_the_address_allow_list(api_world, api_as):
    path = f"/api/v1/customers/{api_world.tree.customers['a1']['id']}"
    _, elsewhere = await api_world.make_client("op_a", cidrs="203.0.113.0/24")
    _, here = await api_world.make_client("op_a", cidrs="203.0.113.0/24\n127.0.0.0/8")
    refused = await api_as(elsewhere).get(path)
    assert refused.status == 403 and refused.body["type"].endswith("problem-address-not-allowed")
    assert (await api_as(here).get(path)).status == 200
    # X-Forwarded-For is only believed from a trusted proxy (none is configured here)
    spoofed = await api_as(elsewhere).get(path, headers={"X-Forwarded-For": "203.0.113.9"})
    assert spoofed.status == 403


async def test_rate_limit_answers_429_with_retry_after(api_world, api_as):
    buckets = api_world.server.app["api_buckets"]
    saved = buckets.rate, buckets.burst
    buckets.rate, buckets.burst = 1, 3
    try:
        _, token = await api_world.make_client("op_a")
        _, other = await api_world.make_client("op_a")
        path = f"/api/v1/customers/{api_world.tree.customers['a1']['id']}"
        statuses = [(await api_as(token).get(path)).status for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = await api_as(token).get(path)
        assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1
        assert (await api_as(other).get(path)).status == 200  # one client's flood slows no other
    finally:
        buckets.rate, buckets.burst = saved


async def test_last_use_is_recorded(api_world, api_as):
    client_id, token = await api_world.make_client("op_a")
    await api_as(token).get("/api/v1/customers")
    conn = await api_world.owner()
    try:
        row = await conn.fetchrow("SELECT last_used_at, host(last_used_ip) AS ip FROM api_clients WHERE id = $1",
                                  client_id)
    finally:
        await conn.close()
    assert row["last_used_at"] is not None and row["ip"] == "127.0.0.1"


async def test_unknown_operations_are_problems_too(api_world, api_as):
    _, token = await api_world.make_client("op_a")
    assert (await api_as(token).get("/api/v1/nothing-here")).status == 404
    assert (await api_as(None).get("/api/v1/nothing-here")).status == 401
    wrong_method = await api_as(token).call("DELETE", "/api/v1/customers")
    assert wrong_method.status == 405


async def test_only_reads_of_one_object_by_id_let_postgres_cache_their_plans():
    """admin.api.registry.ApiRoute.generic_plans: a by-id read plans the same for every scope; a list or search
    (sized by the scope) and every write keep the admin's per-call planning."""
    from admin.api.registry import API_REGISTRY

    generic = {(r.method, r.path) for r in API_REGISTRY if r.generic_plans}
    assert {("GET", "/customers/{customer_id}"), ("GET", "/bills/{bill_id}"), ("GET", "/payments/{payment_id}")} <= generic
    assert not {("GET", "/customers"), ("GET", "/bills"), ("GET", "/customers/{customer_id}/sessions")} & generic
    assert all(method == "GET" for method, _path in generic)


async def test_an_address_that_keeps_failing_authentication_is_slowed(api_world, api_as):
    """admin.api.guard's failed-authentication bucket per source address: after the burst, 429 with Retry-After
    before any lookup, whatever the token; other addresses' buckets are their own."""
    failures = api_world.server.app["api_failed_auth"]
    saved = failures.rate, failures.burst, dict(failures._state)
    failures.rate, failures.burst = 0.01, 3
    failures._state.clear()
    try:
        _, token = await api_world.make_client("op_a")
        path = f"/api/v1/customers/{api_world.tree.customers['a1']['id']}"
        assert (await api_as(token).get(path)).status == 200  # success spends nothing
        statuses = [(await api_as(t).get(path)).status for t in (token[:-2] + "xx", None, "rbk_x_y")]
        assert statuses == [401, 401, 401]
        slowed = await api_as(token).get(path)
        assert slowed.status == 429 and int(slowed.headers["Retry-After"]) >= 1
        assert failures.wait("198.51.100.7") == 0
    finally:
        failures.rate, failures.burst = saved[0], saved[1]
        failures._state.clear()
        failures._state.update(saved[2])
