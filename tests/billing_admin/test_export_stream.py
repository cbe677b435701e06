"""The payment CSV and XLSX stream from a server-side cursor in chunks: every matching payment, newest first, no cap
(both read at most 100,000 rows into a list before and dropped the rest without a word)."""

import csv
import io
from datetime import UTC, datetime, timedelta

from openpyxl import load_workbook

from radbill.services import reports
from tests.billing_admin.test_reports import _pay


async def test_payment_csv_streams_every_payment_in_chunks_with_the_usual_headers(make_client, tree, fresh_db_url,
                                                                                  monkeypatch):
    start = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
    for n in range(7):
        await _pay(fresh_db_url, tree, "a1" if n % 2 else "a2", 1000 + n, start + timedelta(hours=n))
    monkeypatch.setattr(reports, "EXPORT_BATCH", 3)  # 7 rows: chunks of 3, 3 and 1
    c = await make_client("opa")

    response = await c.get("/payments.csv?from=2024-03-01")
    assert response.status == 200 and response.content_type == "text/csv"
    assert response.headers["X-Content-Type-Options"] == "nosniff" and response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="payments-')
    body = (await response.read()).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["amount"] for r in rows] == [f"{(1000 + n) / 100:.2f}" for n in reversed(range(7))]
    assert {r["username"] for r in rows} == {"cust-a1", "cust-a2"}
    assert body.count("payment_id") == 1

    assert (await c.get("/payments.csv?from=10/03/2024")).status == 400  # a bad filter is refused before streaming


async def test_payment_xlsx_holds_every_payment_going_on_in_a_new_sheet_when_one_is_full(make_client, tree,
                                                                                        fresh_db_url, monkeypatch):
    start = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
    for n in range(7):
        await _pay(fresh_db_url, tree, "a1" if n % 2 else "a2", 1000 + n, start + timedelta(hours=n))
    monkeypatch.setattr(reports, "EXPORT_BATCH", 3)
    monkeypatch.setattr(reports, "XLSX_SHEET_ROWS", 4)  # Excel's 1,048,575, made small: 7 rows = 4 + 3
    c = await make_client("opa")

    response = await c.get("/payments.xlsx?from=2024-03-01")
    assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="payments-')
    book = load_workbook(io.BytesIO(await response.read()))
    assert book.sheetnames == ["Payments", "Payments 2"]
    amounts = []
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0] == reports.EXPORT_COLUMNS
        amounts += [float(r[reports.EXPORT_COLUMNS.index("amount")]) for r in rows[1:]]
    assert amounts == [(1000 + n) / 100 for n in reversed(range(7))]
    assert book["Payments"]["H2"].number_format == "#,##0.00"

    empty = load_workbook(io.BytesIO(await (await c.get("/payments.xlsx?from=2030-01-01")).read()))
    assert [list(s.iter_rows(values_only=True)) for s in empty.worksheets] == [[reports.EXPORT_COLUMNS]]
    assert (await c.get("/payments.xlsx?from=10/03/2024")).status == 400
