"""Bills and payments over real HTTP (every response validated against the OpenAPI document by `api_as`):
scope (a foreign id is 404 like a missing one), the admin's filters and cursor pages, the bill run, and the
Idempotency-Key of payments: a replay answers the same and pays nothing; simultaneous duplicates pay once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _bill(world, name: str, start: date, status: str = "unpaid", total: int = 50000) -> int:
    customer = world.tree.customers[name]
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


@pytest.fixture(scope="module")
def ids():
    return {}


async def test_bills_list_get_filters_pages_and_foreign_ids(api_world, api_as, ids):
    ids["a1_old"] = await _bill(api_world, "a1", date(2025, 11, 1), "paid")
    ids["a1_new"] = await _bill(api_world, "a1", date(2025, 12, 1))
    ids["a2"] = await _bill(api_world, "a2", date(2025, 12, 1))
    ids["b"] = await _bill(api_world, "b", date(2025, 12, 1))
    _, token = await api_world.make_client("op_a", permissions=["billing.collect"])
    api = api_as(token)
    listed = await api.get("/api/v1/bills")
    assert listed.status == 200
    assert {b["id"] for b in listed.body["items"]} == {ids["a1_old"], ids["a1_new"], ids["a2"]}
    only = await api.get("/api/v1/bills", params={"customer_id": str(api_world.tree.customers["a1"]["id"]),
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


async def test_a_payment_with_a_key_is_recorded_once_and_replayed(api_world, api_as, ids):
    _, token = await api_world.make_client("op_a", permissions=["billing.collect", "reports.view"])
    api = api_as(token)
    a1 = api_world.tree.customers["a1"]["id"]
    key = str(uuid.uuid4())
    body = {"amount": "500", "note": "paid at the counter"}
    first = await api.post(f"/api/v1/customers/{a1}/payments", body, headers={"Idempotency-Key": key})
    assert first.status == 201, first.body
    assert first.body["bills_paid"] == [ids["a1_new"]] and first.body["payment"]["amount_minor"] == 50000
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
    ids["payment"] = payment_id


async def test_simultaneous_duplicates_make_one_payment(api_world, api_as):
    _, token = await api_world.make_client("op_a", permissions=["billing.collect"])
    api = api_as(token)
    a2 = api_world.tree.customers["a2"]["id"]
    key, body = str(uuid.uuid4()), {"amount": "120.50", "kind": "advance"}
    replies = await asyncio.gather(*(api.post(f"/api/v1/customers/{a2}/payments", body,
                                              headers={"Idempotency-Key": key}) for _ in range(4)))
    assert {r.status for r in replies} == {201}
    assert len({r.body["payment"]["id"] for r in replies}) == 1
    assert sorted(r.headers.get("Idempotent-Replayed", "") for r in replies) == ["", "true", "true", "true"]
    assert await _scalar(api_world, "SELECT count(*) FROM payments WHERE customer_id = $1", a2) == 1
    assert await _scalar(api_world, "SELECT amount_minor FROM payments WHERE customer_id = $1", a2) == 12050
    await _assert_ledger_balanced(api_world)


async def test_payments_out_of_scope_or_malformed_pay_nothing(api_world, api_as, ids):
    _, token = await api_world.make_client("op_a", scope_op="sub_a1", permissions=["billing.collect",
                                                                                   "reports.view"])
    api = api_as(token)
    before = await _scalar(api_world, "SELECT count(*) FROM payments")
    for name in ("a2", "b"):  # a sibling's customer and another operator's
        reply = await api.post(f"/api/v1/customers/{api_world.tree.customers[name]['id']}/payments",
                               {"amount": "100"}, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert reply.status == 404
    a1 = api_world.tree.customers["a1"]["id"]
    for body, field in (({"amount": "lots"}, "amount"), ({"amount": "1", "kind": "gift"}, "kind"),
                        ({"amount": 5, "extra": 1}, "extra"), ({}, "amount")):
        reply = await api.post(f"/api/v1/customers/{a1}/payments", body, headers={"Idempotency-Key": "k-" + field})
        assert reply.status == 422 and reply.body["errors"][0]["field"] == field, reply.body
    assert await _scalar(api_world, "SELECT count(*) FROM payments") == before
    assert (await api.get(f"/api/v1/payments/{ids['payment']}")).status == 200  # a1 is sub_a1's
    owner_b = await api_as((await api_world.make_client("op_b"))[1]).get(f"/api/v1/payments/{ids['payment']}")
    assert owner_b.status == 404


async def test_the_bill_run_previews_then_creates_once(api_world, api_as):
    _, token = await api_world.make_client("op_a", permissions=["billing.manage"])
    api = api_as(token)
    b = api_world.tree.customers["b"]["id"]
    preview = await api.get("/api/v1/bill-runs/preview")
    assert preview.status == 200 and preview.body["count"] == len(preview.body["items"]) > 0
    assert b not in {i["customer_id"] for i in preview.body["items"]}  # op_b's customer is not op_a's to bill
    created = await api.post("/api/v1/bill-runs", {})
    assert created.status == 200 and created.body["created"] == preview.body["count"]
    assert (await api.post("/api/v1/bill-runs", {})).body["created"] == 0
    assert (await api.get("/api/v1/bill-runs/preview")).body == {"count": 0, "items": []}
    await _assert_ledger_balanced(api_world)
    no_permission = api_as((await api_world.make_client("op_a", permissions=["billing.collect"]))[1])
    assert (await no_permission.post("/api/v1/bill-runs", {})).status == 403
