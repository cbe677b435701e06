"""Bills and payments one keyset page at a time (the API's lists), and one of each by id: the admin lists' own
queries, filters and order (radbill.services.reports.Listing: BILLS, PAYMENTS), newest first with the id as
tie-break so a page boundary stays put while rows are added. A foreign id is NotFound, like a missing one."""

from __future__ import annotations

from datetime import date, datetime

import asyncpg

from radbill.errors import NotFound
from radbill.i18n import _
from radbill.services import reports
from radbill.tenancy import Scope

MAX_PAGE = 200


async def _keyset_page(conn, scope: Scope, listing: reports.Listing, filters, customer_id: int | None,
                       after: tuple | None, limit: int) -> tuple[list[asyncpg.Record], tuple | None]:
    """One page of `listing` after the keyset `after` (its order column's value, id); the next page's keyset."""
    limit = max(1, min(limit, MAX_PAGE))
    where = await listing.where(conn, scope, filters)
    a = listing.alias
    if customer_id is not None:
        where.add(f"{a}.customer_id = {where.arg(customer_id)}")
    if after is not None:
        where.add(f"({a}.{listing.order_column}, {a}.id) < ({where.arg(after[0])}::{listing.order_type},"
                  f" {where.arg(after[1])})")
    rows = await conn.fetch(listing.select(where, limit + 1), *where.args)
    page = list(rows[:limit])
    return page, ((page[-1][listing.order_column], page[-1]["id"]) if len(rows) > limit else None)


async def _one(conn, scope: Scope, listing: reports.Listing, no_filters, row_id: int) -> asyncpg.Record | None:
    where = await listing.where(conn, scope, no_filters)
    where.add(f"{listing.alias}.id = {where.arg(row_id)}")
    return await conn.fetchrow(listing.query.format(where=where.sql), *where.args)


async def bills_page(conn: asyncpg.Connection, scope: Scope, filters: reports.BillFilters, *,
                     customer_id: int | None = None, after: tuple[date, int] | None = None,
                     limit: int = 50) -> tuple[list[asyncpg.Record], tuple[date, int] | None]:
    """Bills in scope matching the admin's bill filters (and `customer_id`), newest period first; (rows, the
    keyset (period_start, id) of the next page or None)."""
    return await _keyset_page(conn, scope, reports.BILLS, filters, customer_id, after, limit)


async def get_bill(conn: asyncpg.Connection, scope: Scope, bill_id: int) -> asyncpg.Record:
    row = await _one(conn, scope, reports.BILLS, reports.BillFilters(), bill_id)
    if row is None:
        raise NotFound(_("Bill %(id)s was not found.", id=bill_id))
    return row


async def payments_page(conn: asyncpg.Connection, scope: Scope, filters: reports.PaymentFilters, *,
                        customer_id: int | None = None, after: tuple[datetime, int] | None = None,
                        limit: int = 50) -> tuple[list[asyncpg.Record], tuple[datetime, int] | None]:
    """Payments in scope matching the admin's payment filters (and `customer_id`), newest first; (rows, the
    keyset (received_at, id) of the next page or None)."""
    return await _keyset_page(conn, scope, reports.PAYMENTS, filters, customer_id, after, limit)


async def get_payment(conn: asyncpg.Connection, scope: Scope, payment_id: int) -> asyncpg.Record:
    row = await _one(conn, scope, reports.PAYMENTS, reports.PaymentFilters(), payment_id)
    if row is None:
        raise NotFound(_("Payment %(id)s was not found.", id=payment_id))
    return row
