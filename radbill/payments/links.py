"""Pay links: a short, unguessable token for one bill (or an advance top-up when bill_id is None) that opens the
pay page without a login. A token is not a signed id: nothing in it can be enumerated, and a link is revoked by
its row."""

from __future__ import annotations

import secrets
from datetime import timedelta

import asyncpg

from radbill import clock

DEFAULT_TTL = timedelta(days=14)
# a link with less than this left is not handed out again: a reminder must not carry a link about to die
MIN_LEFT = timedelta(days=2)


async def create_pay_link(conn: asyncpg.Connection, customer_id: int, bill_id: int | None,
                          ttl: timedelta = DEFAULT_TTL) -> str:
    """The token of a valid link for this customer's bill (reused while it has MIN_LEFT to run), else a new one
    valid for `ttl`. The caller checks that the customer is its to link (jobs act as the system)."""
    now = clock.now()
    token = await conn.fetchval(
        "SELECT token FROM pay_links WHERE customer_id = $1 AND bill_id IS NOT DISTINCT FROM $2"
        " AND revoked_at IS NULL AND expires_at > $3 ORDER BY expires_at DESC LIMIT 1",
        customer_id, bill_id, now + min(MIN_LEFT, ttl / 2))
    if token is not None:
        return token
    token = secrets.token_urlsafe(16)  # 128 bits: not guessable, 22 characters in an SMS
    await conn.execute(
        "INSERT INTO pay_links (token, operator_id, customer_id, bill_id, expires_at)"
        " SELECT $1, c.operator_id, c.id, $3, $4 FROM customers c WHERE c.id = $2",
        token, customer_id, bill_id, now + ttl)
    return token
