"""The daily settlement report per gateway: count, gross, fees (per payment, half up), refunds done, net, per local
day; CSV and XLSX with formula-like text neutralised; another branch's gateways never appear."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import asyncpg
from openpyxl import load_workbook

from tests import factories as f

QUERY = "/settlement?from=2026-03-01&to=2026-03-31"


async def credited(conn, gateway, customer, amount: int, at: datetime, n: int):
    """A paid intent and its payment, as settlement writes them."""
    payment = await f.insert(conn, "payments", {
        "customer_id": customer["id"], "operator_id": customer["operator_id"], "amount_minor": amount,
        "currency": "BDT", "method": "gateway", "txn_id": f"TX{gateway['id']}-{n}", "gateway_id": gateway["id"],
        "received_at": at})
    return await f.insert(conn, "payment_intents", {
        "reference": f"ref-{gateway['id']}-{n}-0123456789", "operator_id": customer["operator_id"],
        "customer_id": customer["id"], "gateway_id": gateway["id"], "amount_minor": amount, "currency": "BDT",
        "status": "paid", "payment_id": payment["id"], "gateway_txn_id": f"TX{gateway['id']}-{n}",
        "expires_at": at, "settled_at": at}), payment


async def seed(url: str, tree) -> None:
    conn = await asyncpg.connect(url)
    try:
        a1, b = tree.customers["a1"], tree.customers["b"]
        g1 = await f.insert(conn, "payment_gateways", {"operator_id": tree.ops["op_a"]["id"], "kind": "bkash",
                                                       "label": "=HYPERLINK(\"x\")", "base_url": "http://127.0.0.1:9",
                                                       "fee_basis_points": 185})
        gb = await f.insert(conn, "payment_gateways", {"operator_id": tree.ops["op_b"]["id"], "kind": "bkash",
                                                       "label": "Branch B bKash", "base_url": "http://127.0.0.1:9"})
        await credited(conn, g1, a1, 50000, datetime(2026, 3, 10, 10, 0, tzinfo=UTC), 1)
        # 19:00 UTC is 01:00 the next day in Dhaka: it counts on 11 March
        intent, payment = await credited(conn, g1, a1, 33333, datetime(2026, 3, 10, 19, 0, tzinfo=UTC), 2)
        for amount, status in ((10000, "done"), (5000, "requested"), (7000, "failed")):
            await f.insert(conn, "payment_refunds", {
                "operator_id": a1["operator_id"], "intent_id": intent["id"], "payment_id": payment["id"],
                "amount_minor": amount, "reason": "customer asked", "status": status,
                "finished_at": datetime(2026, 3, 11, 5, 0, tzinfo=UTC)})
        await f.insert(conn, "payment_intents", {  # still pending: nothing credited
            "reference": "ref-pending-0123456789", "operator_id": a1["operator_id"], "customer_id": a1["id"],
            "gateway_id": g1["id"], "amount_minor": 99900, "currency": "BDT", "status": "pending",
            "expires_at": datetime(2026, 3, 12, tzinfo=UTC)})
        await credited(conn, gb, b, 77700, datetime(2026, 3, 10, 10, 0, tzinfo=UTC), 3)
    finally:
        await conn.close()


async def test_report_page_csv_and_xlsx(make_client, tree, fresh_db_url):
    await seed(fresh_db_url, tree)
    opa = await make_client("opa")
    page = await (await opa.get(QUERY)).text()
    assert "Branch B" not in page and "777.00" not in page and "999.00" not in page
    response = await opa.get(QUERY.replace("/settlement", "/settlement.csv"))
    lines = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert lines == [
        ["day", "gateway", "currency", "payments", "gross", "fees", "refunds", "refunded", "net"],
        ["2026-03-11", "'=HYPERLINK(\"x\")", "BDT", "1", "333.33", "6.17", "1", "100.00", "227.16"],
        ["2026-03-10", "'=HYPERLINK(\"x\")", "BDT", "1", "500.00", "9.25", "0", "0.00", "490.75"],
    ]
    assert "BDT 717.91" in page  # the total net
    xlsx = await opa.get(QUERY.replace("/settlement", "/settlement.xlsx"))
    sheet = load_workbook(io.BytesIO(await xlsx.read())).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][1] == "'=HYPERLINK(\"x\")" and float(rows[1][8]) == 227.16 and len(rows) == 3
    admin = await (await make_client("admin")).get(QUERY)
    assert "Branch B bKash" in await admin.text()


async def test_bad_dates_and_who_may_see_it(make_client, tree):
    opa = await make_client("opa")
    assert (await opa.get("/settlement?from=2026-13-01")).status == 422
    assert (await opa.get("/settlement?from=2026-03-10&to=2026-03-01")).status == 422
    assert (await opa.get("/settlement.csv?from=x")).status == 400
    sub = await make_client("suba1")
    assert (await sub.get("/settlement")).status == 403
    assert (await (await make_client("mgr_all")).get("/settlement.csv")).status == 403
