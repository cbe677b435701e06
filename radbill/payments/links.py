"""Pay links: an unguessable, expiring, revocable token for one customer's bill (or an advance), opened with no login.

The token is random (not a signed id): it cannot be enumerated, reveals nothing, and a link names exactly one
customer, so a link cannot be reused to see another bill.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import asyncpg

from radbill import clock
from radbill.errors import NotFound, ValidationError

DEFAULT_TTL = timedelta(days=14)
# a link with less than this left is not handed out again: a reminder must not carry a link about to die
MIN_LEFT = timedelta(days=2)


async def create_pay_link(conn: asyncpg.Connection, customer_id: int, bill_id: int | None,
                          ttl: timedelta = DEFAULT_TTL, *, now: datetime | None = None) -> str:
    """The token of a valid link for this customer's bill (reused while it has MIN_LEFT to run, so every SMS about
    one bill carries one link), else a new one valid for `ttl`. The caller has already scoped the customer (jobs
    act as the system)."""
    now = now or clock.now()
    customer = await conn.fetchrow("SELECT id, operator_id FROM customers WHERE id = $1", customer_id)
    if customer is None:
        raise NotFound("customer not found")
    if bill_id is not None and not await conn.fetchval(
            "SELECT exists(SELECT 1 FROM bills WHERE id = $1 AND customer_id = $2)", bill_id, customer_id):
        raise NotFound("bill not found")
    if ttl <= timedelta(0):
        raise ValidationError("a pay link must be valid for some time", {"ttl": "not positive"})
    token = await conn.fetchval(
        "SELECT token FROM pay_links WHERE customer_id = $1 AND bill_id IS NOT DISTINCT FROM $2"
        " AND revoked_at IS NULL AND expires_at > $3 ORDER BY expires_at DESC LIMIT 1",
        customer_id, bill_id, now + min(MIN_LEFT, ttl / 2))
    if token is not None:
        return token
    token = secrets.token_urlsafe(16)  # 128 bits: not guessable, 22 characters in an SMS
    await conn.execute("INSERT INTO pay_links (token, operator_id, customer_id, bill_id, created_at, expires_at)"
                       " VALUES ($1, $2, $3, $4, $5, $6)", token, customer["operator_id"], customer_id, bill_id,
                       now, now + ttl)
    return token


def pay_url(portal_base_url: str, token: str) -> str:
    return f"{portal_base_url.rstrip('/')}/pay/{token}"


async def open_link(conn: asyncpg.Connection, token: str, now: datetime | None = None) -> asyncpg.Record | None:
    """A valid (not revoked, not expired) link with what its page may show, else None."""
    if not 16 <= len(token) <= 64:
        return None
    return await conn.fetchrow(
        "SELECT l.*, c.username, c.operator_id AS customer_operator_id, coalesce(o.business_name, o.name) AS isp_name,"
        "       o.currency"
        "  FROM pay_links l JOIN customers c ON c.id = l.customer_id JOIN operators o ON o.id = c.operator_id"
        " WHERE l.token = $1 AND l.revoked_at IS NULL AND l.expires_at > $2", token, now or clock.now())


async def amount_due(conn: asyncpg.Connection, link: asyncpg.Record) -> int:
    """What the link asks for: the bill's open amount, or (no bill) everything the customer owes on open bills."""
    if link["bill_id"] is not None:
        return await conn.fetchval("SELECT coalesce(sum(total_minor - paid_minor), 0)::bigint FROM bills WHERE id = $1"
                                   " AND status IN ('unpaid', 'partial')", link["bill_id"])
    return await open_bills_due(conn, link["customer_id"])


async def open_bills_due(conn: asyncpg.Connection, customer_id: int) -> int:
    """Everything the customer owes on open bills: what a link without a bill asks for (and what the walled
    garden's page shows before sending the customer to such a link)."""
    # ::bigint: sum() of bigint is numeric (a Decimal in Python), which the money checks refuse as not an amount
    return await conn.fetchval("SELECT coalesce(sum(total_minor - paid_minor), 0)::bigint FROM bills"
                               " WHERE customer_id = $1 AND status IN ('unpaid', 'partial')", customer_id)
