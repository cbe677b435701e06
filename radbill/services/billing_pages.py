"""Bills and payments one keyset page at a time (the API's lists), and one of each by id: the admin lists' own
queries and filters (radbill.services.reports), ordered newest first with the id as tie-break so a page boundary
stays put while rows are added. A foreign id is NotFound, like a missing one."""

from __future__ import annotations

from datetime import date, datetime

import asyncpg

from radbill.errors import NotFound
from radbill.i18n import _
from radbill.services import reports
from radbill.services.filters import subtree_operator_ids
from radbill.tenancy import Scope

MAX_PAGE = 200


def _page(rows, limit: int, key) -> tuple[list, tuple | None]:
    page = list(rows[:limit])
    return page, (key(page[-1]) if len(rows) > limit else None)


async def bills_page(conn: asyncpg.Connection, scope: Scope, filters: reports.BillFilters, *,
                     customer_id: int | None = None, after: tuple[date, int] | None = None,
                     limit: int = 50) -> tuple[list[asyncpg.Record], tuple[date, int] | None]:
    """Bills in scope matching the admin's bill filters (and `customer_id`), newest period first; (rows, the
    keyset (period_start, id) of the next page or None)."""
    limit = max(1, min(limit, MAX_PAGE))
    where = reports._bill_where(scope, filters, await subtree_operator_ids(conn, scope))
    if customer_id is not None:
        where.add(f"b.customer_id = {where.arg(customer_id)}")
    if after is not None:
        where.add(f"(b.period_start, b.id) < ({where.arg(after[0])}::date, {where.arg(after[1])})")
    sql = reports._BILLS_SQL.format(where=where.sql) + f" ORDER BY b.period_start DESC, b.id DESC LIMIT {limit + 1}"
    return _page(await conn.fetch(sql, *where.args), limit, lambda r: (r["period_start"], r["id"]))


async def get_bill(conn: asyncpg.Connection, scope: Scope, bill_id: int) -> asyncpg.Record:
    where = reports._bill_where(scope, reports.BillFilters(), await subtree_operator_ids(conn, scope))
    where.add(f"b.id = {where.arg(bill_id)}")
    row = await conn.fetchrow(reports._BILLS_SQL.format(where=where.sql), *where.args)
    if row is None:
        raise NotFound(_("Bill %(id)s was not found.", id=bill_id))
    return row


async def payments_page(conn: asyncpg.Connection, scope: Scope, filters: reports.PaymentFilters, *,
                        customer_id: int | None = None, after: tuple[datetime, int] | None = None,
                        limit: int = 50) -> tuple[list[asyncpg.Record], tuple[datetime, int] | None]:
    """Payments in scope matching the admin's payment filters (and `customer_id`), newest first; (rows, the
    keyset (received_at, id) of the next page or None)."""
    limit = max(1, min(limit, MAX_PAGE))
    where = reports._payment_where(scope, filters, await subtree_operator_ids(conn, scope))
    if customer_id is not None:
        where.add(f"p.customer_id = {where.arg(customer_id)}")
    if after is not None:
        where.add(f"(p.received_at, p.id) < ({where.arg(after[0])}::timestamptz, {where.arg(after[1])})")
    sql = reports._PAYMENTS_SQL.format(where=where.sql) + f" ORDER BY p.received_at DESC, p.id DESC LIMIT {limit + 1}"
    return _page(await conn.fetch(sql, *where.args), limit, lambda r: (r["received_at"], r["id"]))


async def get_payment(conn: asyncpg.Connection, scope: Scope, payment_id: int) -> asyncpg.Record:
    where = reports._payment_where(scope, reports.PaymentFilters(), await subtree_operator_ids(conn, scope))
    where.add(f"p.id = {where.arg(payment_id)}")
    row = await conn.fetchrow(reports._PAYMENTS_SQL.format(where=where.sql), *where.args)
    if row is None:
        raise NotFound(_("Payment %(id)s was not found.", id=payment_id))
    return row
