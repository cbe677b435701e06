"""Customers and the catalogue over the API: the admin's parsers and services, scoped, audited under the client."""

from __future__ import annotations

import pytest

from tests import factories as f

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def ids():
    return {}


async def _new_customer_body(api_world, username: str) -> dict:
    conn = await api_world.owner()
    try:
        op = api_world.tree.ops["op_b"]
        package_id = await conn.fetchval("SELECT id FROM packages WHERE operator_id = $1 ORDER BY id LIMIT 1", op["id"])
        profile_id = await conn.fetchval("SELECT id FROM billing_profiles WHERE operator_id = $1 ORDER BY id LIMIT 1",
                                         op["id"])
    finally:
        await conn.close()
    return {"name": "Rahim Uddin", "username": username, "mobile": "01712345678", "connection_type": "pppoe",
            "package_id": package_id, "billing_profile_id": profile_id}


async def test_create_goes_through_the_form_parser_and_is_audited_under_the_client(api_world, api_as):
    client_id, token = await api_world.make_client("op_b", name="crm")
    api = api_as(token)
    created = await api.post("/api/v1/customers", await _new_customer_body(api_world, "rahim-api"))
    assert created.status == 201, created.body
    assert created.body["username"] == "rahim-api" and created.body["mobile"] == "+8801712345678"
    conn = await api_world.owner()
    try:
        audit = await conn.fetchrow("SELECT account_id, api_client_id FROM audit_log WHERE action = 'create'"
                                    " AND object_kind = 'customer' AND object_id = $1", created.body["id"])
    finally:
        await conn.close()
    assert audit["api_client_id"] == client_id and audit["account_id"] is None
    again = await api.post("/api/v1/customers", await _new_customer_body(api_world, "rahim-api"))
    assert again.status == 422 and [e["field"] for e in again.body["errors"]] == ["username"]


@pytest.mark.parametrize("change, field", [({"mobile": "12"}, "mobile"), ({"name": ""}, "name"),
                                           ({"connection_type": "static"}, "static_ip"),
                                           ({"custom_price": "lots"}, "custom_price"),
                                           ({"name": 5}, "name"), ({"colour": "red"}, "colour"),
                                           ({"package_id": 10**30}, "package_id")])
async def test_invalid_fields_are_named_in_the_problem(api_world, api_as, change, field):
    _, token = await api_world.make_client("op_b")
    body = {**await _new_customer_body(api_world, "nobody-saved"), **change}
    reply = await api_as(token).post("/api/v1/customers", body)
    assert reply.status in (400, 422), reply.body
    assert field in [e["field"] for e in reply.body["errors"]], reply.body


@pytest.mark.parametrize("data, content_type, status", [
    ("{not json", "application/json", 400), ("[1, 2]", "application/json", 400),
    ("name=x", "application/x-www-form-urlencoded", 415), ("x" * 70_000, "application/json", 413),
    ('{"a":' * 5000 + "1" + "}" * 5000, "application/json", 400)])
async def test_unreadable_bodies_are_problems_never_500(api_world, api_as, data, content_type, status):
    _, token = await api_world.make_client("op_b")
    reply = await api_as(token).call("POST", "/api/v1/customers", data=data, headers={"Content-Type": content_type})
    assert reply.status == status, reply.body
    assert reply.body["status"] == status


async def test_a_foreign_owner_is_404_and_a_view_only_client_cannot_write(api_world, api_as):
    _, token = await api_world.make_client("op_b")
    body = {**await _new_customer_body(api_world, "misplaced"), "operator_id": api_world.tree.ops["op_a"]["id"]}
    assert (await api_as(token).post("/api/v1/customers", body)).status == 404
    _, viewer = await api_world.make_client("op_b", permissions=["customers.view"])
    assert (await api_as(viewer).post("/api/v1/customers", body)).status == 403


async def test_patch_changes_only_what_it_names(api_world, api_as):
    _, token = await api_world.make_client("op_b")
    api = api_as(token)
    customer = api_world.tree.customers["b"]
    before = (await api.get(f"/api/v1/customers/{customer['id']}")).body
    patched = await api.patch(f"/api/v1/customers/{customer['id']}", {"mobile": "01811111111"})
    assert patched.status == 200, patched.body
    assert patched.body["mobile"] == "+8801811111111"
    assert {k: v for k, v in patched.body.items() if k != "mobile"} == {k: v for k, v in before.items()
                                                                       if k != "mobile"}
    assert (await api.patch(f"/api/v1/customers/{api_world.tree.customers['a1']['id']}",
                            {"mobile": "01811111111"})).status == 404
    refused = await api.patch(f"/api/v1/customers/{customer['id']}", {"package_id": 1})
    assert refused.status == 422 and refused.body["errors"][0]["field"] == "package_id"


async def test_status_actions_use_the_admin_transitions(api_world, api_as):
    _, token = await api_world.make_client("op_b")
    api = api_as(token)
    path = f"/api/v1/customers/{api_world.tree.customers['b']['id']}/status"
    no_reason = await api.post(path, {"action": "suspend"})
    assert no_reason.status == 422 and no_reason.body["errors"][0]["field"] == "reason"
    suspended = await api.post(path, {"action": "suspend", "reason": "unpaid"})
    assert suspended.status == 200 and suspended.body["status"] == "suspended"
    assert suspended.body["status_reason"] == "unpaid"
    assert (await api.post(path, {"action": "explode"})).status == 422
    active = await api.post(path, {"action": "activate"})
    assert active.status == 200 and active.body["state"] == "active"


async def test_custom_price_in_major_units_and_cleared_with_null(api_world, api_as):
    _, token = await api_world.make_client("op_b")
    api = api_as(token)
    path = f"/api/v1/customers/{api_world.tree.customers['b']['id']}/custom-price"
    assert (await api.call("PUT", path, json_body={"custom_price": "550.50"})).body["custom_price_minor"] == 55050
    bad = await api.call("PUT", path, json_body={"custom_price": "-3"})
    assert bad.status == 422 and bad.body["errors"][0]["field"] == "custom_price"
    assert (await api.call("PUT", path, json_body={"custom_price": None})).body["custom_price_minor"] is None


async def test_package_change_preview_then_confirm_with_the_previewed_amount(api_world, api_as):
    _, token = await api_world.make_client("op_b")
    api = api_as(token)
    customer = api_world.tree.customers["b"]
    conn = await api_world.owner()
    try:
        other = await f.package(conn, api_world.tree.ops["op_b"]["id"], name="Fast 50", price_minor=150000)
    finally:
        await conn.close()
    base = f"/api/v1/customers/{customer['id']}/package-change"
    preview = await api.get(base, params={"package_id": str(other["id"])})
    assert preview.status == 200, preview.body
    assert preview.body["package_name"] == "Fast 50" and preview.body["consequences"]
    stale = await api.post(base, {"package_id": other["id"], "expected_minor": preview.body["expected_minor"] + 1})
    assert stale.status == 422 and stale.body["errors"][0]["field"] == "expected_minor"
    applied = await api.post(base, {"package_id": other["id"], "expected_minor": preview.body["expected_minor"]})
    assert applied.status == 200, applied.body
    if applied.body["applies"] == "now":
        assert applied.body["customer"]["package_id"] == other["id"]
    assert (await api.get(base)).status == 400  # package_id is required


async def test_catalogue_reads_are_scoped(api_world, api_as):
    _, token = await api_world.make_client("op_b", permissions=["customers.view"])
    api = api_as(token)
    packages = await api.get("/api/v1/packages")
    assert packages.status == 200 and packages.body["items"]
    own = packages.body["items"][0]["id"]
    assert (await api.get(f"/api/v1/packages/{own}")).status == 200
    foreign = api_world.tree.customers["a1"]["package_id"]
    assert (await api.get(f"/api/v1/packages/{foreign}")).status == 404
    profiles = await api.get("/api/v1/billing-profiles")
    assert profiles.status == 200 and profiles.body["items"]
    assert (await api.get(f"/api/v1/billing-profiles/{profiles.body['items'][0]['id']}")).status == 200
    assert (await api.get("/api/v1/billing-profiles/999999")).status == 404
    assert (await api.get("/api/v1/packages", params={"operator_id": str(api_world.tree.ops["op_a"]["id"])})
            ).status == 404


async def test_a_waiting_package_change_is_previewed_and_cancelled_over_the_api(api_world, api_as):
    _, token = await api_world.make_client("op_b")
    api = api_as(token)
    customer = api_world.tree.customers["b"]
    conn = await api_world.owner()
    try:
        other = await f.package(conn, api_world.tree.ops["op_b"]["id"], name="Fast 60", price_minor=150000)
        waiting = f"/api/v1/customers/{customer['id']}/waiting-package-change"
        assert (await api.get(waiting)).status == 422  # nothing waits yet: a sentence, not a 500
        # as change_package_billed leaves a next_period change (tests/billing/test_package_change_cancel.py)
        kept = await conn.fetchval("UPDATE customers SET next_package_id = $2, next_package_at = now() + interval"
                                   " '10 days' WHERE id = $1 RETURNING package_id", customer["id"], other["id"])
    finally:
        await conn.close()
    asked = await api.get(waiting)
    assert asked.status == 200 and asked.body["cancelled_package_name"] == "Fast 60", asked.body
    assert asked.body["package_id"] == kept and asked.body["consequences"]
    stale = await api.post(f"{waiting}/cancel", {"expected_minor": asked.body["expected_minor"] + 1})
    assert stale.status == 422 and stale.body["errors"][0]["field"] == "expected_minor"
    done = await api.post(f"{waiting}/cancel", {"expected_minor": asked.body["expected_minor"]})
    assert done.status == 200 and done.body["customer"]["package_id"] == kept, done.body
    assert (await api.get(waiting)).status == 422
