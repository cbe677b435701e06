"""Customer Bills: the scoped list and its filters, the manual bill run (preview, then confirm; idempotent)."""

import pytest

from tests.support.billing import issue_bills
from tests.support.db import connect


@pytest.mark.parametrize(("login", "visible", "hidden"), [
    ("suba1", ["cust-a1"], ["cust-a2", "cust-b"]),
    ("opa", ["cust-a1", "cust-a2"], ["cust-b"]),
    ("admin", ["cust-a1", "cust-a2", "cust-b"], []),
])
async def test_the_bill_list_shows_the_callers_subtree_only(make_client, bills, login, visible, hidden):
    c = await make_client(login)
    page = await (await c.get("/bills")).text()
    for name in visible:
        assert name in page
    for name in hidden:
        assert name not in page
    assert "BDT 500.00" in page


async def test_bill_filters_status_period_and_customer(make_client, bills):
    c = await make_client("opa")
    period = bills["a1"]["period_start"].strftime("%Y-%m")
    assert "cust-a1" in await (await c.get(f"/bills?status=unpaid&period={period}")).text()
    assert "cust-a1" not in await (await c.get("/bills?status=paid")).text()
    assert "cust-a1" not in await (await c.get("/bills?period=1999-01")).text()
    page = await (await c.get("/bills?q=cust-a2")).text()
    assert "cust-a2" in page and "cust-a1" not in page
    assert (await c.get("/bills?period=March")).status == 400


async def test_preview_then_confirm_creates_each_bill_once(make_client, tree, fresh_db_url):
    async with connect(fresh_db_url) as conn:
        await conn.execute("UPDATE customers SET billing_anchor = '2000-01-01'")
    c = await make_client("opa")
    preview = await (await c.get("/bills/generate")).text()
    assert "Preview: 2 new bills" in preview and "cust-a1" in preview and "cust-b" not in preview
    one = await (await c.get("/bills/generate?q=cust-a1")).text()
    assert "Preview: 1 new bill" in one and "cust-a2" not in one
    async with connect(fresh_db_url) as conn:
        assert await conn.fetchval("SELECT count(*) FROM bills") == 0  # a preview writes nothing

    response = await c.post("/bills/generate", {"q": "cust-a1"}, token_from="/bills/generate")
    assert response.status == 303
    again = await c.post("/bills/generate", {"q": "cust-a1"}, token_from="/bills/generate")  # a double click
    assert again.status == 303
    async with connect(fresh_db_url) as conn:
        rows = await conn.fetch("SELECT c.username FROM bills b JOIN customers c ON c.id = b.customer_id")
    assert [r["username"] for r in rows] == ["cust-a1"]
    follow = await (await c.get("/bills")).text()
    assert "No new bills" in follow

    await c.post("/bills/generate", {}, token_from="/bills/generate")  # the whole subtree: only a2 is new
    async with connect(fresh_db_url) as conn:
        assert sorted(r["username"] for r in await conn.fetch(
            "SELECT c.username FROM bills b JOIN customers c ON c.id = b.customer_id")) == ["cust-a1", "cust-a2"]


async def test_a_bill_run_never_reaches_outside_the_scope(make_client, tree, fresh_db_url):
    async with connect(fresh_db_url) as conn:
        await conn.execute("UPDATE customers SET billing_anchor = '2000-01-01'")
    c = await make_client("suba1")
    # an operator id from another branch narrows nothing into a foreign subtree
    await c.post("/bills/generate", {"operator_id": str(tree.ops["op_b"]["id"])}, token_from="/bills/generate")
    await c.post("/bills/generate", {}, token_from="/bills/generate")
    async with connect(fresh_db_url) as conn:
        rows = await conn.fetch("SELECT c.username FROM bills b JOIN customers c ON c.id = b.customer_id")
    assert [r["username"] for r in rows] == ["cust-a1"]


async def test_managers_need_billing_manage_to_run_bills(make_client, tree, fresh_db_url):
    await issue_bills(fresh_db_url)
    none = await make_client("mgr_none")
    assert (await none.get("/bills")).status == 403
    assert (await none.post("/bills/generate", {}, token_from="/profile")).status == 403
    full = await make_client("mgr_all")
    assert (await full.get("/bills/generate")).status == 200
