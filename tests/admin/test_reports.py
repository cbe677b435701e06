"""Reports through the admin as each role sees them: scoped pages with charts, CSV/XLSX/PDF downloads of the same
rows, bad filters answered with a sentence (never a 500), a foreign operator is a 404, and the dues list's SMS
goes through the broadcast page's count-and-cost step with the same customers."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest
from openpyxl import load_workbook

from admin.views.reports import FORMATS
from radbill.services.business_reports import KINDS
from tests import factories as f


async def seed_dues(url: str, tree) -> None:
    conn = await asyncpg.connect(url)
    try:
        now = datetime.now(UTC)
        for n, (name, days) in enumerate((("a1", 40), ("a2", 100), ("b", 5))):
            c = tree.customers[name]
            await conn.execute("UPDATE customers SET mobile = $2 WHERE id = $1", c["id"], f"+8801711000{n:03d}")
            await f.insert(conn, "bills", {
                "customer_id": c["id"], "operator_id": c["operator_id"], "period_start": date(2026, 1, 1),
                "period_end": date(2026, 2, 1), "currency": "BDT", "amount_minor": 50000,
                "total_minor": 50000, "due_at": now - timedelta(days=days)})
    finally:
        await conn.close()


@pytest.mark.parametrize("login", ["opa", "suba1"])
async def test_every_report_renders_with_its_chart_for_each_role(make_client, fresh_db_url, tree, login):
    await seed_dues(fresh_db_url, tree)
    c = await make_client(login)
    for kind in KINDS:
        response = await c.get(f"/reports/{kind}")
        page = await response.text()
        assert response.status == 200, (kind, page[:500])
        assert '<svg class="chart"' in page and 'id="report-table"' in page
    dues = await (await c.get("/reports/dues")).text()
    assert "cust-a1" in dues and "cust-b" not in dues
    assert ("cust-a2" in dues) == (login != "suba1")  # a sub-operator sees only its own customers


async def test_downloads_carry_the_pages_rows(make_client, fresh_db_url, tree):
    await seed_dues(fresh_db_url, tree)
    c = await make_client("opa")
    files = {}
    for fmt in FORMATS:
        response = await c.get(f"/reports/dues.{fmt}?bucket=31-60")
        assert response.status == 200 and "attachment" in response.headers["Content-Disposition"]
        files[fmt] = await response.read()
    rows = list(csv.reader(io.StringIO(files["csv"].decode("utf-8-sig"))))
    assert [r[1] for r in rows[1:]] == ["cust-a1"] and rows[1][-1] == "500.00"
    sheet = load_workbook(io.BytesIO(files["xlsx"])).active
    assert [sheet.cell(r, 2).value for r in range(2, sheet.max_row + 1)] == ["cust-a1"]
    assert files["pdf"].startswith(b"%PDF")


async def test_bad_filters_get_a_sentence_and_a_foreign_operator_is_not_found(make_client, tree):
    c = await make_client("opa")
    response = await c.get("/reports/collections?from=2026-14")
    assert response.status == 400 and "YYYY-MM" in await response.text()
    assert (await c.get(f"/reports/collections?operator_id={tree.ops['op_b']['id']}")).status == 404
    assert (await c.get(f"/reports/dues.csv?operator_id={tree.ops['op_b']['id']}")).status == 404
    mine = await c.get(f"/reports/resellers?operator_id={tree.ops['sub_a1']['id']}")
    table = (await mine.text()).split('id="report-table"')[1]
    assert mine.status == 200 and "Reseller A1" in table and "Reseller A2" not in table


async def test_the_dues_sms_counts_exactly_the_filtered_list_before_sending(make_client, fresh_db_url, tree):
    await seed_dues(fresh_db_url, tree)
    c = await make_client("opa")
    page = await (await c.get("/reports/dues?bucket=90%2B")).text()
    assert 'href="/sms/broadcast?dues=90%2B"' in page
    form = await (await c.get("/sms/broadcast?dues=90%2B")).text()
    assert 'name="dues" value="90+"' in form and "90+ days past due" in form
    preview = await c.post("/sms/broadcast", {"body": "Please pay your bill", "dues": "90+", "action": "preview"},
                           token_from="/sms/broadcast")
    assert "<strong>1</strong> recipients" in await preview.text()  # cust-a2 only; cust-a1 is 40 days past due
    every = await c.post("/sms/broadcast", {"body": "Please pay your bill", "dues": "all", "action": "preview"},
                         token_from="/sms/broadcast")
    assert "<strong>2</strong> recipients" in await every.text()  # not cust-b: another operator's customer
    conn = await asyncpg.connect(fresh_db_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM sms_messages") == 0  # a preview sends nothing
    finally:
        await conn.close()
