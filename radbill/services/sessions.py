"""RADIUS sessions from radacct for the API: open and recent, of one customer or of the caller's subtree.

Newest start first, paged by keyset on (acctstarttime, radacctid): a page boundary stays put while sessions
open and close (an offset would skip or repeat rows). radacct has no owner column: the scope is the customers'
(username joins), so a session of a foreign customer is never listed and a foreign customer id is NotFound."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import asyncpg

from radbill.errors import NotFound
from radbill.i18n import _
from radbill.services.filters import ScopedWhere, subtree_operator_ids
from radbill.tenancy import Scope

State = Literal["open", "closed"]
STATES: tuple[State, ...] = ("open", "closed")
MAX_PAGE = 200

# the fold (radbill_fold_accounting) gives every row a start time, so the keyset never meets a NULL
SESSIONS_SQL = """
    SELECT r.radacctid AS id, c.id AS customer_id, r.username, r.acctsessionid AS session_id,
           host(r.nasipaddress) AS nas_ip, host(r.framedipaddress) AS ip, r.callingstationid AS mac,
           r.acctstarttime AS started_at, r.acctupdatetime AS updated_at, r.acctstoptime AS stopped_at,
           coalesce(r.acctsessiontime, 0) AS seconds, coalesce(r.acctinputoctets, 0) AS input_octets,
           coalesce(r.acctoutputoctets, 0) AS output_octets, r.acctterminatecause AS terminate_cause
      FROM radacct r JOIN customers c ON c.username = r.username
     WHERE {where}
     ORDER BY r.acctstarttime DESC, r.radacctid DESC
     LIMIT {limit}
"""


async def list_sessions(conn: asyncpg.Connection, scope: Scope, *, customer_id: int | None = None,
                        state: State | None = None, before: tuple[datetime, int] | None = None,
                        limit: int = 50) -> tuple[list[asyncpg.Record], tuple[datetime, int] | None]:
    """One page of sessions in scope (of `customer_id` when given: NotFound if it is not the scope's), newest
    first, starting after the keyset `before`; returns (rows, the keyset of the next page or None)."""
    limit = max(1, min(limit, MAX_PAGE))
    where = ScopedWhere(scope, "c.operator_id", await subtree_operator_ids(conn, scope))
    if customer_id is not None:
        username = await conn.fetchval("SELECT username FROM customers WHERE id = $1 AND operator_id = ANY ($2)",
                                       customer_id, where.args[0])
        if username is None:
            raise NotFound(_("Customer %(id)s was not found.", id=customer_id))
        # by username as well, so radacct's (username, acctstarttime) index serves one customer's history
        where.add(f"r.username = {where.arg(username)}")
    if state == "open":
        where.add("r.acctstoptime IS NULL")
    elif state == "closed":
        where.add("r.acctstoptime IS NOT NULL")
    if before is not None:
        where.add(f"(r.acctstarttime, r.radacctid) < ({where.arg(before[0])}::timestamptz, {where.arg(before[1])})")
    rows = await conn.fetch(SESSIONS_SQL.format(where=where.sql, limit=limit + 1), *where.args)  # noqa: S608
    page = list(rows[:limit])
    more = len(rows) > limit
    return page, ((page[-1]["started_at"], page[-1]["id"]) if more else None)
