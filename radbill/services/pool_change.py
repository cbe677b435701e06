"""A package's IP pool change reaching live sessions.

A router assigns the address when the session starts, and no router moves a session to another pool by CoA, so
the only way for online customers to get an address of the new pool is to log in again: their open sessions are
disconnected, through the same outbox path as any other disconnect (retries, timeline, per-router lanes).
"""

from __future__ import annotations

import asyncpg

from radbill.services.customers import OPEN_SESSIONS, _queue
from radbill.tenancy import Scope

# Only active customers: a suspended or disabled customer's sessions are walled (the walled-garden pool) or being
# ended already, and the package's pool does not apply to them.
_AFFECTED = """
    SELECT c.id, c.username, c.operator_id FROM customers c JOIN operators o ON o.id = c.operator_id
     WHERE c.package_id = $1 AND c.status = 'active' AND o.path <@ $2::ltree
       AND EXISTS (SELECT 1 FROM radacct r WHERE r.username = c.username AND r.acctstoptime IS NULL)
     ORDER BY c.id
"""


async def open_sessions_on_package(conn: asyncpg.Connection, scope: Scope, package_id: int) -> int:
    """How many open sessions a pool change of this package would disconnect (the confirmation says it)."""
    return await conn.fetchval(
        "SELECT count(*) FROM radacct r JOIN customers c ON c.username = r.username"
        "  JOIN operators o ON o.id = c.operator_id"
        " WHERE r.acctstoptime IS NULL AND c.package_id = $1 AND c.status = 'active' AND o.path <@ $2::ltree",
        package_id, scope.path)


async def disconnect_for_pool_change(conn: asyncpg.Connection, scope: Scope, package_id: int,
                                     new_pool: str | None) -> list[int]:
    """Queue a disconnect for every open session of the package's active customers; call it in the transaction
    that changes the pool. Returns the outbox ids (a session already queued for the same pool is not repeated)."""
    queued = []
    for customer in await conn.fetch(_AFFECTED, package_id, scope.path):
        for session in await conn.fetch(OPEN_SESSIONS, customer["username"]):
            key = f"disconnect:{session['acctuniqueid']}:pool_change:{package_id}:{new_pool or ''}"
            queued.append(await _queue(conn, customer, "disconnect", session, "pool_change", key))
    return [q for q in queued if q]
