"""Customer Payments (filters in the operator's time zone, totals, CSV/XLSX with formula neutralisation) and the
printable receipt and invoice with their PDFs."""

import csv
import io
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from radbill.services import payments, reports
from radbill.tenancy import Scope
from tests.support.db import connect

PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                    "0000000d49444154789c6360f8cf000000030101009a5a2f7a0000000049454e44ae426082")


@pytest.mark.parametrize(("value", "expected"), [
    ("=1+1", "'=1+1"), ("+880", "'+880"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=x", "'\t=x"),
    ("Rahim", "Rahim"), ("", ""), (None, None), (12, 12),
])
def test_neutralise(value, expected):
    assert reports.neutralise(value) == expected


async def _pay(url, tree, name, amount, at, method="cash", note=None, by="opa"):
    customer = tree.customers[name]
    async with connect(url) as conn:
        op = await conn.fetchrow("SELECT id, path::text AS path FROM operators WHERE id = $1", customer["operator_id"])
        scope = Scope(tree.accounts[by]["id"], op["id"], op["path"], "operator")
        pay = payments.add_advance_payment if method == "advance" else payments.record_cash_payment
        return (await pay(conn, scope, customer["id"], amount, note=note, now=at)).payment


async def test_history_filters_by_local_day_method_customer_and_collector(make_client, tree, fresh_db_url):
    # 20:00 UTC on 9 March is 02:00 on 10 March in Dhaka (UTC+6)
    late = await _pay(fresh_db_url, tree, "a1", 10000, datetime(2024, 3, 9, 20, 0, tzinfo=UTC))
    await _pay(fresh_db_url, tree, "a2", 25050, datetime(2024, 3, 9, 10, 0, tzinfo=UTC), method="advance",
               by="suba2")
    await _pay(fresh_db_url, tree, "b", 99900, datetime(2024, 3, 10, 10, 0, tzinfo=UTC))
    c = await make_client("opa")
    page = await (await c.get("/payments?from=2024-03-10&to=2024-03-10")).text()
    assert "cust-a1" in page and "cust-a2" not in page and "cust-b" not in page
    assert f"/payments/{late['id']}/receipt" in page
    page = await (await c.get("/payments?from=2024-03-09&to=2024-03-09")).text()
    assert "cust-a2" in page and "cust-a1" not in page
    page = await (await c.get("/payments")).text()
    assert "BDT 350.50" in page and "BDT 100.00" in page and "BDT 250.50" in page  # total, cash, advance
    assert "cust-b" not in page and "BDT 999.00" not in page
    assert "cust-a1" not in await (await c.get("/payments?method=advance")).text()
    assert "cust-a2" not in await (await c.get("/payments?q=cust-a1")).text()
    collector = tree.accounts["suba2"]["id"]
    page = await (await c.get(f"/payments?collected_by={collector}")).text()
    assert "cust-a2" in page and "cust-a1" not in page
    assert (await c.get("/payments?from=10/03/2024")).status == 400
    sub = await make_client("suba1")
    page = await (await sub.get("/payments")).text()
    assert "cust-a1" in page and "cust-a2" not in page


async def test_csv_and_xlsx_exports_neutralise_formulas(make_client, tree, fresh_db_url):
    async with connect(fresh_db_url) as conn:
        await conn.execute("UPDATE customers SET name = $2 WHERE id = $1", tree.customers["a1"]["id"],
                           '=HYPERLINK("http://evil.example","x")')
    await _pay(fresh_db_url, tree, "a1", 12345, datetime(2024, 3, 9, 20, 0, tzinfo=UTC), note="@SUM(A1:A9)")
    await _pay(fresh_db_url, tree, "a2", 500, datetime(2024, 3, 9, 21, 0, tzinfo=UTC), note="-1+2")
    c = await make_client("opa")

    response = await c.get("/payments.csv?from=2024-03-10")
    assert response.status == 200 and response.content_type == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    by_user = {r["username"]: r for r in rows}
    assert set(by_user) == {"cust-a1", "cust-a2"}
    assert by_user["cust-a1"]["customer_name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert by_user["cust-a1"]["note"] == "'@SUM(A1:A9)" and by_user["cust-a2"]["note"] == "'-1+2"
    assert by_user["cust-a1"]["amount"] == "123.45" and by_user["cust-a1"]["received_at"] == "2024-03-10 02:00:00"

    response = await c.get("/payments.xlsx?from=2024-03-10")
    assert response.status == 200
    sheet = load_workbook(io.BytesIO(await response.read())).active
    header = [cell.value for cell in sheet[1]]
    cells = {row[header.index("username")].value: row for row in sheet.iter_rows(min_row=2)}
    name = cells["cust-a1"][header.index("customer_name")]
    assert name.value.startswith("'=") and name.data_type == "s"
    assert cells["cust-a1"][header.index("note")].value == "'@SUM(A1:A9)"
    assert float(cells["cust-a1"][header.index("amount")].value) == 123.45
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", f"formula in {cell.coordinate}"


async def test_receipt_and_invoice_carry_the_customers_isp_and_print_css(make_client, tree, bills, fresh_db_url):
    async with connect(fresh_db_url) as conn:
        await conn.execute("UPDATE operators SET business_name = 'A1 Net', address = '12 Lake Road, Dhaka',"
                           " phone = '+8801711000000', logo = $2, logo_content_type = 'image/png' WHERE id = $1",
                           tree.ops["sub_a1"]["id"], PNG)
        await conn.execute("UPDATE operators SET business_name = 'Operator A Broadband' WHERE id = $1",
                           tree.ops["op_a"]["id"])
    payment = await _pay(fresh_db_url, tree, "a1", 50000, datetime.now(UTC))
    c = await make_client("opa")
    receipt = await (await c.get(f"/payments/{payment['id']}/receipt")).text()
    for text in ("A1 Net", "12 Lake Road, Dhaka", "+8801711000000", f"/isp/logo/{tree.ops['sub_a1']['id']}",
                 "/billing/print.css", "BDT 500.00", f"#{bills['a1']['id']}", "Customer A1"):
        assert text in receipt, text
    assert (await c.get(f"/isp/logo/{tree.ops['sub_a1']['id']}")).status == 200
    css = await c.get("/billing/print.css")
    assert css.content_type == "text/css" and "@media print" in await css.text()

    invoice = await (await c.get(f"/bills/{bills['a2']['id']}/invoice")).text()
    assert "Operator A Broadband" in invoice and "A1 Net" not in invoice  # a2's sub has none: its parent's
    assert "Outstanding" in invoice and "BDT 500.00" in invoice

    for url in (f"/payments/{payment['id']}/receipt.pdf", f"/bills/{bills['a1']['id']}/invoice.pdf"):
        response = await c.get(url)
        body = await response.read()
        assert response.status == 200 and response.content_type == "application/pdf" and body.startswith(b"%PDF")
        assert len(body) > 1000
