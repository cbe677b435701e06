"""Bills & Payments read side: scoped bill and payment lists, their exports, receipt and invoice data, reseller
balances. Nothing here writes; every query takes the caller's Scope (a foreign id is NotFound, like a missing one).

Exports are opened by spreadsheet programs: every text cell goes through `radbill.spreadsheet.neutralise`.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from radbill.billing.money import exponent
from radbill.billing.periods import local_midnight_utc
from radbill.errors import NotFound, ValidationError
from radbill.i18n import _
from radbill.services.customers import get_customer
from radbill.services.filters import ScopedWhere, subtree_operator_ids
from radbill.spreadsheet import neutralise
from radbill.tenancy import Scope
from radbill.validate import optional_id

METHODS = ("cash", "advance", "bank", "mobile_wallet", "gateway")
BILL_STATUSES = ("unpaid", "partial", "paid", "void")
LIST_LIMIT = 500


def _day(text: str | None, label: str) -> date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        message = (_("Write the from date as YYYY-MM-DD.") if label == "from"
                   else _("Write the to date as YYYY-MM-DD."))
        raise ValidationError(message, {label: _("not a date")}) from None


# ---- bills ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BillFilters:
    status: str | None = None
    period: str | None = None  # YYYY-MM: bills whose period starts in that month
    customer: str = ""

    @classmethod
    def from_query(cls, query) -> BillFilters:
        status = query.get("status") or None
        period = (query.get("period") or "").strip() or None
        if period is not None:
            try:
                date.fromisoformat(period + "-01")
            except ValueError:
                raise ValidationError(_("Write the period as YYYY-MM, e.g. 2024-03."), {"period": _("not a month")}) from None
        return cls(status if status in BILL_STATUSES else None, period, (query.get("q") or "").strip())


_BILLS_SQL = """
SELECT b.id, b.customer_id, b.period_start, b.period_end, b.currency, b.amount_minor, b.vat_minor, b.total_minor,
       b.paid_minor, CASE WHEN b.status = 'void' THEN 0 ELSE b.total_minor - b.paid_minor END AS outstanding_minor,
       b.status, b.void_reason, b.due_at, b.issued_at,
       c.username, c.name AS customer_name, o.name AS operator_name
  FROM bills b JOIN customers c ON c.id = b.customer_id JOIN operators o ON o.id = c.operator_id
 WHERE {where}
"""
_BILL_TOTALS_SQL = """
SELECT currency, count(*) AS bills, sum(total_minor) AS total_minor, sum(paid_minor) AS paid_minor,
       sum(outstanding_minor) AS outstanding_minor
  FROM ({query}) x GROUP BY currency ORDER BY currency
"""


def _bill_where(scope: Scope, filters: BillFilters, operator_ids: list[int]) -> ScopedWhere:
    where = ScopedWhere(scope, "c.operator_id", operator_ids)
    if filters.status:
        where.add(f"b.status = {where.arg(filters.status)}")
    if filters.period:
        start = date.fromisoformat(filters.period + "-01")
        end = (start + timedelta(days=32)).replace(day=1)
        where.add(f"b.period_start >= {where.arg(start)} AND b.period_start < {where.arg(end)}")
    where.customer(filters.customer)
    return where


@dataclass(frozen=True)
class Listing:
    """One scoped list (bills or payments): its query, its filters' WHERE, its totals and its order, newest
    first by `order_column` with the id as tie-break (so a keyset page boundary stays put while rows are added).
    The admin page, the payments export and the API's pages and one-row lookups (billing_pages) all ask it."""

    query: str
    totals_query: str
    where_of: Callable[[Scope, Any, list[int]], ScopedWhere]
    alias: str  # the listed table's alias in `query`
    order_column: str
    order_type: str  # its SQL type, for a keyset bound

    async def where(self, conn: asyncpg.Connection, scope: Scope, filters) -> ScopedWhere:
        return self.where_of(scope, filters, await subtree_operator_ids(conn, scope))

    def select(self, where: ScopedWhere, limit: int | None = None) -> str:
        sql = self.query.format(where=where.sql) + \
            f" ORDER BY {self.alias}.{self.order_column} DESC, {self.alias}.id DESC"
        return sql if limit is None else sql + f" LIMIT {int(limit)}"

    async def listed(self, conn: asyncpg.Connection, scope: Scope, filters, limit: int) -> tuple[list, list]:
        """(the newest `limit` matching rows; the totals over every matching row)."""
        where = await self.where(conn, scope, filters)
        rows = await conn.fetch(self.select(where, limit), *where.args)
        totals = await conn.fetch(self.totals_query.format(query=self.query.format(where=where.sql)), *where.args)
        return list(rows), list(totals)


BILLS = Listing(_BILLS_SQL, _BILL_TOTALS_SQL, _bill_where, "b", "period_start", "date")


async def bill_list(conn: asyncpg.Connection, scope: Scope, filters: BillFilters) -> tuple[list, list]:
    """(bills newest period first, at most LIST_LIMIT; totals per currency over every matching bill)."""
    return await BILLS.listed(conn, scope, filters, LIST_LIMIT)


async def customers_for_generation(conn: asyncpg.Connection, scope: Scope, customer: str = "",
                                   operator_id: int | None = None) -> list[int] | None:
    """The customer ids a manual bill run is limited to; None: every customer in scope (no filter given)."""
    if not customer.strip() and operator_id is None:
        return None
    where = ScopedWhere(scope, "o.path")
    where.customer(customer)
    if operator_id is not None:
        where.add(f"o.path <@ (SELECT path FROM operators WHERE id = {where.arg(operator_id)})")  # noqa: S608
    query = f"SELECT c.id FROM customers c JOIN operators o ON o.id = c.operator_id WHERE {where.sql} ORDER BY c.id"  # noqa: S608
    return [r["id"] for r in await conn.fetch(query, *where.args)]


async def operators_in_scope(conn: asyncpg.Connection, scope: Scope) -> list[asyncpg.Record]:
    """The caller's operator and those below it (filter choices)."""
    return await conn.fetch("SELECT id, name, kind FROM operators WHERE path <@ $1::ltree ORDER BY path", scope.path)


async def preview_names(conn: asyncpg.Connection, scope: Scope, customer_ids: list[int]) -> dict[int, asyncpg.Record]:
    """Username and name of the customers a bill preview lists, keyed by id."""
    rows = await conn.fetch(
        "SELECT c.id, c.username, c.name FROM customers c JOIN operators o ON o.id = c.operator_id"
        " WHERE c.id = ANY($2::bigint[]) AND o.path <@ $1::ltree", scope.path, customer_ids)
    return {r["id"]: r for r in rows}


# ---- payments ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PaymentFilters:
    """Dates are local calendar days in `timezone`, both ends included."""

    date_from: date | None = None
    date_to: date | None = None
    method: str | None = None
    customer: str = ""
    collected_by: int | None = None
    timezone: str = "Asia/Dhaka"

    @classmethod
    def from_query(cls, query, timezone: str) -> PaymentFilters:
        start, end = _day(query.get("from"), "from"), _day(query.get("to"), "to")
        if start and end and end < start:
            raise ValidationError(_("The 'to' date is before the 'from' date."), {"to": _("before from")})
        method = query.get("method") or None
        collector = (query.get("collected_by") or "").strip()
        return cls(start, end, method if method in METHODS else None, (query.get("q") or "").strip(),
                   optional_id(collector), timezone)


_PAYMENTS_SQL = """
SELECT p.id, p.received_at, p.amount_minor, p.reversed_minor, p.currency, p.method, p.bill_id, p.note, p.txn_id,
       c.id AS customer_id, c.username, c.name AS customer_name, o.name AS operator_name,
       a.username AS collector
  FROM payments p JOIN customers c ON c.id = p.customer_id JOIN operators o ON o.id = c.operator_id
  LEFT JOIN accounts a ON a.id = p.collected_by
 WHERE {where}
"""
_PAYMENT_TOTALS_SQL = """
SELECT currency, method, count(*) AS payments, sum(amount_minor) AS amount_minor,
       sum(reversed_minor) AS reversed_minor
  FROM ({query}) x GROUP BY GROUPING SETS ((currency, method), (currency)) ORDER BY currency, method NULLS LAST
"""


def _payment_where(scope: Scope, f: PaymentFilters, operator_ids: list[int]) -> ScopedWhere:
    # the scope as operator ids, not `o.path <@`: under row-level security the planner cannot estimate ltree's
    # operator and the group admin's list took 4 s at 100k customers (bench/reports.py; see subtree_operator_ids)
    where = ScopedWhere(scope, "c.operator_id", operator_ids)
    if f.date_from:
        where.add(f"p.received_at >= {where.arg(local_midnight_utc(f.date_from, f.timezone))}")
    if f.date_to:
        where.add(f"p.received_at < {where.arg(local_midnight_utc(f.date_to + timedelta(days=1), f.timezone))}")
    if f.method:
        where.add(f"p.method = {where.arg(f.method)}")
    if f.collected_by is not None:
        where.add(f"p.collected_by = {where.arg(f.collected_by)}")
    where.customer(f.customer)
    return where


PAYMENTS = Listing(_PAYMENTS_SQL, _PAYMENT_TOTALS_SQL, _payment_where, "p", "received_at", "timestamptz")


async def payment_history(conn: asyncpg.Connection, scope: Scope, filters: PaymentFilters,
                          limit: int = LIST_LIMIT) -> tuple[list, list]:
    """(payments newest first, at most `limit`; totals per currency and method over every matching payment)."""
    return await PAYMENTS.listed(conn, scope, filters, limit)


async def collectors(conn: asyncpg.Connection, scope: Scope) -> list[asyncpg.Record]:
    """Logins in the caller's subtree (the 'collected by' filter)."""
    return await conn.fetch(
        "SELECT a.id, a.username, a.full_name FROM accounts a JOIN operators o ON o.id = a.operator_id"
        " WHERE o.path <@ $1::ltree ORDER BY a.username", scope.path)


EXPORT_COLUMNS = ("payment_id", "received_at", "customer_id", "username", "customer_name", "operator", "method",
                  "amount", "currency", "bill_id", "collected_by", "note")


def _amount(minor: int, currency: str) -> Decimal:
    digits = exponent(currency)
    return Decimal(minor).scaleb(-digits).quantize(Decimal(1).scaleb(-digits))


def export_rows(rows, timezone: str) -> list[list]:
    """One list per payment in EXPORT_COLUMNS order, every text cell neutralised."""
    zone = ZoneInfo(timezone)
    out = []
    for r in rows:
        received: datetime = r["received_at"].astimezone(zone)
        out.append([r["id"], received.strftime("%Y-%m-%d %H:%M:%S"), r["customer_id"], neutralise(r["username"]),
                    neutralise(r["customer_name"]), neutralise(r["operator_name"]), r["method"],
                    _amount(r["amount_minor"], r["currency"]), r["currency"], r["bill_id"],
                    neutralise(r["collector"]), neutralise(r["note"])])
    return out


EXPORT_BATCH = 2000  # rows per chunk of a streamed CSV (the cursor's prefetch too)


async def _payment_batches(conn: asyncpg.Connection, scope: Scope, filters: PaymentFilters,
                           limit: int | None) -> AsyncIterator[list[list]]:
    """The matching payments, newest first, as export rows EXPORT_BATCH at a time from a server-side cursor: the
    one read behind both downloads, so memory stays flat however many payments match."""
    where = await PAYMENTS.where(conn, scope, filters)
    query = PAYMENTS.select(where, limit)
    batch = []
    async with conn.transaction(readonly=True):  # a cursor lives in a transaction
        async for row in conn.cursor(query, *where.args, prefetch=EXPORT_BATCH):
            batch.append(row)
            if len(batch) == EXPORT_BATCH:
                yield export_rows(batch, filters.timezone)
                batch = []
    if batch:
        yield export_rows(batch, filters.timezone)


async def payments_csv_chunks(conn: asyncpg.Connection, scope: Scope, filters: PaymentFilters,
                              limit: int | None = None) -> AsyncIterator[bytes]:
    """The payment history as CSV (UTF-8 with a BOM, so spreadsheet programs read Bengali names right), streamed
    (it read them all into a list before, capped at 100,000; bench/admin_scale.py measures it)."""
    yield "\ufeff".encode() + _csv_text([list(EXPORT_COLUMNS)])
    async for lines in _payment_batches(conn, scope, filters, limit):
        yield _csv_text(lines)


def _csv_text(lines) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for line in lines:
        writer.writerow(["" if v is None else str(v) for v in line])
    return buffer.getvalue().encode()


XLSX_SHEET_ROWS = 1_048_575  # a sheet's rows in Excel, less the header: past it the rows go on in the next sheet


class _PaymentsBook:
    """A write-only workbook (rows go to a temporary file as they come, not into memory): amounts are numbers with
    two decimals, text cells are never formulas (export_rows neutralised them; a str cell is also typed text)."""

    def __init__(self):
        from openpyxl import Workbook

        self.book = Workbook(write_only=True)
        self.sheet, self.rows, self.sheets = None, XLSX_SHEET_ROWS, 0

    def append(self, lines: list[list]) -> None:
        from openpyxl.cell import WriteOnlyCell

        amount = EXPORT_COLUMNS.index("amount")
        for line in lines:
            if self.rows == XLSX_SHEET_ROWS:
                self.sheets += 1
                self.sheet = self.book.create_sheet("Payments" if self.sheets == 1 else f"Payments {self.sheets}")
                self.sheet.append(list(EXPORT_COLUMNS))
                self.rows = 0
            row = []
            for i, value in enumerate(line):
                if i == amount or isinstance(value, str):
                    value = WriteOnlyCell(self.sheet, value=value)
                    if i == amount:
                        value.number_format = "#,##0.00"
                    else:
                        value.data_type = "s"  # openpyxl would take a str starting with '=' for a formula
                row.append(value)
            self.sheet.append(row)
            self.rows += 1

    def save(self, path) -> None:
        if self.sheet is None:  # no payment matched: the header alone
            self.sheet = self.book.create_sheet("Payments")
            self.sheet.append(list(EXPORT_COLUMNS))
        self.book.save(path)


async def payments_xlsx_file(conn: asyncpg.Connection, scope: Scope, filters: PaymentFilters, path,
                             limit: int | None = None) -> int:
    """Every matching payment (how many: returned) into an XLSX at `path`, streamed from the cursor (memory stays flat; it built the
    whole sheet in memory before, capped at 100,000 rows). openpyxl's work runs in a thread, batch by batch, so
    a million rows never hold up the admin's other requests."""
    book, rows = _PaymentsBook(), 0
    async for lines in _payment_batches(conn, scope, filters, limit):
        await asyncio.to_thread(book.append, lines)
        rows += len(lines)
    await asyncio.to_thread(book.save, path)
    return rows


# ---- receipts and invoices -----------------------------------------------------------------------------

_ISP_SQL = """
SELECT o.id, o.name, o.business_name, o.address, o.phone, o.email, o.logo IS NOT NULL AS has_logo
  FROM radbill_line($1) l JOIN operators o ON o.id = l.operator_id
 ORDER BY (o.business_name IS NULL), l.distance
 LIMIT 1
"""


async def isp_for(conn: asyncpg.Connection, operator_id: int) -> asyncpg.Record:
    """The ISP information printed for a customer of `operator_id`: its own, else its nearest ancestor's."""
    return await conn.fetchrow(_ISP_SQL, operator_id)


async def isp_logo(conn: asyncpg.Connection, operator_id: int) -> tuple[bytes, str] | None:
    row = await conn.fetchrow("SELECT logo, logo_content_type FROM operators WHERE id = $1 AND logo IS NOT NULL",
                              operator_id)
    return (bytes(row["logo"]), row["logo_content_type"]) if row else None





async def customer_billing(conn: asyncpg.Connection, scope: Scope, customer_id: int) -> dict:
    """A customer in scope with its open bills (oldest first): what the collect form offers."""
    customer = await get_customer(conn, scope, customer_id)
    bills = await conn.fetch(
        "SELECT id, period_start, period_end, total_minor, paid_minor, total_minor - paid_minor AS outstanding_minor,"
        "       status, due_at, currency FROM bills WHERE customer_id = $1 AND status IN ('unpaid', 'partial')"
        " ORDER BY period_start, id", customer_id)
    return {"customer": customer, "open_bills": list(bills)}


async def receipt(conn: asyncpg.Connection, scope: Scope, payment_id: int) -> dict:
    """A payment in scope, what it paid (per bill) and kept as advance, the customer and the ISP information."""
    payment = await conn.fetchrow(
        "SELECT p.*, a.username AS collector, a.full_name AS collector_name FROM payments p"
        "  JOIN customers c ON c.id = p.customer_id JOIN operators o ON o.id = c.operator_id"
        "  LEFT JOIN accounts a ON a.id = p.collected_by"
        " WHERE p.id = $1 AND o.path <@ $2::ltree", payment_id, scope.path)
    if payment is None:
        raise NotFound(f"Payment {payment_id} was not found.")
    customer = await get_customer(conn, scope, payment["customer_id"])
    lines = await conn.fetch(
        "SELECT b.id AS bill_id, b.period_start, b.period_end - 1 AS period_last, b.total_minor, b.paid_minor, b.status,"
        "       -e.amount_minor AS applied_minor"
        "  FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id JOIN bills b ON b.id = e.bill_id"
        " WHERE e.payment_id = $1 AND a.kind = 'customer_receivable' AND e.kind <> 'payment_reversal'"
        " ORDER BY b.period_start, b.id", payment_id)
    advance = await conn.fetchval(
        "SELECT coalesce(-sum(e.amount_minor), 0)::bigint FROM ledger_entries e"  # sum(bigint) is numeric
        "  JOIN ledger_accounts a ON a.id = e.account_id WHERE e.payment_id = $1 AND a.kind = 'customer_advance'"
        "   AND e.kind <> 'payment_reversal'", payment_id)
    # what the payment did when received, then what was taken back since (corrections.reverse_payment)
    reversals = await conn.fetch("SELECT r.*, a.username AS by_username FROM payment_reversals r"
                                 "  LEFT JOIN accounts a ON a.id = r.created_by WHERE r.payment_id = $1 ORDER BY r.id",
                                 payment_id)
    return {"payment": payment, "customer": customer, "lines": list(lines), "advance_minor": advance,
            "reversals": list(reversals), "isp": await isp_for(conn, customer["operator_id"])}


async def invoice(conn: asyncpg.Connection, scope: Scope, bill_id: int) -> dict:
    """A bill in scope with its customer, the payments that went to it and the ISP information."""
    bill = await conn.fetchrow(
        "SELECT b.*, b.period_end - 1 AS period_last,"
        "       CASE WHEN b.status = 'void' THEN 0 ELSE b.total_minor - b.paid_minor END AS outstanding_minor,"
        "       p.name AS package_name, v.rate_basis_points AS vat_rate, v.price_includes_vat,"
        "       v.registration_number AS vat_registration"
        "  FROM bills b JOIN customers c ON c.id = b.customer_id JOIN operators o ON o.id = c.operator_id"
        "  LEFT JOIN packages p ON p.id = b.package_id LEFT JOIN vat_profiles v ON v.id = b.vat_profile_id"
        " WHERE b.id = $1 AND o.path <@ $2::ltree", bill_id, scope.path)
    if bill is None:
        raise NotFound(f"Bill {bill_id} was not found.")
    customer = await get_customer(conn, scope, bill["customer_id"])
    paid = await conn.fetch(
        "SELECT e.created_at, e.kind, e.payment_id, -e.amount_minor AS amount_minor"
        "  FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id"
        " WHERE e.bill_id = $1 AND a.kind = 'customer_receivable' AND e.kind NOT IN ('bill', 'bill_void')"
        "   AND (e.amount_minor < 0 OR e.kind = 'payment_reversal') ORDER BY e.id", bill_id)
    return {"bill": bill, "customer": customer, "paid": list(paid),
            "isp": await isp_for(conn, customer["operator_id"])}


# ---- reseller balances ---------------------------------------------------------------------------------

async def sub_operator_balances(conn: asyncpg.Connection, scope: Scope) -> list[asyncpg.Record]:
    """Every sub-operator below the caller with its balance, credit limit and what it can still spend."""
    return await conn.fetch(
        "SELECT o.id, o.name, o.business_name, o.status, o.currency, o.balance_minor, o.credit_limit_minor,"
        "       o.balance_minor::numeric + o.credit_limit_minor AS available_minor, p.name AS parent_name"
        "  FROM operators o JOIN operators p ON p.id = o.parent_id"
        " WHERE o.kind = 'sub_operator' AND o.path <@ $1::ltree AND o.id <> $2 ORDER BY p.name, o.name",
        scope.path, scope.operator_id)


async def reseller(conn: asyncpg.Connection, scope: Scope, operator_id: int) -> asyncpg.Record:
    """A sub-operator the caller may see (itself included), else NotFound."""
    row = await conn.fetchrow(
        "SELECT id, name, kind, currency, timezone, balance_minor, credit_limit_minor,"
        "       balance_minor::numeric + credit_limit_minor AS available_minor FROM operators"
        " WHERE id = $1 AND kind = 'sub_operator' AND path <@ $2::ltree", operator_id, scope.path)
    if row is None:
        raise NotFound(f"Sub-operator {operator_id} was not found.")
    return row
