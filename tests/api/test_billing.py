"""Bills and payments over real HTTP (every response validated against the OpenAPI document by `api_as`):
scope (a foreign id is 404 like a missing one), the admin's filters and cursor pages, the bill run, and the
Idempotency-Key of payments: a replay answers the same and pays nothing; simultaneous duplicates pay once.

Each test builds its own small ISP (`_isp`: an operator with two resellers and their customers, and another
operator) in the module's database, so no test sees another's bills or payments and any order, or any test
alone, passes."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from radbill.services import api_clients
from radbill.tenancy import Scope
from tests import factories as f
from tests.support.api import ALL_PERMISSIONS

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _bill(world, customer, start: date, status: str = "unpaid", total: int = 50000) -> int:
    owner = await world.owner()
    try:
        return await owner.fetchval(
            "INSERT INTO bills (customer_id, operator_id, package_id, period_start, period_end, currency,"
            " amount_minor, total_minor, due_at, status, paid_minor)"
            " VALUES ($1, $2, $3, $4::date, $4::date + 30, 'BDT', $5::bigint, $5::bigint, $6, $7::text, CASE WHEN $7::text = 'paid' THEN $5::bigint ELSE 0 END)"
            " RETURNING id", customer["id"], customer["operator_id"], customer["package_id"], start, total,
            datetime(2026, 1, 1, tzinfo=UTC), status)
    finally:
        await owner.close()


async def _scalar(world, sql: str, *args):
    owner = await world.owner()
    try:
        return await owner.fetchval(sql, *args)
    finally:
        await owner.close()


async def _assert_ledger_balanced(world):
    assert await _scalar(world, "SELECT count(*) FROM (SELECT txn_id FROM ledger_entries GROUP BY txn_id, currency"
                                " HAVING sum(amount_minor) <> 0) x") == 0


_isps = itertools.count(1)


async def _isp(world) -> SimpleNamespace:
    """op (with resellers sub1, sub2) and other, under the module's group admin; customers c1 (sub1's), c2
    (sub2's) and c_other (other's); one operator login each, for the API clients they own."""
    n = next(_isps)
    owner = await world.owner()
    try:
        root = world.tree.ops["root"]
        op = await f.operator(owner, "operator", root["id"], name=f"Billing operator {n}")
        other = await f.operator(owner, "operator", root["id"], name=f"Other operator {n}")
        subs = [await f.operator(owner, "sub_operator", op["id"], name=f"Reseller {n}.{i}") for i in (1, 2)]
        logins = {}
        for who in (op, other):
            logins[who["id"]] = await f.insert(owner, "accounts", {
                "operator_id": who["id"], "role": "operator", "username": f"billing{n}-{who['id']}",
                "password_hash": world.tree.accounts["opa"]["password_hash"], "must_change_password": False})
        customers = {}
        for name, seller, parent in (("c1", subs[0], op), ("c2", subs[1], op), ("c_other", other, other)):
            pkg = await f.package(owner, parent["id"])
            profile = await f.billing_profile(owner, parent["id"])
            customers[name] = await f.customer(owner, seller["id"], pkg["id"], profile["id"],
                                               username=f"billing{n}-{name}")
    finally:
        await owner.close()
    return SimpleNamespace(op=op, other=other, sub1=subs[0], sub2=subs[1], logins=logins, customers=customers)


async def _token(world, isp, operator, permissions=None, scope_op=None) -> str:
    """An API client owned by `operator` (acting on `scope_op`'s subtree), made by its login."""
    scope = Scope(isp.logins[operator["id"]]["id"], operator["id"], operator["path"], "operator")
    form = {"name": "erp", "permissions": list(ALL_PERMISSIONS if permissions is None else permissions),
            "allowed_cidrs": "", "scope_operator_id": str(scope_op["id"]) if scope_op else ""}
    owner = await world.owner()
    try:
        _row, token = await api_clients.create_client(owner, scope, form, None)
    finally:
        await owner.close()
    return token


async def test_bills_list_get_filters_pages_and_foreign_ids(api_world, api_as):
    isp = await _isp(api_world)
    c1, c2 = isp.customers["c1"], isp.customers["c2"]
    ids = {"a1_old": await _bill(api_world, c1, date(2025, 11, 1), "paid"),
           "a1_new": await _bill(api_world, c1, date(2025, 12, 1)),
           "a2": await _bill(api_world, c2, date(2025, 12, 1)),
           "b": await _bill(api_world, isp.customers["c_other"], date(2025, 12, 1))}
    api = api_as(await _token(api_world, isp, isp.op, permissions=["billing.collect"]))
    listed = await api.get("/api/v1/bills")
    assert listed.status == 200
    assert {b["id"] for b in listed.body["items"]} == {ids["a1_old"], ids["a1_new"], ids["a2"]}
    only = await api.get("/api/v1/bills", params={"customer_id": str(c1["id"]),
                                                  "status": "unpaid"})
    assert [b["id"] for b in only.body["items"]] == [ids["a1_new"]]
    assert only.body["items"][0]["outstanding_minor"] == 50000
    month = await api.get("/api/v1/bills", params={"period": "2025-11"})
    assert [b["id"] for b in month.body["items"]] == [ids["a1_old"]]
    seen, cursor = [], None
    while True:
        page = await api.get("/api/v1/bills", params={"limit": "1", **({"cursor": cursor} if cursor else {})})
        seen += [b["id"] for b in page.body["items"]]
        cursor = page.body["next_cursor"]
        if cursor is None:
            break
    assert seen == [b["id"] for b in listed.body["items"]] and len(seen) == 3
    assert (await api.get(f"/api/v1/bills/{ids['a1_new']}")).body["status"] == "unpaid"
    foreign, missing = await api.get(f"/api/v1/bills/{ids['b']}"), await api.get("/api/v1/bills/999999999")
    assert foreign.status == missing.status == 404 and foreign.body == missing.body
    bad = await api.get("/api/v1/bills", params={"period": "December"})
    assert bad.status == 422 and bad.body["errors"][0]["field"] == "period"
    assert (await api.get("/api/v1/payments")).status == 403  # reports.view, as the admin's payment list


async def test_a_payment_with_a_key_is_recorded_once_and_replayed(api_world, api_as):
    isp = await _isp(api_world)
    await _bill(api_world, isp.customers["c1"], date(2025, 11, 1), "paid")
    unpaid = await _bill(api_world, isp.customers["c1"], date(2025, 12, 1))
    api = api_as(await _token(api_world, isp, isp.op, permissions=["billing.collect", "reports.view"]))
    a1 = isp.customers["c1"]["id"]
    key = str(uuid.uuid4())
    body = {"amount": "500", "note": "paid at the counter"}
    first = await api.post(f"/api/v1/customers/{a1}/payments", body, headers={"Idempotency-Key": key})
    assert first.status == 201, first.body
    assert first.body["bills_paid"] == [unpaid] and first.body["payment"]["amount_minor"] == 50000
    assert "Idempotent-Replayed" not in first.headers
    again = await api.post(f"/api/v1/customers/{a1}/payments", body, headers={"Idempotency-Key": key})
    assert (again.status, again.body) == (201, first.body)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await _scalar(api_world, "SELECT count(*) FROM payments WHERE customer_id = $1", a1) == 1
    other = await api.post(f"/api/v1/customers/{a1}/payments", {"amount": "600"}, headers={"Idempotency-Key": key})
    assert other.status == 422 and other.body["errors"][0]["field"] == "Idempotency-Key"
    missing = await api.post(f"/api/v1/customers/{a1}/payments", body)
    assert missing.status == 422 and missing.body["errors"][0]["field"] == "Idempotency-Key"
    assert await _scalar(api_world, "SELECT count(*) FROM payments WHERE customer_id = $1", a1) == 1
    await _assert_ledger_balanced(api_world)
    payment_id = first.body["payment"]["id"]
    assert (await api.get(f"/api/v1/payments/{payment_id}")).body == first.body["payment"]
    listed = await api.get("/api/v1/payments", params={"customer_id": str(a1)})
    assert [p["id"] for p in listed.body["items"]] == [payment_id]


async def test_simultaneous_duplicates_make_one_payment(api_world, api_as):
    isp = await _isp(api_world)
    api = api_as(await _token(api_world, isp, isp.op, permissions=["billing.collect"]))
    a2 = isp.customers["c2"]["id"]
    key, body = str(uuid.uuid4()), {"amount": "120.50", "kind": "advance"}
    replies = await asyncio.gather(*(api.post(f"/api/v1/customers/{a2}/payments", body,
                                              headers={"Idempotency-Key": key}) for _ in range(4)))
    assert {r.status for r in replies} == {201}
    assert len({r.body["payment"]["id"] for r in replies}) == 1
    assert sorted(r.headers.get("Idempotent-Replayed", "") for r in replies) == ["", "true", "true", "true"]
    assert await _scalar(api_world, "SELECT count(*) FROM payments WHERE customer_id = $1", a2) == 1
    assert await _scalar(api_world, "SELECT amount_minor FROM payments WHERE customer_id = $1", a2) == 12050
    await _assert_ledger_balanced(api_world)


async def test_payments_out_of_scope_or_malformed_pay_nothing(api_world, api_as):
    isp = await _isp(api_world)
    a1 = isp.customers["c1"]["id"]
    operator_api = api_as(await _token(api_world, isp, isp.op))
    paid = await operator_api.post(f"/api/v1/customers/{a1}/payments", {"amount": "100", "kind": "advance"},
                                   headers={"Idempotency-Key": str(uuid.uuid4())})
    assert paid.status == 201, paid.body
    payment_id = paid.body["payment"]["id"]
    api = api_as(await _token(api_world, isp, isp.op, permissions=["billing.collect", "reports.view"],
                              scope_op=isp.sub1))
    before = await _scalar(api_world, "SELECT count(*) FROM payments")
    for name in ("c2", "c_other"):  # a sibling's customer and another operator's
        reply = await api.post(f"/api/v1/customers/{isp.customers[name]['id']}/payments",
                               {"amount": "100"}, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert reply.status == 404
    for body, field in (({"amount": "lots"}, "amount"), ({"amount": "1", "kind": "gift"}, "kind"),
                        ({"amount": 5, "extra": 1}, "extra"), ({}, "amount")):
        reply = await api.post(f"/api/v1/customers/{a1}/payments", body, headers={"Idempotency-Key": "k-" + field})
        assert reply.status == 422 and reply.body["errors"][0]["field"] == field, reply.body
    assert await _scalar(api_world, "SELECT count(*) FROM payments") == before
    assert (await api.get(f"/api/v1/payments/{payment_id}")).status == 200  # c1 is sub1's
    owner_b = await api_as(await _token(api_world, isp, isp.other)).get(f"/api/v1/payments/{payment_id}")
    assert owner_b.status == 404


async def test_the_bill_run_previews_then_creates_once(api_world, api_as):
    isp = await _isp(api_world)
    api = api_as(await _token(api_world, isp, isp.op, permissions=["billing.manage"]))
    preview = await api.get("/api/v1/bill-runs/preview")
    assert preview.status == 200 and preview.body["count"] == len(preview.body["items"]) > 0
    assert {i["customer_id"] for i in preview.body["items"]} == {isp.customers["c1"]["id"], isp.customers["c2"]["id"]}
    # the other operator's customer is not this operator's to bill
    created = await api.post("/api/v1/bill-runs", {})
    assert created.status == 200 and created.body["created"] == preview.body["count"]
    assert (await api.post("/api/v1/bill-runs", {})).body["created"] == 0
    assert (await api.get("/api/v1/bill-runs/preview")).body == {"count": 0, "items": []}
    await _assert_ledger_balanced(api_world)
    no_permission = api_as(await _token(api_world, isp, isp.op, permissions=["billing.collect"]))
    assert (await no_permission.post("/api/v1/bill-runs", {})).status == 403
