"""The reports' figures against the real database: dues aged by the oldest unpaid bill, collections net of
reversals, reseller profit (retail less wholesale, both given back by a reversal), churn from the status history,
online sessions per router; each scoped to the caller's subtree; the files (CSV, XLSX, PDF) carry the same rows."""

import csv
import io
import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook

from radbill import clock, report_files
from radbill.errors import NotFound, ValidationError
from radbill.services import billing, corrections, customers, payments
from radbill.services import business_reports as br
from tests import factories as f
from tests.billing.helpers import customer, isp, local, scope_of

NOW = datetime(2024, 6, 15, 6, tzinfo=UTC)
_period = itertools.count()


def filters(**values) -> br.ReportFilters:
    return br.ReportFilters(values.pop("start", date(2024, 1, 1)), values.pop("end", date(2024, 7, 1)), **values)


async def bill(conn, c, due_days_ago: int, total=50000, paid=0, status="unpaid"):
    start = date(2020, 1, 1) + timedelta(days=31 * next(_period))
    return await f.insert(conn, "bills", {
        "customer_id": c["id"], "operator_id": c["operator_id"], "period_start": start,
        "period_end": start + timedelta(days=30), "currency": "BDT", "amount_minor": total, "total_minor": total,
        "paid_minor": paid, "status": status, "due_at": NOW - timedelta(days=due_days_ago)})


async def test_dues_are_aged_by_the_oldest_unpaid_bill_and_scoped(db):
    w = await isp(db)
    c1, c2 = await customer(db, w, name="Rahim"), await customer(db, w, name="Karim")
    own, early = await customer(db, w, owner=w.operator), await customer(db, w, owner=w.operator)
    await bill(db, c1, 10)
    await bill(db, c1, 45, paid=20000, status="partial")
    await bill(db, c2, 95)
    await bill(db, own, 30)
    await bill(db, early, -5)  # not due yet: not a due
    await bill(db, early, 200, paid=50000, status="paid")

    report = await br.build(db, scope_of(w.operator), "dues", filters(), NOW)
    got = {r["customer_id"]: (r["bucket"], r["days"], r["bills"], r["due_minor"]) for r in report.rows}
    assert got == {c1["id"]: ("31-60", 45, 2, 80000), c2["id"]: ("90+", 95, 1, 50000),
                   own["id"]: ("0-30", 30, 1, 50000)}
    assert report.charts[0].items == [("0-30", 50000), ("31-60", 80000), ("61-90", 0), ("90+", 50000)]
    assert [r["customer_id"] for r in report.rows][0] == c2["id"]  # the oldest dues first

    sub = await br.build(db, scope_of(w.sub, "sub_operator"), "dues", filters(), NOW)
    assert {r["customer_id"] for r in sub.rows} == {c1["id"], c2["id"]}
    only = await br.build(db, scope_of(w.operator), "dues", filters(bucket="90+"), NOW)
    assert [r["customer_id"] for r in only.rows] == [c2["id"]]
    assert await br.dues_customer_ids(db, scope_of(w.operator), "all", None, w.sub["id"], NOW) == [c2["id"], c1["id"]]
    with pytest.raises(NotFound):  # an operator outside the caller's subtree, like a missing one
        await br.build(db, scope_of(w.sub, "sub_operator"), "dues", filters(operator_id=w.operator["id"]), NOW)


async def test_collections_count_what_is_left_after_reversals(db):
    w = await isp(db)
    c = await customer(db, w, owner=w.operator)
    march = (await payments.record_cash_payment(db, w.system, c["id"], 50000, now=datetime(2024, 3, 5, tzinfo=UTC)))
    april = (await payments.record_cash_payment(db, w.system, c["id"], 20000, now=datetime(2024, 4, 5, tzinfo=UTC)))
    await corrections.reverse_payment(db, w.system, april.payment["id"], 5000, "miscounted", now=NOW)
    report = await br.build(db, scope_of(w.operator), "collections", filters(group="month"), NOW)
    assert [(r["label"], r["payments"], r["collected_minor"], r["reversed_minor"]) for r in report.rows] == [
        ("2024-03", 1, 50000, 0), ("2024-04", 1, 15000, 5000)]
    by_collector = await br.build(db, scope_of(w.operator), "collections", filters(group="collector"), NOW)
    assert [(r["label"], r["collected_minor"]) for r in by_collector.rows] == [
        ("No collector (paid online or by the system)", 65000)]
    april_only = await br.build(db, scope_of(w.operator), "collections",
                                filters(start=date(2024, 4, 1), end=date(2024, 5, 1), group="operator"), NOW)
    assert [(r["label"], r["collected_minor"]) for r in april_only.rows] == [(w.operator["name"], 15000)]
    assert march.payment["id"]
    other = await isp(db)
    assert (await br.build(db, scope_of(other.operator), "collections", filters(group="month"), NOW)).rows == []


async def test_reseller_profit_is_retail_less_wholesale_and_a_reversal_gives_both_back(db):
    w = await isp(db, credit_limit_minor=10**9)
    now = clock.now()  # ledger lines carry the database's time: the month of the test run
    month = now.date().replace(day=1)
    c = await customer(db, w, billing_anchor=month, expires_at=local(month))
    await billing.generate_bills(db, now, w.system, [c["id"]])
    paid = await payments.record_cash_payment(db, w.system, c["id"], 50000, now=now)
    f_month = filters(start=month, end=(month + timedelta(days=32)).replace(day=1))

    def row(report, op):
        return next(r for r in report.rows if r["operator_id"] == op["id"])
    report = await br.build(db, scope_of(w.operator), "resellers", f_month, now)
    assert (row(report, w.sub)["collected_minor"], row(report, w.sub)["wholesale_minor"],
            row(report, w.sub)["profit_minor"]) == (50000, 35000, 15000)
    assert row(report, w.operator)["profit_minor"] == 0
    await corrections.reverse_payment(db, w.system, paid.payment["id"], 50000, "bounced", now=now)
    report = await br.build(db, scope_of(w.operator), "resellers", f_month, now)
    assert (row(report, w.sub)["collected_minor"], row(report, w.sub)["wholesale_minor"],
            row(report, w.sub)["profit_minor"]) == (0, 0, 0)
    mine = await br.build(db, scope_of(w.sub, "sub_operator"), "resellers", f_month, now)
    assert [r["operator_id"] for r in mine.rows] == [w.sub["id"]]


async def test_churn_and_reactivation_compare_a_months_start_and_end(db):
    w = await isp(db)
    stays_out, comes_back, blips = [await customer(db, w) for _ in range(3)]
    scope = scope_of(w.operator)

    async def status(c, verb, at):  # the audit row customers._set_status writes, dated in the past
        await f.insert(db, "audit_log", {"operator_id": w.operator["id"], "action": f"customer.{verb}",
                                         "object_kind": "customer", "object_id": c["id"], "at": at})
    feb, mar = datetime(2024, 2, 10, tzinfo=UTC), datetime(2024, 3, 10, tzinfo=UTC)
    await status(stays_out, "suspend", feb)
    await status(comes_back, "disable", feb)
    await status(comes_back, "activate", mar)
    await status(blips, "suspend", mar)
    await status(blips, "activate", mar + timedelta(days=3))  # paid within the month: neither churned nor back
    report = await br.build(db, scope, "movement", filters(start=date(2024, 2, 1), end=date(2024, 4, 1)), NOW)
    assert [(r["month"], r["churned"], r["reactivated"]) for r in report.rows] == [("2024-02", 2, 0),
                                                                                  ("2024-03", 0, 1)]

    now = clock.now()  # the status write path's own audit rows count the same way
    await customers.suspend_customer(db, scope, stays_out["id"], "unpaid")  # out since February: not churned again
    await customers.suspend_customer(db, scope, blips["id"], "unpaid")
    month = now.date().replace(day=1)
    this = await br.build(db, scope, "movement", filters(start=month, end=(month + timedelta(days=32)).replace(day=1)),
                          now)
    assert [(r["new"], r["churned"], r["reactivated"]) for r in this.rows] == [(3, 1, 0)]


async def test_online_now_counts_open_sessions_per_router_in_scope(db):
    w = await isp(db)
    mine, theirs = await customer(db, w), await customer(db, w, owner=w.operator)
    await f.insert(db, "nas", {"nasname": "10.9.0.1", "shortname": "tower-1", "secret": "s" * 32,
                               "operator_id": w.operator["id"]})
    for n, (c, nas, stopped) in enumerate([(mine, "10.9.0.1", None), (mine, "10.9.0.1", None),
                                           (theirs, "10.9.0.1", None), (theirs, "10.9.0.2", None),
                                           (mine, "10.9.0.2", NOW)]):
        await f.insert(db, "radacct", {"acctsessionid": f"s{n}", "acctuniqueid": f"q{n}{c['id']}",
                                       "username": c["username"], "nasipaddress": nas,
                                       "acctstarttime": NOW - timedelta(hours=1), "acctstoptime": stopped})
    report = await br.build(db, scope_of(w.operator), "online", filters(), NOW)
    assert [(r["router"], r["sessions"], r["customers"]) for r in report.rows] == [("tower-1", 3, 2),
                                                                                  ("10.9.0.2", 1, 1)]
    sub = await br.build(db, scope_of(w.sub, "sub_operator"), "online", filters(), NOW)
    assert [(r["router"], r["sessions"]) for r in sub.rows] == [("tower-1", 2)]


async def test_the_files_carry_the_rows_and_never_a_formula(db):
    w = await isp(db)
    c = await customer(db, w, name="=HYPERLINK(\"http://x\")")
    await bill(db, c, 40, total=123456)
    report = await br.build(db, scope_of(w.operator), "dues", filters(), NOW)
    lines = list(csv.reader(io.StringIO(report_files.to_csv(report).decode("utf-8-sig"))))
    assert lines[0][:3] == ["customer_id", "username", "name"] and lines[0][-1] == "due"
    assert lines[1][2].startswith("'=") and lines[1][-1] == "1234.56"
    sheet = load_workbook(io.BytesIO(report_files.to_xlsx(report))).active
    assert sheet.cell(2, 3).value.startswith("'=") and float(sheet.cell(2, 10).value) == 1234.56
    assert report_files.to_pdf(report, "test").startswith(b"%PDF")


@pytest.mark.parametrize("query", [{"from": "2024-13"}, {"from": "2024-05", "to": "2024-01"},
                                   {"from": "2020-01", "to": "2024-01"}])
def test_bad_months_are_a_clear_error(query):
    with pytest.raises(ValidationError):
        br.ReportFilters.from_query(query, "Asia/Dhaka", NOW)
